/**
 * A household's day-ahead plan with what the CES offers (docs/ces.md §2): its own battery if it has
 * one, a **rented battery** — K kWh and r·K kW of the CES, an account that starts and ends the day
 * empty, with the CES's efficiencies — and P2P energy bought from the CES at its posted price plus
 * the household's own local grid fee, VAT on both. K is a decision at the rental price: the
 * household's demand for capacity at that price. Without `ces` it is the plain household plan (own
 * battery or none) the comparison starts from.
 *
 *   min Σ_t [c^buy g⁺ − c^sell g⁻ + p^p2p x + f^thr (a^c + a^d) + f^out a^d] + π^K K
 *       + γ_b Σ_t (c² + d²) + π^peak P̄ − w^term e_T
 *   g⁺ − g⁻ + x + a^d − a^c + d − c = μ_t,    P̄ ≥ G_t = g⁺ − g⁻ + x + a^d − a^c  (the meter)
 */
import { Builder } from '../optimizer/model.ts';
import type { BatteryParams } from '../optimizer/types.ts';
import { values, type CesSolver } from './solve.ts';

export interface OwnBattery {
  params: BatteryParams;
  initialEnergyKwh: number;
  /** γ_b on c² + d² (EUR/kW²h), as the evaluation's wear term. */
  wearEurPerKw2h: number;
  /** Value of the energy left at the day's end (EUR/kWh). */
  terminalEurPerKwh: number;
}

/** What the CES offers this household today. */
export interface CesOffer {
  rent?: {
    priceEurPerKwhDay: number;
    maxKwh: number;
    kwPerKwh: number;
    /** The CES's one-way efficiency (the account behaves like its battery). */
    efficiency: number;
    /** Per kWh into or out of the account: the CES's degradation passed on. */
    throughputFeeEurPerKwh: number;
    /** Per kWh taken out: the local grid fee for energy delivered from a peer's site. */
    withdrawalFeeEurPerKwh: number;
  };
  p2p?: {
    /** The CES's posted price of each hour (EUR/kWh): the price of the trade, before the buyer's own fee and VAT. */
    priceEurPerKwh: number[];
    /** The most one household buys in an hour (kW). */
    maxKw: number;
  };
}

/** What a buyer pays on P2P energy besides the seller's price: its local grid fee, and VAT on both. */
export interface P2pBuyerFees {
  localGridFeeEurPerKwh: number;
  vatFactor: number;
}

export interface HouseholdDayInput {
  /** μ_t: forecast load (shiftable demand served when requested) − PV (kW), hourly. */
  netLoadKw: number[];
  buyEurPerKwh: number[];
  sellEurPerKwh: number[];
  demandChargeEurPerKwDay: number;
  gridKw: number;
  battery?: OwnBattery;
  ces?: CesOffer;
  /** The household's own fees on P2P energy (its tariff's): required with a P2P offer. */
  p2pFees?: P2pBuyerFees;
}

export interface HouseholdDayPlan {
  /** Exchange with the retailer, g⁺ − g⁻ (kW). */
  retailerKw: number[];
  /** What the meter sees: retailer + P2P + account withdrawals − deposits (kW). */
  meteredKw: number[];
  chargeKw: number[];
  dischargeKw: number[];
  /** Own battery e_0..e_T (all 0 without one). */
  energyKwh: number[];
  rentedKwh: number;
  accountChargeKw: number[];
  accountDischargeKw: number[];
  /** The account a_0..a_T (kWh). */
  accountKwh: number[];
  p2pKw: number[];
  /** Paid to the CES for the day: rent and throughput fees (EUR). */
  rentalPaymentEur: number;
  /** The local grid fee on account withdrawals (EUR, to the grid operator). */
  withdrawalFeeEur: number;
  objectiveEur: number;
}

