/**
 * The closed loop: for one controller and each household, every test hour in order — decide,
 * step the plant on the real measured hour, settle the cost — then the day's demand charge.
 * The battery starts each household at 5 kWh on the first test day and carries its state over
 * (also across a dropped day: the gateway does not reset).
 */
import { tariffParams } from '../data/tariff.ts';
import type { ChanceFamily } from '../optimizer/types.ts';
import { addBill, communityChargeShares, dayBill, emptyBill, emptyNoLossAccount, noLossTransfers, settledAccount, type BillBreakdown } from '../household/bill.ts';
import { peerPositions, settle } from '../market/settlement.ts';
import type { Controller, DecisionContext, FleetController, SolveRecord } from './controller.ts';
import { gridKpis, quarterOf, type GridKpis } from './grid-kpis.ts';
import { addCost, demandCharge, emptyCost, hourCost, storedEnergyValueEurPerKwh, summariseSolves, violationRates, type CostBreakdown, type SolveSummary, type ViolationRates } from './metrics.ts';
import { Plant, type StepOutcome } from '../household/plant.ts';
import type { HouseholdCase } from './scenario.ts';

/** A controller of each household on its own, or one that decides for all households together. */
export type ControllerSpec = { name: string; radiusKw?: number } & (
  | { create(household: HouseholdCase): Controller }
  | {
      createFleet(households: readonly HouseholdCase[]): FleetController;
      /** What each household would run without the community: its realised bills settle the no-loss transfers. */
      standAlone?(household: HouseholdCase): Controller;
    }
);

export interface HouseholdRun {
  household: string;
  /** Realised grid exchange of every test hour, in order (kW, + import). */
  gridKw: number[];
  energyKwh: number[];
  days: StepOutcome[][];
  /** Settlement cost (schedule at the day-ahead tariff, deviation at the real-time prices). */
  cost: CostBreakdown;
  /** Metered bill, in all and per day (the stored-energy adjustment is in `bill` only). */
  bill: BillBreakdown;
  dailyBill: BillBreakdown[];
  dailyCost: CostBreakdown[];
  solves: SolveRecord[];
}

export interface ControllerRun {
  controller: string;
  radiusKw?: number;
  /** UTC midnight of every evaluated day, in order. */
  daysMs: number[];
  households: HouseholdRun[];
  /** The community charge of every day (EUR), before it is split. */
  communityChargeEur: number[];
}

/** Each household's own controller, deciding in turn: what every single-gateway controller is. */
function eachAlone(controllers: readonly Controller[]): FleetController {
  return {
    async decide(contexts) {
      const decisions = [];
      for (const [n, context] of contexts.entries()) decisions.push(await controllers[n]!.decide(context));
      return decisions;
    },
    observe(contexts, outcomes) {
      contexts.forEach((context, n) => controllers[n]!.observe?.(context, outcomes[n]!));
    },
    dispose() {
      for (const c of controllers) c.dispose?.();
    },
  };
}

export interface RunSettings {
  batteryWearEurPerKw2h: number;
  /** π^C (EUR per kW of the community's daily peak import). */
  communityChargeEurPerKwDay: number;
}

const defaultCommunityChargeEurPerKwDay = 1.0;

/** One fleet's days: its plants, and every household's run as far as it went. */
interface FleetLoop {
  runs: HouseholdRun[];
  /** Decides and steps every household on one real hour of day d. */
  hour(d: number, hourOfDay: number, onStep: (household: string) => void): Promise<void>;
  /** Day d's bills (community-charge share and P2P included) and costs; the day is not yet in the runs. */
  closeDay(d: number): { bills: BillBreakdown[]; costs: CostBreakdown[]; chargeEur: number };
  /** Books a closed day into the runs. */
  bookDay(day: { bills: BillBreakdown[]; costs: CostBreakdown[] }): void;
  /** Each household's stored-energy adjustment at the end of the period, as it stands (EUR). */
  storedEnergyEur(): number[];
  /** Books the stored-energy adjustment at the end of the period. */
  finish(): void;
  dispose(): void;
}

