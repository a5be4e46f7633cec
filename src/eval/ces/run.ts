/**
 * The CES evaluation (docs/ces.md §3): every test day, each setup plans the day ahead at midnight and
 * is replayed on the real measured day.
 *
 * - Every setup plans with the same information: the households' midnight forecast and, since the
 *   coordination runs before the day's auction, the retail tariff at the CES's expected price (the
 *   mean of its scenarios); bills are settled at the prices that cleared.
 * - Replay (replay.ts): P2P purchases are firm; the own battery, then the rented account, cover the
 *   forecast error within their limits, the retailer the rest. Own batteries carry their state from
 *   day to day, per setup; the CES's realised degradation and fees follow the accounts' real flows.
 * - The CES trading alone at each risk weight is the baseline of its profit.
 */
import { grid } from '../../data/assets.ts';
import { hourTariff, tariffParams } from '../../data/tariff.ts';
import type { PriceSeries } from '../../data/households.ts';
import { realisedProfitEur, scheduleCes, type CesSchedule } from '../../ces/ces-model.ts';
import { planHouseholdDay, type HouseholdDayInput, type HouseholdDayPlan } from '../../ces/household-model.ts';
import { dayPrices, priceScenarios } from '../../ces/price-scenarios.ts';
import { clearRentalDay, type RentalClearing } from '../../ces/rental-market.ts';
import { oneWayEfficiency, type CesSettings } from '../../ces/settings.ts';
import { CesSolver } from '../../ces/solve.ts';
import { addBill, communityChargeShares, dayBill, emptyBill, type BillBreakdown } from '../../household/bill.ts';
import { gridKpis, type GridKpis } from '../grid-kpis.ts';
import { accountStorage, replayDay } from './replay.ts';
import { storedEnergyValueEurPerKwh } from '../metrics.ts';
import type { HouseholdCase } from '../scenario.ts';

export interface Setup {
  /** 'a' no storage, 'b' own batteries, 'c' renting (no own battery), 'd' both. */
  name: string;
  ownBattery: boolean;
  ces?: { rental: boolean; p2p: boolean; riskWeight: number };
}

export interface CesEvalSettings {
  ces: CesSettings;
  /** Past days whose price profiles are the CES's scenarios. */
  scenarioDays: number;
  /** γ_b of the households' own batteries (EUR/kW²h), as the evaluation's. */
  batteryWearEurPerKw2h: number;
  communityChargeEurPerKwDay: number;
  /** Per kWh taken out of an account (default: the local P2P grid fee). */
  withdrawalFeeEurPerKwh: number;
}

export interface CesDayFigures {
  realisedProfitEur: number;
  expectedProfitEur: number;
  cvarEur: number;
  marketEur: number;
  p2pRevenueEur: number;
  rentalRevenueEur: number;
  /** The energy left in accounts, bought back from the households and kept: worth the day's mean price after discharge. */
  residueValueEur: number;
  degradationEur: number;
  throughputKwh: number;
  rentedKwh: number;
  rentalPriceEurPerKwhDay: number;
  p2pKwh: number;
  /** Energy the households took out of their accounts (kWh). */
  accountOutKwh: number;
  rounds: number;
}

export interface SetupResult {
  setup: Setup;
  households: { id: string; bill: BillBreakdown; dailyBillEur: number[] }[];
  communityBillEur: number;
  /** Households' connection point; and with the CES behind it too. */
  kpis: GridKpis;
  kpisWithCes: GridKpis;
  /** Per day, when the setup has a CES. */
  ces?: CesDayFigures[];
}

export interface AloneResult {
  riskWeight: number;
  days: CesDayFigures[];
}

export interface CesEvaluation {
  daysMs: number[];
  setups: SetupResult[];
  alone: AloneResult[];
}

interface SetupState {
  energyKwh: number[];
  dayExchangeKw: number[][];
  dayExchangeWithCesKw: number[][];
  bills: BillBreakdown[];
  dailyBillEur: number[][];
  ces: CesDayFigures[];
}

