/**
 * The CES operator's day-ahead schedule (docs/ces.md §1): a linear program over the day's hours.
 *
 *   max  E_s[profit_s] + λ·CVaR_α[profit]         (Rockafellar–Uryasev: CVaR = max_ζ ζ − Σ_s (ζ − profit_s)⁺ / ((1 − α)S))
 *   profit_s = Σ_t π_{s,t} m_t + P2P revenue + rental revenue − c^deg Σ_t (C_t + D_t)
 *
 * The battery is split: the households' rented part (K kWh and r·K kW, their virtual accounts) and the
 * CES's own part, which starts and ends the day at E^min. The own part's flows c, d set the market
 * position m_t = d_t − c_t − p_t (p: P2P energy sold to households, bought on the market or taken
 * from the battery); the accounts are the households' energy and never touch the market position. The
 * physical battery moves the net of both, C_t − D_t = c_t − d_t + (account charge − discharge)_t, and
 * degrades on that: charging an account while the CES discharges its own part costs no throughput.
 * The market position is committed before the day's prices are known: they are scenarios.
 */
import { Builder } from '../optimizer/model.ts';
import { oneWayEfficiency, validateCesSettings, type CesSettings } from './settings.ts';
import { values, type CesSolver } from './solve.ts';

/** The rented part of the battery as the households booked it (aggregated over them). */
export interface SoldRental {
  capacityKwh: number;
  /** Σ over the accounts of the energy put in and taken out (kW at the CES's terminals). */
  accountChargeKw: number[];
  accountDischargeKw: number[];
  /** What the households pay for the day: rent plus throughput fees (EUR). */
  revenueEur: number;
}

export type RentalMode =
  | { kind: 'none' }
  /** The CES chooses how much to rent at this price (its supply): K is a decision. */
  | { kind: 'offer'; priceEurPerKwhDay: number }
  | { kind: 'sold'; rental: SoldRental };

export interface CesDayInput {
  settings: CesSettings;
  /** S × T wholesale day-ahead price scenarios (EUR/kWh), equally likely. */
  priceScenariosEurPerKwh: number[][];
  /** P2P energy sold to households per hour (kW = kWh) and its price (EUR/kWh), committed; omitted: none. */
  p2p?: { salesKw: number[]; priceEurPerKwh: number[] };
  rental: RentalMode;
}

export interface CesSchedule {
  /** Own part, at the terminals (kW). */
  chargeKw: number[];
  dischargeKw: number[];
  /** Day-ahead market position (kW, + sell). */
  marketKw: number[];
  /** The physical battery (kW). */
  physicalChargeKw: number[];
  physicalDischargeKw: number[];
  /** Own part e_0..e_T and the whole battery (own + accounts) (kWh). */
  ownEnergyKwh: number[];
  physicalEnergyKwh: number[];
  rentedKwh: number;
  /** Revenue fixed before the prices: P2P sales at their price plus the rental (EUR). */
  fixedRevenueEur: number;
  degradationEur: number;
  throughputKwh: number;
  scenarioProfitEur: number[];
  expectedProfitEur: number;
  /** CVaR_α of profit as the LP's ζ − Σu/((1 − α)S). */
  cvarEur: number;
  objectiveEur: number;
}