function fleetLoop(fleet: FleetController, cases: readonly HouseholdCase[], batteryWearEurPerKw2h: number, communityChargeEurPerKwDay: number): FleetLoop {
  const plants = cases.map((c) => new Plant(c.initialEnergyKwh, c.maxDelayHours, c.battery));
  const runs: HouseholdRun[] = cases.map((c) => ({ household: c.id, gridKw: [], energyKwh: [], days: [], cost: emptyCost(), bill: emptyBill(), dailyBill: [], dailyCost: [], solves: [] }));
  let dayOutcomes: StepOutcome[][] = [];
  let dayCosts: CostBreakdown[] = [];
  let dayTrades: HourTrades[] = [];
  const storedEnergyEur = () => cases.map((household, n) => {
    const run = runs[n]!;
    const buyEurPerKwh = household.days.flatMap((day) => day.hours.map((h) => h.tariff.buyEurPerKwh[0]!));
    const finalKwh = run.energyKwh[run.energyKwh.length - 1] ?? household.initialEnergyKwh;
    return -(finalKwh - household.initialEnergyKwh) * storedEnergyValueEurPerKwh(buyEurPerKwh, household.battery.dischargeEfficiency);
  });
  return {
    runs,
    async hour(d, hourOfDay, onStep) {
      if (hourOfDay === 0) {
        dayOutcomes = cases.map(() => []);
        dayCosts = cases.map(() => emptyCost());
        dayTrades = cases.map(() => ({ tradeKw: new Array<number>(24).fill(0), p2pEur: 0 }));
      }
      const communitySoFarKw = Math.max(0, ...Array.from({ length: hourOfDay }, (_, h) => dayOutcomes.reduce((sum, o) => sum + o[h]!.gridKw, 0)));
      const contexts: DecisionContext[] = cases.map((household, n) => {
        const hour = household.days[d]!.hours[hourOfDay]!;
        return {
          household,
          hour,
          hourOfDay,
          energyKwh: plants[n]!.energyKwh,
          deferredKwh: plants[n]!.deferredKwh,
          deadlinesKwh: plants[n]!.deadlinesKwh(hour.realised.timeMs, hour.forecast.netLoadKw.length),
          peakSoFarKw: Math.max(0, ...dayOutcomes[n]!.map((o) => o.gridKw)),
          communityPeakSoFarKw: communitySoFarKw,
        };
      });
      const decisions = await fleet.decide(contexts);
      const hourTrades = decisions.flatMap((decision, seller) => (decision.sales ?? []).map((sale) => ({ seller, ...sale })));
      const stepped = holdCommunityImport(plants, contexts.map((context, n) => plants[n]!.step(context.hour.realised, decisions[n]!.command)), fleet.communityGuardKw?.(contexts));
      const outcomes = contexts.map((context, n) => {
        const decision = decisions[n]!;
        const run = runs[n]!;
        if (decision.solve) run.solves.push(decision.solve);
        const outcome = stepped[n]!;
        const t = context.hour.tariff;
        addCost(dayCosts[n]!, hourCost(outcome, {
          buyEurPerKwh: t.buyEurPerKwh[0]!, sellEurPerKwh: t.sellEurPerKwh[0]!,
          realtimeBuyEurPerKwh: t.realtimeBuyEurPerKwh[0]!, realtimeSellEurPerKwh: t.realtimeSellEurPerKwh[0]!,
        }, batteryWearEurPerKw2h));
        dayOutcomes[n]!.push(outcome);
        run.gridKw.push(outcome.gridKw);
        run.energyKwh.push(outcome.energyKwh);
        onStep(context.household.id);
        return outcome;
      });
      fleet.observe?.(contexts, outcomes);
      settleHourTrades(hourTrades, outcomes, contexts[0]!.hour.tariff.realtimeBuyEurPerKwh[0]!, dayTrades, hourOfDay);
    },
    closeDay(d) {
      const shares = communityChargeShares(dayOutcomes.map((o) => o.map((h) => h.gridKw)), communityChargeEurPerKwDay);
      const bills = cases.map((household, n) => {
        const outcomes = dayOutcomes[n]!;
        const cost = dayCosts[n]!;
        const charge = demandCharge(outcomes.map((o) => o.gridKw));
        cost.demandCharge += charge;
        cost.total += charge;
        const bill = dayBill(outcomes.map((o, h) => {
          const t = household.days[d]!.hours[h]!.tariff;
          return { gridKw: o.gridKw, tradeKw: dayTrades[n]!.tradeKw[h]!, batteryKw: o.batteryKw, buyEurPerKwh: t.buyEurPerKwh[0]!, sellEurPerKwh: t.sellEurPerKwh[0]! };
        }), batteryWearEurPerKw2h, tariffParams.demandChargeEurPerKwDay);
        bill.p2p = dayTrades[n]!.p2pEur;
        bill.communityCharge = shares.sharesEur[n]!;
        bill.total += bill.communityCharge + bill.p2p;
        return bill;
      });
      return { bills, costs: dayCosts, chargeEur: shares.chargeEur };
    },
    bookDay({ bills, costs }) {
      runs.forEach((run, n) => {
        addCost(run.cost, costs[n]!);
        addBill(run.bill, bills[n]!);
        run.dailyCost.push(costs[n]!);
        run.dailyBill.push(bills[n]!);
        run.days.push(dayOutcomes[n]!);
      });
    },
    storedEnergyEur,
    finish() {
      storedEnergyEur().forEach((stored, n) => {
        const run = runs[n]!;
        run.cost.storedEnergy = stored;
        run.cost.total += stored;
        run.bill.storedEnergy = stored;
        run.bill.total += stored;
      });
    },
    dispose() {
      fleet.dispose?.();
    },
  };
}