const sum = (series: readonly number[]) => series.reduce((a, v) => a + v, 0);

/** The CES trading alone: only its market position, settled at the prices that cleared. */
function aloneFigures(schedule: CesSchedule, actual: readonly number[]): CesDayFigures {
  return {
    realisedProfitEur: realisedProfitEur(schedule, actual),
    expectedProfitEur: schedule.expectedProfitEur,
    cvarEur: schedule.cvarEur,
    marketEur: schedule.marketKw.reduce((total, kw, t) => total + kw * actual[t]!, 0),
    p2pRevenueEur: 0,
    rentalRevenueEur: 0,
    residueValueEur: 0,
    degradationEur: schedule.degradationEur,
    throughputKwh: schedule.throughputKwh,
    rentedKwh: 0,
    rentalPriceEurPerKwhDay: 0,
    p2pKwh: 0,
    accountOutKwh: 0,
    rounds: 1,
  };
}

export async function runCesEvaluation(cases: readonly HouseholdCase[], prices: PriceSeries, setups: readonly Setup[], riskWeights: readonly number[], settings: CesEvalSettings, onDay: (done: number, total: number) => void): Promise<CesEvaluation> {
  const daysMs = cases[0]?.days.map((d) => d.dayMs) ?? [];
  const solvers = { ces: new CesSolver(), households: cases.map(() => new CesSolver()) };
  const states: SetupState[] = setups.map(() => ({ energyKwh: cases.map((c) => c.initialEnergyKwh), dayExchangeKw: [], dayExchangeWithCesKw: [], bills: cases.map(() => emptyBill()), dailyBillEur: cases.map(() => []), ces: [] }));
  const alone: AloneResult[] = riskWeights.map((riskWeight) => ({ riskWeight, days: [] }));
  const fee = tariffParams.p2pGridFeeEurPerKwh;
  try {
    for (const [d, dayMs] of daysMs.entries()) {
      const scenarios = priceScenarios(prices, dayMs, settings.scenarioDays);
      const actual = dayPrices(prices, dayMs);
      const expectedRetail = Array.from({ length: 24 }, (_, t) => hourTariff((1000 * sum(scenarios.map((s) => s[t]!))) / scenarios.length));
      const realisedNetKw = cases.map((c) => c.days[d]!.hours.map((h) => h.realised.inflexibleKw + h.realised.requestKw - h.realised.pvKw));
      const forecastNetKw = cases.map((c) => {
        const f = c.days[d]!.hours[0]!.forecast;
        return f.netLoadKw.slice(0, 24).map((mu, t) => mu + f.shiftableKw[t]!);
      });

      for (const a of alone) {
        const schedule = await scheduleCes({ settings: { ...settings.ces, riskWeight: a.riskWeight }, priceScenariosEurPerKwh: scenarios, rental: { kind: 'none' } }, solvers.ces);
        a.days.push(aloneFigures(schedule, actual));
      }

      for (const [k, setup] of setups.entries()) {
        const state = states[k]!;
        const inputs: HouseholdDayInput[] = cases.map((c, n) => ({
          netLoadKw: forecastNetKw[n]!,
          buyEurPerKwh: expectedRetail.map((t) => t.buyEurPerKwh),
          sellEurPerKwh: expectedRetail.map((t) => t.sellEurPerKwh),
          demandChargeEurPerKwDay: tariffParams.demandChargeEurPerKwDay,
          gridKw: grid.maxImportKw,
          ...(setup.ownBattery
            ? { battery: { params: c.battery, initialEnergyKwh: state.energyKwh[n]!, wearEurPerKw2h: settings.batteryWearEurPerKw2h, terminalEurPerKwh: storedEnergyValueEurPerKwh(expectedRetail.map((t) => t.buyEurPerKwh), c.battery.dischargeEfficiency) } }
            : {}),
        }));
        let plans: HouseholdDayPlan[];
        let clearing: RentalClearing | undefined;
        if (setup.ces) {
          const cesSettings = { ...settings.ces, riskWeight: setup.ces.riskWeight };
          clearing = await clearRentalDay({
            settings: cesSettings, priceScenariosEurPerKwh: scenarios, households: inputs,
            throughputFeeEurPerKwh: cesSettings.degradationEurPerKwh, withdrawalFeeEurPerKwh: settings.withdrawalFeeEurPerKwh, p2pBuyerFeeEurPerKwh: fee, vatFactor: tariffParams.vatFactor,
            rental: setup.ces.rental, p2p: setup.ces.p2p, solvers,
          });
          plans = clearing.plans;
        } else {
          plans = [];
          for (const [n, input] of inputs.entries()) plans.push(await planHouseholdDay(input, solvers.households[n]!));
        }
        const efficiency = oneWayEfficiency(settings.ces);
        const replayed = plans.map((plan, n) => replayDay(plan, forecastNetKw[n]!, realisedNetKw[n]!,
          setup.ownBattery ? { storage: cases[n]!.battery, startKwh: state.energyKwh[n]! } : undefined,
          plan.rentedKwh > 0 ? accountStorage(plan.rentedKwh, settings.ces.rentalKwPerKwh, efficiency) : undefined));
        const p2pPrice = clearing?.p2pPriceEurPerKwh ?? new Array<number>(24).fill(0);
        const rentPrice = clearing?.priceEurPerKwhDay ?? 0;
        const throughputFee = settings.ces.degradationEurPerKwh;
        // What each household pays the CES (rent, throughput, P2P) and the grid fees, on the realised account flows.
        const payments = plans.map((plan, n) => {
          const r = replayed[n]!;
          const p2pEur = sum(plan.p2pKw.map((kw, t) => kw * p2pPrice[t]!));
          const rentalEur = rentPrice * plan.rentedKwh + throughputFee * (sum(r.accountChargeKw) + sum(r.accountDischargeKw)) - tariffParams.feedInEurPerKwh * r.accountResidueKwh;
          return { p2pEur, rentalEur, billEur: rentalEur + settings.withdrawalFeeEurPerKwh * sum(r.accountDischargeKw) + tariffParams.vatFactor * (p2pEur + fee * sum(plan.p2pKw)) };
        });
        if (clearing) {
          const ces = clearing.ces;
          const accountNetKw = Array.from({ length: 24 }, (_, t) => sum(replayed.map((r) => r.accountChargeKw[t]! - r.accountDischargeKw[t]!)));
          const physicalKw = accountNetKw.map((a, t) => ces.chargeKw[t]! - ces.dischargeKw[t]! + a);
          const marketEur = ces.marketKw.reduce((total, kw, t) => total + kw * actual[t]!, 0);
          const p2pRevenueEur = sum(payments.map((p) => p.p2pEur));
          const rentalRevenueEur = sum(payments.map((p) => p.rentalEur));
          const throughputKwh = sum(physicalKw.map(Math.abs));
          const degradationEur = settings.ces.degradationEurPerKwh * throughputKwh;
          const residueValueEur = sum(replayed.map((r) => r.accountResidueKwh)) * efficiency * (sum(actual) / actual.length);
          state.ces.push({
            realisedProfitEur: marketEur + p2pRevenueEur + rentalRevenueEur + residueValueEur - degradationEur,
            expectedProfitEur: ces.expectedProfitEur, cvarEur: ces.cvarEur, marketEur, p2pRevenueEur, rentalRevenueEur, residueValueEur, degradationEur, throughputKwh,
            rentedKwh: ces.rentedKwh, rentalPriceEurPerKwhDay: rentPrice, p2pKwh: sum(plans.map((p) => sum(p.p2pKw))),
            accountOutKwh: sum(replayed.map((r) => sum(r.accountDischargeKw))), rounds: clearing.rounds.length,
          });
          state.dayExchangeWithCesKw.push(Array.from({ length: 24 }, (_, t) => sum(replayed.map((r) => r.meteredKw[t]!)) + physicalKw[t]!));
        }

        const meteredKw = replayed.map((r) => r.meteredKw);
        const shares = communityChargeShares(meteredKw, settings.communityChargeEurPerKwDay);
        cases.forEach((c, n) => {
          const plan = plans[n]!;
          const r = replayed[n]!;
          const bill = dayBill(r.meteredKw.map((gridKw, t) => {
            const tariff = c.days[d]!.hours[t]!.tariff;
            return { gridKw, tradeKw: plan.p2pKw[t]! + r.accountDischargeKw[t]! - r.accountChargeKw[t]!, batteryKw: r.batteryKw[t]!, buyEurPerKwh: tariff.buyEurPerKwh[0]!, sellEurPerKwh: tariff.sellEurPerKwh[0]! };
          }), settings.batteryWearEurPerKw2h, tariffParams.demandChargeEurPerKwDay);
          bill.p2p = payments[n]!.billEur;
          bill.communityCharge = shares.sharesEur[n]!;
          bill.total += bill.p2p + bill.communityCharge;
          addBill(state.bills[n]!, bill);
          state.dailyBillEur[n]!.push(bill.total);
          if (setup.ownBattery) state.energyKwh[n] = r.ownEndKwh;
        });
        state.dayExchangeKw.push(Array.from({ length: 24 }, (_, t) => sum(meteredKw.map((g) => g[t]!))));
        if (!clearing) state.dayExchangeWithCesKw.push(state.dayExchangeKw[state.dayExchangeKw.length - 1]!);
      }
      onDay(d + 1, daysMs.length);
    }
  } finally {
    solvers.ces.dispose();
    for (const s of solvers.households) s.dispose();
  }

  // A battery left fuller than it started is worth its energy (the evaluation's adjustment, run.ts).
  const setupResults = setups.map((setup, k): SetupResult => {
    const state = states[k]!;
    const households = cases.map((c, n) => {
      const bill = state.bills[n]!;
      if (setup.ownBattery) {
        const buy = c.days.flatMap((day) => day.hours.map((h) => h.tariff.buyEurPerKwh[0]!));
        bill.storedEnergy = -(state.energyKwh[n]! - c.initialEnergyKwh) * storedEnergyValueEurPerKwh(buy, c.battery.dischargeEfficiency);
        bill.total += bill.storedEnergy;
      }
      return { id: c.id, bill, dailyBillEur: state.dailyBillEur[n]! };
    });
    return {
      setup,
      households,
      communityBillEur: sum(households.map((h) => h.bill.total)),
      kpis: gridKpis(state.dayExchangeKw),
      kpisWithCes: gridKpis(state.dayExchangeWithCesKw),
      ...(setup.ces ? { ces: state.ces } : {}),
    };
  });
  return { daysMs, setups: setupResults, alone };
}

/** The setups of the issue: (a), (b), and at every risk weight (c) renting only, (c) renting with P2P, (d) both. */
export function standardSetups(riskWeights: readonly number[]): Setup[] {
  return [
    { name: 'a: no storage', ownBattery: false },
    { name: 'b: own batteries', ownBattery: true },
    ...riskWeights.flatMap((riskWeight): Setup[] => [
      { name: `c: rent, λ=${riskWeight}`, ownBattery: false, ces: { rental: true, p2p: false, riskWeight } },
      { name: `c: rent+P2P, λ=${riskWeight}`, ownBattery: false, ces: { rental: true, p2p: true, riskWeight } },
      { name: `d: own+rent+P2P, λ=${riskWeight}`, ownBattery: true, ces: { rental: true, p2p: true, riskWeight } },
    ]),
  ];
}