export async function scheduleCes(input: CesDayInput, solver: CesSolver): Promise<CesSchedule> {
  const { settings: s, priceScenariosEurPerKwh: prices } = input;
  validateCesSettings(s);
  const S = prices.length;
  const T = prices[0]?.length ?? 0;
  if (S === 0 || T === 0 || prices.some((p) => p.length !== T || p.some((v) => !Number.isFinite(v)))) throw new RangeError('CES: price scenarios must be S ≥ 1 rows of T ≥ 1 finite prices');
  const p2p = input.p2p?.salesKw ?? new Array<number>(T).fill(0);
  const p2pPrice = input.p2p?.priceEurPerKwh ?? new Array<number>(T).fill(0);
  const sold = input.rental.kind === 'sold' ? input.rental.rental : undefined;
  const accountIn = sold?.accountChargeKw ?? new Array<number>(T).fill(0);
  const accountOut = sold?.accountDischargeKw ?? new Array<number>(T).fill(0);
  for (const [name, series] of [['p2p.salesKw', p2p], ['p2p.priceEurPerKwh', p2pPrice], ['accountChargeKw', accountIn], ['accountDischargeKw', accountOut]] as const) {
    if (series.length !== T || series.some((v) => !(Number.isFinite(v) && v >= 0))) throw new RangeError(`CES: ${name} must be ${T} numbers ≥ 0`);
  }
  const eta = oneWayEfficiency(s);
  const maxRentKwh = s.capacityKwh - s.minEnergyKwh;
  const rentBounds: [number, number] = input.rental.kind === 'offer' ? [0, maxRentKwh] : [sold?.capacityKwh ?? 0, sold?.capacityKwh ?? 0];
  if (rentBounds[1] > maxRentKwh + 1e-9) throw new RangeError(`CES: ${rentBounds[1]} kWh rented, the battery has ${maxRentKwh} kWh above its minimum`);
  const rentPrice = input.rental.kind === 'offer' ? input.rental.priceEurPerKwhDay : 0;
  const fixedRevenueEur = p2p.reduce((sum, kw, t) => sum + kw * p2pPrice[t]!, 0) + (sold?.revenueEur ?? 0);
  const tailWeight = 1 / ((1 - s.confidence) * S);

  const b = new Builder();
  const c = b.vars('charge', T, 1, 'outer', () => 0, () => s.powerKw);
  const d = b.vars('discharge', T, 1, 'outer', () => 0, () => s.powerKw);
  const C = b.vars('physicalCharge', T, 1, 'outer', () => 0, () => s.powerKw);
  const D = b.vars('physicalDischarge', T, 1, 'outer', () => 0, () => s.powerKw);
  const e = b.vars('ownEnergy', T + 1, 1, 'outer', () => s.minEnergyKwh, (k) => (k === 0 || k === T ? s.minEnergyKwh : s.capacityKwh));
  const m = b.vars('market', T, 1, 'outer', () => -s.gridKw, () => s.gridKw);
  const K = b.vars('rented', 1, 1, 'none', () => rentBounds[0], () => rentBounds[1]);
  const zeta = b.vars('zeta', 1, 1, 'none', () => -Infinity, () => Infinity);
  const u = b.vars('shortfall', S, 1, 'none', () => 0, () => Infinity);

  const meanPrice = Array.from({ length: T }, (_, t) => prices.reduce((sum, p) => sum + p[t]!, 0) / S);
  for (let t = 0; t < T; t++) {
    b.linear(m.start + t, 'energy', -meanPrice[t]!);
    b.linear(C.start + t, 'batteryWear', s.degradationEurPerKwh);
    b.linear(D.start + t, 'batteryWear', s.degradationEurPerKwh);
  }
  b.linear(K.start, 'energy', -rentPrice);
  b.linear(zeta.start, 'energy', -s.riskWeight);
  for (let i = 0; i < S; i++) b.linear(u.start + i, 'energy', s.riskWeight * tailWeight);
  b.offsetByTerm.energy -= fixedRevenueEur;

  for (let t = 0; t < T; t++) {
    b.row(0, 0, [[e.start + t + 1, 1], [e.start + t, -1], [c.start + t, -eta], [d.start + t, 1 / eta]]);
    // The rented kWh and kW are reserved: the own part lives in what is left.
    if (t + 1 < T) b.row(-Infinity, s.capacityKwh, [[e.start + t + 1, 1], [K.start, 1]]);
    b.row(-Infinity, s.powerKw, [[c.start + t, 1], [K.start, s.rentalKwPerKwh]]);
    b.row(-Infinity, s.powerKw, [[d.start + t, 1], [K.start, s.rentalKwPerKwh]]);
    b.row(accountIn[t]! - accountOut[t]!, accountIn[t]! - accountOut[t]!, [[C.start + t, 1], [D.start + t, -1], [c.start + t, -1], [d.start + t, 1]]);
    b.row(-p2p[t]!, -p2p[t]!, [[m.start + t, 1], [d.start + t, -1], [c.start + t, 1]]);
  }
  // u_s ≥ ζ − profit_s, profit_s = Σ π_s,t m_t − deg Σ (C + D) + price·K + fixed revenue.
  for (let i = 0; i < S; i++) {
    const terms: [number, number][] = [[u.start + i, 1], [zeta.start, -1], [K.start, rentPrice]];
    for (let t = 0; t < T; t++) terms.push([m.start + t, prices[i]![t]!], [C.start + t, -s.degradationEurPerKwh], [D.start + t, -s.degradationEurPerKwh]);
    b.row(-fixedRevenueEur, Infinity, terms);
  }

  const { x, objectiveEur } = await solver.solve(b, 'CES day-ahead schedule');
  const marketKw = values(x, m.start, T);
  const physicalChargeKw = values(x, C.start, T);
  const physicalDischargeKw = values(x, D.start, T);
  const rentedKwh = x[K.start]!;
  const throughputKwh = physicalChargeKw.reduce((a, v) => a + v, 0) + physicalDischargeKw.reduce((a, v) => a + v, 0);
  const degradationEur = s.degradationEurPerKwh * throughputKwh;
  const rentRevenue = rentPrice * rentedKwh;
  const scenarioProfitEur = prices.map((p) => p.reduce((sum, price, t) => sum + price * marketKw[t]!, 0) + fixedRevenueEur + rentRevenue - degradationEur);
  const ownEnergyKwh = values(x, e.start, T + 1);
  let account = 0;
  const physicalEnergyKwh = ownEnergyKwh.map((own, t) => {
    if (t > 0) account += eta * accountIn[t - 1]! - accountOut[t - 1]! / eta;
    return own + account;
  });
  return {
    chargeKw: values(x, c.start, T),
    dischargeKw: values(x, d.start, T),
    marketKw,
    physicalChargeKw,
    physicalDischargeKw,
    ownEnergyKwh,
    physicalEnergyKwh,
    rentedKwh,
    fixedRevenueEur: fixedRevenueEur + rentRevenue,
    degradationEur,
    throughputKwh,
    scenarioProfitEur,
    expectedProfitEur: scenarioProfitEur.reduce((a, v) => a + v, 0) / S,
    cvarEur: x[zeta.start]! - tailWeight * values(x, u.start, S).reduce((a, v) => a + v, 0),
    objectiveEur,
  };
}

/** The day's profit at the prices that cleared (EUR): the schedule was committed before them. */
export function realisedProfitEur(schedule: CesSchedule, pricesEurPerKwh: readonly number[]): number {
  return schedule.marketKw.reduce((sum, kw, t) => sum + kw * pricesEurPerKwh[t]!, 0) + schedule.fixedRevenueEur - schedule.degradationEur;
}