/**
 * The live community guard (CommunitySettings.liveGuard): when the hour's coincident import passes
 * `guardKw`, the batteries with energy to spare give more, each in proportion to what it has left
 * to give — the household whose load rose may have none left, its neighbours may.
 */
function holdCommunityImport(plants: readonly Plant[], outcomes: StepOutcome[], guardKw: number | undefined): StepOutcome[] {
  const excessKw = guardKw === undefined ? 0 : outcomes.reduce((sum, o) => sum + o.gridKw, 0) - guardKw;
  if (!(excessKw > 1e-9)) return outcomes;
  const roomKw = outcomes.map((o, n) => plants[n]!.dischargeRoomKw(o));
  const share = Math.min(1, excessKw / Math.max(1e-12, roomKw.reduce((a, b) => a + b, 0)));
  return outcomes.map((o, n) => (roomKw[n]! > 0 ? plants[n]!.dischargeMore(o, roomKw[n]! * share) : o));
}

/**
 * All households in lock step, hour by hour: every controller decides from what its gateway knows
 * at the start of the hour (a community controller sees all households' contexts), then every
 * plant steps on the real measured hour. Bills and the community charge are settled per day. A
 * community spec with `standAlone` also runs each household's own controller in shadow on the same
 * hours (what each gateway would have done without the community) and settles each day's no-loss
 * transfers on the two fleets' realised bills, over the running accounts of the days so far.
 */
