/**
 * The CES evaluation (docs/ces.md §3): every test day, each setup plans the day ahead at midnight and
 * is replayed on the real measured day.
 *
 * - Every setup plans with the same information: the households' midnight forecast and, since the
 *   coordination runs before the day's auction, the retail tariff at the CES's expected price (the
 *   mean of its scenarios); bills are settled at the prices that cleared.
 * - Replay: batteries, accounts and P2P follow the plan (a plan is feasible, and with β = 0 nothing
 *   moves them); the forecast error goes to the retailer through the meter. Own batteries carry
 *   their state from day to day, per setup.
 * - The CES trading alone at each risk weight is the baseline of its profit.
 */
import { hourTariff, tariffParams } from '../../data/tariff.ts';
import type { PriceSeries } from '../../data/households.ts';
import { realisedProfitEur, scheduleCes, type CesSchedule } from '../../ces/ces-model.ts';
import { planHouseholdDay, type HouseholdDayInput, type HouseholdDayPlan } from '../../ces/household-model.ts';
import { dayPrices, priceScenarios } from '../../ces/price-scenarios.ts';
import { clearRentalDay } from '../../ces/rental-market.ts';
import type { CesSettings } from '../../ces/settings.ts';
import { CesSolver } from '../../ces/solve.ts';
import { addBill, communityChargeShares, dayBill, emptyBill, type BillBreakdown } from '../bill.ts';
import { gridKpis, type GridKpis } from '../grid-kpis.ts';
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

function cesFigures(schedule: CesSchedule, actual: readonly number[], p2pRevenueEur: number, rentalPriceEurPerKwhDay: number, p2pKwh: number, accountOutKwh: number, rounds: number): CesDayFigures {
  const marketEur = schedule.marketKw.reduce((total, kw, t) => total + kw * actual[t]!, 0);
  return {
    realisedProfitEur: realisedProfitEur(schedule, actual),
    expectedProfitEur: schedule.expectedProfitEur,
    cvarEur: schedule.cvarEur,
    marketEur,
    p2pRevenueEur,
    rentalRevenueEur: schedule.fixedRevenueEur - p2pRevenueEur,
    degradationEur: schedule.degradationEur,
    throughputKwh: schedule.throughputKwh,
    rentedKwh: schedule.rentedKwh,
    rentalPriceEurPerKwhDay,
    p2pKwh,
    accountOutKwh,
    rounds,
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
        a.days.push(cesFigures(schedule, actual, 0, 0, 0, 0, 1));
      }

      for (const [k, setup] of setups.entries()) {
        const state = states[k]!;
        const inputs: HouseholdDayInput[] = cases.map((c, n) => ({
          netLoadKw: forecastNetKw[n]!,
          buyEurPerKwh: expectedRetail.map((t) => t.buyEurPerKwh),
          sellEurPerKwh: expectedRetail.map((t) => t.sellEurPerKwh),
          demandChargeEurPerKwDay: tariffParams.demandChargeEurPerKwDay,
          gridKw: 11,
          ...(setup.ownBattery
            ? { battery: { params: c.battery, initialEnergyKwh: state.energyKwh[n]!, wearEurPerKw2h: settings.batteryWearEurPerKw2h, terminalEurPerKwh: storedEnergyValueEurPerKwh(expectedRetail.map((t) => t.buyEurPerKwh), c.battery.dischargeEfficiency) } }
            : {}),
        }));
        let plans: HouseholdDayPlan[];
        let p2pBuyerPrice = new Array<number>(24).fill(0);
        let cesSchedule: CesSchedule | undefined;
        if (setup.ces) {
          const cesSettings = { ...settings.ces, riskWeight: setup.ces.riskWeight };
          const clearing = await clearRentalDay({
            settings: cesSettings, priceScenariosEurPerKwh: scenarios, households: inputs,
            throughputFeeEurPerKwh: cesSettings.degradationEurPerKwh, withdrawalFeeEurPerKwh: settings.withdrawalFeeEurPerKwh, p2pBuyerFeeEurPerKwh: fee, vatFactor: tariffParams.vatFactor,
            rental: setup.ces.rental, p2p: setup.ces.p2p, solvers,
          });
          plans = clearing.plans;
          cesSchedule = clearing.ces;
          const p2pPrice = clearing.p2pPriceEurPerKwh;
          p2pBuyerPrice = p2pPrice.map((p) => (p + fee) * tariffParams.vatFactor);
          const p2pKw = Array.from({ length: 24 }, (_, t) => sum(plans.map((p) => p.p2pKw[t]!)));
          state.ces.push(cesFigures(clearing.ces, actual, sum(p2pKw.map((kw, t) => kw * p2pPrice[t]!)), clearing.priceEurPerKwhDay, sum(p2pKw), sum(plans.map((p) => sum(p.accountDischargeKw))), clearing.rounds.length));
        } else {
          plans = [];
          for (const [n, input] of inputs.entries()) plans.push(await planHouseholdDay(input, solvers.households[n]!));
        }

        const meteredKw = plans.map((plan, n) => plan.meteredKw.map((g, t) => g + realisedNetKw[n]![t]! - forecastNetKw[n]![t]!));
        const shares = communityChargeShares(meteredKw, settings.communityChargeEurPerKwDay);
        cases.forEach((c, n) => {
          const plan = plans[n]!;
          const bill = dayBill(meteredKw[n]!.map((gridKw, t) => {
            const tariff = c.days[d]!.hours[t]!.tariff;
            return { gridKw, tradeKw: plan.p2pKw[t]! + plan.accountDischargeKw[t]! - plan.accountChargeKw[t]!, batteryKw: plan.dischargeKw[t]! - plan.chargeKw[t]!, buyEurPerKwh: tariff.buyEurPerKwh[0]!, sellEurPerKwh: tariff.sellEurPerKwh[0]! };
          }), settings.batteryWearEurPerKw2h, tariffParams.demandChargeEurPerKwDay);
          bill.p2p = sum(plan.p2pKw.map((kw, t) => kw * p2pBuyerPrice[t]!)) + plan.rentalPaymentEur + plan.withdrawalFeeEur;
          bill.communityCharge = shares.sharesEur[n]!;
          bill.total += bill.p2p + bill.communityCharge;
          addBill(state.bills[n]!, bill);
          state.dailyBillEur[n]!.push(bill.total);
          state.energyKwh[n] = plan.energyKwh[24] ?? state.energyKwh[n]!;
        });
        const community = Array.from({ length: 24 }, (_, t) => sum(meteredKw.map((g) => g[t]!)));
        state.dayExchangeKw.push(community);
        state.dayExchangeWithCesKw.push(community.map((g, t) => g + (cesSchedule ? cesSchedule.physicalChargeKw[t]! - cesSchedule.physicalDischargeKw[t]! : 0)));
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
