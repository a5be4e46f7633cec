/**
 * The perfect-foresight bound on the metered bill: every midnight, the optimum over the next
 * `lookAheadDays` days of the household's realised load, PV, requests and prices (rolling with a
 * long look-ahead, evaluation.md "Additions"), followed for the day. Its objective is the bill:
 * energy at the tariff, the daily demand charge (per day of the horizon), wear, and the energy left
 * at the horizon's end valued as the evaluation values the battery's final energy — nothing
 * uncertain, so no real-time term and no chance constraint. Deadlines are cumulative, so serving
 * every request when it comes is always a plan: it is never infeasible.
 */
import { HOUR_MS } from '../../data/households.ts';
import type { Controller, Decision } from '../controller.ts';
import { storedEnergyValueEurPerKwh } from '../metrics.ts';
import type { HouseholdCase } from '../scenario.ts';
import { householdInput, realisedHorizon, solveOrFallBack, stepCommand, type HeldPlan, type Optimizer, type OptimizerSettings } from './optimizer.ts';

export const lookAheadDays = 3;

/** The bound's weights: the bill's wear, and a deferral weight small enough to only break ties. */
export function boundSettings(settings: OptimizerSettings): OptimizerSettings {
  return { epsilon: {}, weights: { ...settings.weights, deferralEurPerKwh2: 1e-6, scheduleDeviationEurPerKw2: 0 } };
}

/** The value of energy left in the battery, as the evaluation's stored-energy adjustment has it. */
export function storedValueEurPerKwh(household: HouseholdCase): number {
  return storedEnergyValueEurPerKwh(household.days.flatMap((d) => d.hours.map((h) => h.tariff.buyEurPerKwh[0]!)), household.battery.dischargeEfficiency);
}

/** Hours of realised data from `startMs` the horizon may use: `lookAheadDays` days, cut where data or prices end. */
export function boundSteps(household: HouseholdCase, startMs: number): number {
  return Math.max(24, Math.min(lookAheadDays * 24, (household.horizonEndMs - startMs) / HOUR_MS));
}

export function perfectForesight(optimizer: Optimizer, settings: OptimizerSettings): Controller {
  let held: HeldPlan | null = null;
  const bound = boundSettings(settings);
  return {
    async decide(context): Promise<Decision> {
      const { household, hour } = context;
      const nowMs = hour.realised.timeMs;
      if (context.hourOfDay !== 0 && held) return { command: stepCommand(held, Math.round((nowMs - held.solvedAtMs) / HOUR_MS), false, context.energyKwh) };
      const steps = boundSteps(household, nowMs);
      const horizon = realisedHorizon(household.realisedFrom(nowMs, steps), household.tariffFrom(nowMs, steps), storedValueEurPerKwh(household));
      const solved = await solveOrFallBack(optimizer, householdInput(context, horizon, bound), nowMs, held);
      held = solved.held;
      return { command: stepCommand(held, 0, false, context.energyKwh), solve: solved.record };
    },
    dispose() {
      optimizer.dispose?.();
    },
  };
}