export async function runController(
  spec: ControllerSpec,
  cases: readonly HouseholdCase[],
  settings: number | RunSettings,
  onStep: (household: string) => void,
): Promise<ControllerRun> {
  const { batteryWearEurPerKw2h, communityChargeEurPerKwDay } = typeof settings === 'number' ? { batteryWearEurPerKw2h: settings, communityChargeEurPerKwDay: defaultCommunityChargeEurPerKwDay } : settings;
  const daysMs = cases[0]?.days.map((d) => d.dayMs) ?? [];
  for (const c of cases) {
    if (c.days.length !== daysMs.length || c.days.some((d, i) => d.dayMs !== daysMs[i])) throw new RangeError(`household ${c.id} has other test days than ${cases[0]!.id}`);
  }
  const main = fleetLoop('createFleet' in spec ? spec.createFleet(cases) : eachAlone(cases.map((c) => spec.create(c))), cases, batteryWearEurPerKw2h, communityChargeEurPerKwDay);
  const standAlone = 'createFleet' in spec && spec.standAlone ? fleetLoop(eachAlone(cases.map((c) => spec.standAlone!(c))), cases, batteryWearEurPerKw2h, communityChargeEurPerKwDay) : null;
  const communityChargeEur: number[] = [];
  let accounts = cases.map(() => emptyNoLossAccount());
  try {
    for (const [d] of daysMs.entries()) {
      for (let hourOfDay = 0; hourOfDay < 24; hourOfDay++) {
        await main.hour(d, hourOfDay, onStep);
        await standAlone?.hour(d, hourOfDay, () => undefined);
      }
      const day = main.closeDay(d);
      communityChargeEur.push(day.chargeEur);
      if (standAlone) {
        const alone = standAlone.closeDay(d);
        standAlone.bookDay(alone);
        // The period's last settlement also evens out the energy each battery is left with.
        const last = d === daysMs.length - 1;
        const storedAloneEur = last ? standAlone.storedEnergyEur() : alone.bills.map(() => 0);
        const storedEur = last ? main.storedEnergyEur() : day.bills.map(() => 0);
        const aloneEur = alone.bills.map((b, n) => b.total + storedAloneEur[n]!);
        const withEur = day.bills.map((b, n) => b.total + storedEur[n]!);
        const transfersEur = noLossTransfers(accounts, aloneEur, withEur);
        accounts = accounts.map((account, n) => settledAccount(account, aloneEur[n]!, withEur[n]!, transfersEur[n]!));
        day.bills.forEach((bill, n) => {
          bill.communityTransfer = transfersEur[n]!;
          bill.total += bill.communityTransfer;
        });
      }
      main.bookDay(day);
    }
    main.finish();
  } finally {
    main.dispose();
    standAlone?.dispose();
  }
  return { controller: spec.name, ...(spec.radiusKw === undefined ? {} : { radiusKw: spec.radiusKw }), daysMs, households: main.runs, communityChargeEur };
}

export interface PeriodFigures {
  billEur: number;
  settlementCostEur: number;
  kpis: GridKpis;
}

export interface Figures {
  /** Settlement cost (schedule at the day-ahead tariff, deviations at the real-time prices). */
  cost: CostBreakdown;
  /** Metered bill: what the household pays (the primary figure). */
  bill: BillBreakdown;
  kpis: GridKpis;
  /** Whole-period peak import, mean import and PAR (= kpis.peakKw, kpis.meanImportKw, kpis.periodPar). */
  peakImportKw: number;
  meanImportKw: number;
  par: number;
  violation: ViolationRates;
  /** The same figures per calendar quarter ("2016-Q3"). */
  quarters: Record<string, PeriodFigures>;
}

export interface ControllerSummary {
  controller: string;
  radiusKw?: number;
  households: (Figures & { household: string })[];
  /**
   * Bills and costs summed; KPIs on the community's import at its connection point, max(Σ_n G_n, 0)
   * hour by hour; a day is violated if any household violated.
   */
  community: Figures;
  /** Joint violation averaged over the households (each household is one gateway). */
  meanHouseholdJointViolation: number;
  solve: SolveSummary;
  /** Every test hour in order: community import (kW) and battery SoC summed over households at the hour's end (kWh), for the figures. */
  hourly: { communityImportKw: number[]; energyKwh: number[] };
}

/** A household's or the community's figures from its days (bills, costs and exchange by day, in order). */
export function periodFigures(daysMs: readonly number[], dayExchangeKw: number[][], dailyBill: readonly BillBreakdown[], dailyCost: readonly CostBreakdown[], bill: BillBreakdown, cost: CostBreakdown, violation: ViolationRates): Figures {
  const kpis = gridKpis(dayExchangeKw);
  const quarters: Record<string, PeriodFigures> = {};
  for (const quarter of new Set(daysMs.map(quarterOf))) {
    const inQuarter = daysMs.map((d, i) => (quarterOf(d) === quarter ? i : -1)).filter((i) => i >= 0);
    quarters[quarter] = {
      billEur: inQuarter.reduce((sum, i) => sum + dailyBill[i]!.total, 0),
      settlementCostEur: inQuarter.reduce((sum, i) => sum + dailyCost[i]!.total, 0),
      kpis: gridKpis(inQuarter.map((i) => dayExchangeKw[i]!)),
    };
  }
  return { cost, bill, kpis, peakImportKw: kpis.peakKw, meanImportKw: kpis.meanImportKw, par: kpis.periodPar, violation, quarters };
}