export async function planHouseholdDay(input: HouseholdDayInput, solver: CesSolver): Promise<HouseholdDayPlan> {
  const T = input.netLoadKw.length;
  for (const [name, series] of [['netLoadKw', input.netLoadKw], ['buyEurPerKwh', input.buyEurPerKwh], ['sellEurPerKwh', input.sellEurPerKwh]] as const) {
    if (series.length !== T || series.some((v) => !Number.isFinite(v))) throw new RangeError(`household day: ${name} must be ${T} finite numbers`);
  }
  const own = input.battery;
  const rent = input.ces?.rent;
  const p2p = input.ces?.p2p;
  if (p2p && p2p.priceEurPerKwh.length !== T) throw new RangeError(`household day: ces.p2p.priceEurPerKwh must have ${T} prices`);
  if (p2p && input.p2pFees === undefined) throw new RangeError('household day: a P2P offer needs the household\'s p2pFees');
  // What the household pays per kWh bought from the CES: the CES's price, its own local grid fee, VAT on both.
  const p2pBuyerEurPerKwh = p2p ? p2p.priceEurPerKwh.map((price) => (price + input.p2pFees!.localGridFeeEurPerKwh) * input.p2pFees!.vatFactor) : [];
  const zero = () => 0;
  const b = new Builder();
  const gIn = b.vars('gridImport', T, 1, 'outer', zero, () => input.gridKw);
  const gOut = b.vars('gridExport', T, 1, 'outer', zero, () => input.gridKw);
  const c = b.vars('charge', T, 1, 'outer', zero, () => own?.params.maxChargeKw ?? 0);
  const d = b.vars('discharge', T, 1, 'outer', zero, () => own?.params.maxDischargeKw ?? 0);
  const e = b.vars('energy', T + 1, 1, 'outer', (k) => (k === 0 ? own?.initialEnergyKwh ?? 0 : own?.params.minEnergyKwh ?? 0), (k) => (k === 0 ? own?.initialEnergyKwh ?? 0 : own?.params.maxEnergyKwh ?? 0));
  const K = b.vars('rented', 1, 1, 'none', zero, () => rent?.maxKwh ?? 0);
  const ac = b.vars('accountCharge', T, 1, 'outer', zero, () => (rent ? Infinity : 0));
  const ad = b.vars('accountDischarge', T, 1, 'outer', zero, () => (rent ? Infinity : 0));
  const a = b.vars('account', T + 1, 1, 'outer', zero, (k) => (rent && k > 0 && k < T ? Infinity : 0));
  const x = b.vars('p2p', T, 1, 'outer', zero, () => p2p?.maxKw ?? 0);
  const peak = b.vars('peak', 1, 1, 'none', zero, () => Infinity);

  for (let t = 0; t < T; t++) {
    b.linear(gIn.start + t, 'energy', input.buyEurPerKwh[t]!);
    b.linear(gOut.start + t, 'energy', -input.sellEurPerKwh[t]!);
    if (own) {
      b.quadratic(c.start + t, 'batteryWear', 2 * own.wearEurPerKw2h);
      b.quadratic(d.start + t, 'batteryWear', 2 * own.wearEurPerKw2h);
    }
    if (rent) {
      b.linear(ac.start + t, 'p2p', rent.throughputFeeEurPerKwh);
      b.linear(ad.start + t, 'p2p', rent.throughputFeeEurPerKwh + rent.withdrawalFeeEurPerKwh);
    }
    if (p2p) b.linear(x.start + t, 'p2p', p2pBuyerEurPerKwh[t]!);
  }
  if (own) b.linear(e.start + T, 'terminalValue', -own.terminalEurPerKwh);
  if (rent) b.linear(K.start, 'p2p', rent.priceEurPerKwhDay);
  b.linear(peak.start, 'demandCharge', input.demandChargeEurPerKwDay);

  const eta = own ? [own.params.chargeEfficiency, own.params.dischargeEfficiency] : [1, 1];
  const etaRent = rent?.efficiency ?? 1;
  for (let t = 0; t < T; t++) {
    const metered: [number, number][] = [[gIn.start + t, 1], [gOut.start + t, -1], [x.start + t, 1], [ad.start + t, 1], [ac.start + t, -1]];
    b.row(input.netLoadKw[t]!, input.netLoadKw[t]!, [...metered, [d.start + t, 1], [c.start + t, -1]]);
    b.row(0, Infinity, [[peak.start, 1], ...metered.map(([col, v]): [number, number] => [col, -v])]);
    b.row(0, 0, [[e.start + t + 1, 1], [e.start + t, -1], [c.start + t, -eta[0]!], [d.start + t, 1 / eta[1]!]]);
    if (rent) {
      b.row(0, 0, [[a.start + t + 1, 1], [a.start + t, -1], [ac.start + t, -etaRent], [ad.start + t, 1 / etaRent]]);
      if (t + 1 < T) b.row(-Infinity, 0, [[a.start + t + 1, 1], [K.start, -1]]);
      b.row(-Infinity, 0, [[ac.start + t, 1], [K.start, -rent.kwPerKwh]]);
      b.row(-Infinity, 0, [[ad.start + t, 1], [K.start, -rent.kwPerKwh]]);
    }
  }

  const { x: sol, objectiveEur } = await solver.solve(b, 'household day-ahead plan');
  // The schedule is what the household commits to: a solver's −1e-12 on a column bounded at 0 is 0.
  const committed = (start: number, length: number) => values(sol, start, length).map((v) => Math.max(0, v));
  const imports = values(sol, gIn.start, T);
  const exports = values(sol, gOut.start, T);
  const accountChargeKw = committed(ac.start, T);
  const accountDischargeKw = committed(ad.start, T);
  const p2pKw = committed(x.start, T);
  const rentedKwh = Math.max(0, sol[K.start]!);
  const retailerKw = imports.map((v, t) => v - exports[t]!);
  const sum = (series: number[]) => series.reduce((total, v) => total + v, 0);
  const rentalPaymentEur = rent ? rent.priceEurPerKwhDay * rentedKwh + rent.throughputFeeEurPerKwh * (sum(accountChargeKw) + sum(accountDischargeKw)) : 0;
  const withdrawalFeeEur = rent ? rent.withdrawalFeeEurPerKwh * sum(accountDischargeKw) : 0;
  return {
    retailerKw,
    meteredKw: retailerKw.map((g, t) => g + p2pKw[t]! + accountDischargeKw[t]! - accountChargeKw[t]!),
    chargeKw: values(sol, c.start, T),
    dischargeKw: values(sol, d.start, T),
    energyKwh: values(sol, e.start, T + 1),
    rentedKwh,
    accountChargeKw,
    accountDischargeKw,
    accountKwh: values(sol, a.start, T + 1),
    p2pKw,
    rentalPaymentEur,
    withdrawalFeeEur,
    objectiveEur,
  };
}
