/**
 * The closed loop: for one controller and each household, every test hour in order — decide,
 * step the plant on the real measured hour, settle the cost — then the day's demand charge.
 * The battery starts each household at 5 kWh on the first test day and carries its state over
 * (also across a dropped day: the gateway does not reset).
 */
import { battery, initialEnergyKwh } from '../data/assets.ts';
import type { ChanceFamily } from '../optimizer/types.ts';
import type { Controller, SolveRecord } from './controller.ts';
import { addCost, demandCharge, emptyCost, hourCost, peakToAverage, storedEnergyValueEurPerKwh, summariseSolves, violationRates, type CostBreakdown, type SolveSummary, type ViolationRates } from './metrics.ts';
import { Plant, type StepOutcome } from './plant.ts';
import type { HouseholdCase } from './scenario.ts';

export interface ControllerSpec {
  name: string;
  /** Wasserstein radius for the DRO/SAA controllers. */
  radiusKw?: number;
  create(household: HouseholdCase): Controller;
}

export interface HouseholdRun {
  household: string;
  /** Realised grid exchange of every test hour, in order (kW, + import). */
  gridKw: number[];
  energyKwh: number[];
  days: StepOutcome[][];
  cost: CostBreakdown;
  solves: SolveRecord[];
}

export interface ControllerRun {
  controller: string;
  radiusKw?: number;
  households: HouseholdRun[];
}

export async function runController(
  spec: ControllerSpec,
  cases: readonly HouseholdCase[],
  batteryWearEurPerKw2h: number,
  onStep: (household: string) => void,
): Promise<ControllerRun> {
  const households: HouseholdRun[] = [];
  for (const household of cases) {
    const controller = spec.create(household);
    const plant = new Plant(initialEnergyKwh, household.maxDelayHours);
    const run: HouseholdRun = { household: household.id, gridKw: [], energyKwh: [], days: [], cost: emptyCost(), solves: [] };
    try {
      for (const day of household.days) {
        const outcomes: StepOutcome[] = [];
        for (const [hourOfDay, hour] of day.hours.entries()) {
          const context = {
            household,
            hour,
            hourOfDay,
            energyKwh: plant.energyKwh,
            deferredKwh: plant.deferredKwh,
            deadlinesKwh: plant.deadlinesKwh(hour.realised.timeMs, hour.forecast.netLoadKw.length),
          };
          const decision = await controller.decide(context);
          if (decision.solve) run.solves.push(decision.solve);
          const outcome = plant.step(hour.realised, decision.command);
          controller.observe?.(context, outcome);
          const t = hour.tariff;
          addCost(run.cost, hourCost(outcome, {
            buyEurPerKwh: t.buyEurPerKwh[0]!, sellEurPerKwh: t.sellEurPerKwh[0]!,
            realtimeBuyEurPerKwh: t.realtimeBuyEurPerKwh[0]!, realtimeSellEurPerKwh: t.realtimeSellEurPerKwh[0]!,
          }, batteryWearEurPerKw2h));
          outcomes.push(outcome);
          run.gridKw.push(outcome.gridKw);
          run.energyKwh.push(outcome.energyKwh);
          onStep(household.id);
        }
        const charge = demandCharge(outcomes.map((o) => o.gridKw));
        run.cost.demandCharge += charge;
        run.cost.total += charge;
        run.days.push(outcomes);
      }
      const buyEurPerKwh = household.days.flatMap((d) => d.hours.map((h) => h.tariff.buyEurPerKwh[0]!));
      const finalKwh = run.energyKwh[run.energyKwh.length - 1] ?? initialEnergyKwh;
      run.cost.storedEnergy = -(finalKwh - initialEnergyKwh) * storedEnergyValueEurPerKwh(buyEurPerKwh, battery.dischargeEfficiency);
      run.cost.total += run.cost.storedEnergy;
    } finally {
      controller.dispose?.();
    }
    households.push(run);
  }
  return { controller: spec.name, ...(spec.radiusKw === undefined ? {} : { radiusKw: spec.radiusKw }), households };
}

export interface Figures {
  cost: CostBreakdown;
  peakImportKw: number;
  meanImportKw: number;
  par: number;
  violation: ViolationRates;
}

export interface ControllerSummary {
  controller: string;
  radiusKw?: number;
  households: (Figures & { household: string })[];
  /** Costs summed; peak and PAR on the hourly sum of the households' grid import; a day is violated if any household violated. */
  community: Figures;
  /** Joint violation averaged over the households (each household is one gateway). */
  meanHouseholdJointViolation: number;
  solve: SolveSummary;
  /** Every test hour in order: community import (kW) and battery SoC summed over households at the hour's end (kWh), for the figures. */
  hourly: { communityImportKw: number[]; energyKwh: number[] };
}

export function summarise(run: ControllerRun, jointOver: readonly ChanceFamily[]): ControllerSummary {
  const households = run.households.map((h) => ({
    household: h.household,
    cost: h.cost,
    ...peakToAverage(h.gridKw),
    violation: violationRates(h.days, jointOver),
  }));
  const hours = run.households[0]?.gridKw.length ?? 0;
  const communityImportKw = Array.from({ length: hours }, (_, i) => run.households.reduce((sum, h) => sum + Math.max(h.gridKw[i]!, 0), 0));
  const communityCost = emptyCost();
  for (const h of run.households) addCost(communityCost, h.cost);
  const dayCount = run.households[0]?.days.length ?? 0;
  const communityDays = Array.from({ length: dayCount }, (_, d) => run.households.flatMap((h) => h.days[d]!));
  return {
    controller: run.controller,
    ...(run.radiusKw === undefined ? {} : { radiusKw: run.radiusKw }),
    households,
    community: { cost: communityCost, ...peakToAverage(communityImportKw), violation: violationRates(communityDays, jointOver) },
    meanHouseholdJointViolation: households.reduce((s, h) => s + h.violation.joint, 0) / Math.max(households.length, 1),
    solve: summariseSolves(run.households.flatMap((h) => h.solves)),
    hourly: {
      communityImportKw,
      energyKwh: Array.from({ length: hours }, (_, i) => run.households.reduce((sum, h) => sum + h.energyKwh[i]!, 0)),
    },
  };
}