export function summarise(run: ControllerRun, jointOver: readonly ChanceFamily[]): ControllerSummary {
  const households = run.households.map((h) => ({
    household: h.household,
    ...periodFigures(run.daysMs, h.days.map((day) => day.map((o) => o.gridKw)), h.dailyBill, h.dailyCost, h.bill, h.cost, violationRates(h.days, jointOver)),
  }));
  const hours = run.households[0]?.gridKw.length ?? 0;
  const dayCount = run.daysMs.length;
  const communityExchangeKw = Array.from({ length: dayCount }, (_, d) =>
    Array.from({ length: 24 }, (_, h) => run.households.reduce((sum, hh) => sum + hh.days[d]![h]!.gridKw, 0)));
  const communityCost = emptyCost();
  const communityBill = emptyBill();
  for (const h of run.households) {
    addCost(communityCost, h.cost);
    addBill(communityBill, h.bill);
  }
  const sumByDay = <T,>(pick: (h: HouseholdRun) => readonly T[], empty: () => T, add: (into: T, x: T) => void): T[] =>
    Array.from({ length: dayCount }, (_, d) => {
      const total = empty();
      for (const h of run.households) add(total, pick(h)[d]!);
      return total;
    });
  const communityDays = Array.from({ length: dayCount }, (_, d) => run.households.flatMap((h) => h.days[d]!));
  return {
    controller: run.controller,
    ...(run.radiusKw === undefined ? {} : { radiusKw: run.radiusKw }),
    households,
    community: periodFigures(run.daysMs, communityExchangeKw, sumByDay((h) => h.dailyBill, emptyBill, addBill), sumByDay((h) => h.dailyCost, emptyCost, addCost), communityBill, communityCost, violationRates(communityDays, jointOver)),
    meanHouseholdJointViolation: households.reduce((s, h) => s + h.violation.joint, 0) / Math.max(households.length, 1),
    solve: summariseSolves(run.households.flatMap((h) => h.solves)),
    hourly: {
      communityImportKw: communityExchangeKw.flat().map((g) => Math.max(g, 0)),
      energyKwh: Array.from({ length: hours }, (_, i) => run.households.reduce((sum, h) => sum + h.energyKwh[i]!, 0)),
    },
  };
}

/** One household's P2P energy per hour of the day (kW = kWh over the hour, + bought) and what it paid for P2P (EUR, − earned). */
interface HourTrades {
  tradeKw: number[];
  p2pEur: number;
}

/**
 * Settles the hour's P2P trades against the realised meters as the market does (src/market/settlement.ts):
 * the buyer pays for what its seller injected, plus the local-trade fee; a seller that injected
 * less compensates the buyer's real-time purchase. On the meter, traded energy is paid to the
 * peer, not the retailer: the seller's delivered energy and the buyer's drawn energy leave the
 * retailer's exchange.
 */
function settleHourTrades(trades: readonly { seller: number; buyer: number; energyKwh: number; priceEurPerKwh: number }[], outcomes: readonly StepOutcome[], realtimeBuyEurPerKwh: number, day: HourTrades[], hourOfDay: number): void {
  if (trades.length === 0) return;
  const terms = trades.map((t, k) => ({ tradeId: String(k), offerId: String(k), seller: String(t.seller), buyer: String(t.buyer), slotStartMs: 0, slotMinutes: 60, powerKw: t.energyKwh, priceEurPerKwh: t.priceEurPerKwh }));
  const meteredExportKwh = Object.fromEntries(outcomes.map((o, n) => [String(n), -o.gridKw]));
  const settled = settle(terms, meteredExportKwh, { gridFeeEurPerKwh: tariffParams.p2pGridFeeEurPerKwh, realtimeBuyEurPerKwh });
  for (const [n, position] of peerPositions(terms, settled)) {
    day[Number(n)]!.tradeKw[hourOfDay]! += position.energyKwh;
    day[Number(n)]!.p2pEur += position.paidEur;
  }
}
