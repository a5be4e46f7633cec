/**
 * The optimizer-based controllers: certainty-equivalent MPC, SAA / DRO (one ρ each) in receding
 * horizon, and the perfect-foresight bound. Each hour (each day for perfect foresight) they
 * build a ProblemInput from what the gateway knows and apply step 0 of the plan; a failed or
 * throwing solve falls back to the optimizer's own fallbackPlan (the last plan shifted to now,
 * else the safe rule: battery idle, shiftable load as desired) — formulation.md §6.
 */
import { grid } from '../../data/assets.ts';
import { HOUR_MS } from '../../data/households.ts';
import { tariffParams } from '../../data/tariff.ts';
import { fallbackPlan, type ChanceFamily, type Plan, type ProblemInput, type SolveResult } from '../../optimizer/index.ts';
import { recedingProblemInput } from '../../optimizer/receding-input.ts';
import { type Controller, type Decision, type DecisionContext, type SolveRecord } from '../controller.ts';
import type { StepCommand } from '../plant.ts';

/** What the evaluation needs of the optimizer (src/optimizer/index.ts provides it). */
export interface Optimizer {
  solve(input: ProblemInput, options?: { startMs?: number }): Promise<SolveResult>;
  dispose?(): void;
}

export type OptimizerMode =
  | { kind: 'certainty-equivalent' }
  | { kind: 'dro'; radiusKw: number }
  | { kind: 'perfect-foresight' };

export interface OptimizerSettings {
  epsilon: Partial<Record<ChanceFamily, number>>;
  weights: ProblemInput['weights'];
}

/** The default families of formulation.md §4 at ε = 0.05; wear and deferral weights chosen for the evaluation. */
export const defaultOptimizerSettings: OptimizerSettings = {
  epsilon: { import: 0.05, socMin: 0.05, socMax: 0.05 },
  weights: { batteryWearEurPerKw2h: 0.005, deferralEurPerKwh2: 0.01, scheduleDeviationEurPerKw2: 0 },
};

interface HeldPlan {
  plan: Plan;
  netLoadForecastKw: number[];
  solvedAtMs: number;
}

export function optimizerController(mode: OptimizerMode, optimizer: Optimizer, settings: OptimizerSettings = defaultOptimizerSettings): Controller {
  let held: HeldPlan | null = null;
  // CE's samples are all zero, so its β is arbitrary: it applies β = 0 (deviations go to the grid).
  const useDecisionRule = mode.kind === 'dro';

  async function solve(context: DecisionContext, input: ProblemInput): Promise<SolveRecord> {
    const startMs = context.hour.realised.timeMs;
    const started = performance.now();
    let result: SolveResult;
    let unhandled = false;
    try {
      result = await optimizer.solve(input, { startMs });
    } catch (error) {
      unhandled = true;
      result = { ok: false, status: 'error', message: (error as Error).message, solveMs: performance.now() - started };
    }
    const solveMs = performance.now() - started;
    if (result.ok) {
      held = { plan: result.plan, netLoadForecastKw: input.netLoadForecastKw, solvedAtMs: startMs };
      return { solveMs, status: 'optimal', fallback: null, unhandled };
    }
    const previous = held && held.plan.startMs <= startMs ? held.plan : undefined;
    const plan = fallbackPlan(input, previous, startMs, result.status);
    held = { plan, netLoadForecastKw: input.netLoadForecastKw, solvedAtMs: startMs };
    const fallback = plan.solver.name === 'fallback:shifted-plan' ? 'shifted-plan' : 'safe-rule';
    return { solveMs, status: result.status, fallback, unhandled, message: result.message };
  }

  function command(context: DecisionContext, k: number): StepCommand {
    const { plan, netLoadForecastKw } = held!;
    return {
      netLoadForecastKw: netLoadForecastKw[k]!,
      scheduledGridKw: plan.gridImportKw[k]! - plan.gridExportKw[k]!,
      batteryKw: plan.dischargeKw[k]! - plan.chargeKw[k]!,
      decisionRule: useDecisionRule ? plan.decisionRule[k]! : 0,
      shiftableKw: plan.shiftableKw[k]!,
      plannedPeakKw: plan.peakImportKw ?? grid.maxImportKw,
      plannedEnergyNextKwh: plan.energyKwh[k + 1] ?? context.energyKwh,
    };
  }

  return {
    async decide(context): Promise<Decision> {
      // Perfect foresight solves once a day, at midnight, and follows that plan all day.
      if (mode.kind === 'perfect-foresight' && context.hourOfDay !== 0 && held) {
        return { command: command(context, Math.round((context.hour.realised.timeMs - held.solvedAtMs) / HOUR_MS)) };
      }
      const record = await solve(context, problemInput(context, mode, settings));
      return { command: command(context, 0), solve: record };
    },
    dispose() {
      optimizer.dispose?.();
    },
  };
}

function problemInput(context: DecisionContext, mode: OptimizerMode, settings: OptimizerSettings): ProblemInput {
  const { hour, household } = context;
  const steps = hour.forecast.netLoadKw.length;
  const realised = mode.kind === 'perfect-foresight' ? household.realisedFrom(hour.realised.timeMs, steps) : null;
  // The request of the hour is known when it is made (the appliance is started); later ones are forecast.
  const desiredKw = realised ? realised.map((r) => r.requestKw) : [hour.realised.requestKw, ...hour.forecast.shiftableKw.slice(1)];
  // Known demand by deadline hour: the queue, the request of this hour, and for perfect foresight all.
  const dueKwh = [...context.deadlinesKwh];
  const knownRequests = realised ? steps : 1;
  for (let j = 0; j < knownRequests; j++) {
    const k = j + household.maxDelayHours;
    if (k < steps) dueKwh[k]! += desiredKw[j]!;
  }
  return recedingProblemInput({
    stepHours: new Array<number>(steps).fill(1),
    netLoadForecastKw: realised ? realised.map((r) => r.inflexibleKw - r.pvKw) : hour.forecast.netLoadKw,
    errorSamplesKw: mode.kind === 'dro' ? hour.samplesKw : null,
    tariff: { ...hour.tariff, peakEurPerKw: tariffParams.demandChargeEurPerKwDay },
    battery: household.battery,
    grid,
    energyKwh: context.energyKwh,
    shiftable: { deferredKwh: context.deferredKwh, desiredKw, dueKwh, maxDeferredKwh: household.maxDeferredKwh },
    chance: { radiusKw: mode.kind === 'dro' ? mode.radiusKw : 0, method: 'joint', epsilon: settings.epsilon },
    weights: settings.weights,
  });
}
