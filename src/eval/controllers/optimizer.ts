/**
 * The optimizer-based controllers in receding horizon: certainty-equivalent MPC and SAA / DRO (one
 * ρ each). Each hour they build a ProblemInput from what the gateway knows and apply step 0 of the
 * plan; a failed or throwing solve falls back to the optimizer's own fallbackPlan (the last plan
 * shifted to now, else the safe rule: battery idle, shiftable load as desired) — formulation.md §6.
 * The helpers here (input, solve with fallback, step command) are shared with the perfect-foresight
 * bound and the community controllers.
 */
import { grid } from '../../data/assets.ts';
import { HOUR_MS } from '../../data/households.ts';
import { tariffParams, type TariffArrays } from '../../data/tariff.ts';
import { fallbackPlan, type Plan, type ProblemInput, type SolveResult } from '../../optimizer/index.ts';
import { recedingProblemInput } from '../../optimizer/receding-input.ts';
import { defaultOptimizerSettings, type OptimizerSettings } from '../../optimizer/settings.ts';
import { type Controller, type Decision, type DecisionContext, type SolveRecord } from '../controller.ts';
import type { RealisedHour, StepCommand } from '../../household/plant.ts';

/** What the evaluation needs of the optimizer (src/optimizer/index.ts provides it). */
export interface Optimizer {
  solve(input: ProblemInput, options?: { startMs?: number }): Promise<SolveResult>;
  dispose?(): void;
}

export type OptimizerMode = { kind: 'certainty-equivalent' } | { kind: 'dro'; radiusKw: number };

// The settings live below the gateway and the evaluation (the gateway's config defaults use them).
export { defaultOptimizerSettings, type OptimizerSettings } from '../../optimizer/settings.ts';

/** A plan being followed and the forecast it was solved for. */
export interface HeldPlan {
  plan: Plan;
  netLoadForecastKw: number[];
  solvedAtMs: number;
  /** The import row's limit the plan was solved with (the plant scores that row against it). */
  importLimit?: 'peak' | 'connection';
  /** The plan priced a daily peak (a demand charge): its P̄_d is the fast loop's peak guard. */
  peakPriced?: boolean;
}

/** Solves; on a typed failure or a throw, the fallback plan of formulation.md §6 (never throws). */
export async function solveOrFallBack(optimizer: Optimizer, input: ProblemInput, startMs: number, previous: HeldPlan | null): Promise<{ held: HeldPlan; record: SolveRecord }> {
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
  return planOrFallBack(result, input, startMs, previous, solveMs, unhandled);
}

/** The plan of a solve result, or the fallback plan when it failed. */
export function planOrFallBack(result: SolveResult, input: ProblemInput, startMs: number, previous: HeldPlan | null, solveMs: number, unhandled = false): { held: HeldPlan; record: SolveRecord } {
  const importLimit = input.chance.importLimit ?? 'peak';
  const peakPriced = (input.tariff.peakEurPerKw ?? 0) > 0;
  if (result.ok) return { held: { plan: result.plan, netLoadForecastKw: input.netLoadForecastKw, solvedAtMs: startMs, importLimit, peakPriced }, record: { solveMs, status: 'optimal', fallback: null, unhandled } };
  const plan = fallbackPlan(input, previous && previous.plan.startMs <= startMs ? previous.plan : undefined, startMs, result.status);
  const fallback = plan.solver.name === 'fallback:shifted-plan' ? 'shifted-plan' : 'safe-rule';
  return { held: { plan, netLoadForecastKw: input.netLoadForecastKw, solvedAtMs: startMs, importLimit, peakPriced }, record: { solveMs, status: result.status, fallback, unhandled, message: result.message } };
}

/** Step k of a held plan as the plant's command; β only for a controller that applies its decision rule. */
export function stepCommand(held: HeldPlan, k: number, useDecisionRule: boolean, energyKwh: number): StepCommand {
  const { plan, netLoadForecastKw } = held;
  return {
    netLoadForecastKw: netLoadForecastKw[k]!,
    scheduledGridKw: plan.gridImportKw[k]! - plan.gridExportKw[k]!,
    batteryKw: plan.dischargeKw[k]! - plan.chargeKw[k]!,
    decisionRule: useDecisionRule ? plan.decisionRule[k]! : 0,
    shiftableKw: plan.shiftableKw[k]!,
    plannedPeakKw: held.importLimit === 'connection' ? grid.maxImportKw : plan.peakImportByDayKw?.[dayOfStep(held, k)] ?? plan.peakImportKw ?? grid.maxImportKw,
    plannedEnergyNextKwh: plan.energyKwh[k + 1] ?? energyKwh,
    // A controller that reacts in real time also holds the import to the day's peak its plan pays for.
    ...(useDecisionRule && held.peakPriced && plan.peakImportByDayKw ? { peakGuardKw: plan.peakImportByDayKw[dayOfStep(held, k)]! } : {}),
  };
}

/** Index of the day (of the plan's per-day peaks) that step k of a plan solved at `solvedAtMs` falls in. */
function dayOfStep(held: HeldPlan, k: number): number {
  const solvedDayMs = held.solvedAtMs - (held.solvedAtMs % (24 * HOUR_MS));
  return Math.floor((held.solvedAtMs + k * HOUR_MS - solvedDayMs) / (24 * HOUR_MS));
}

export interface HorizonData {
  /** μ_t (kW): a forecast, or the realised inflexible load − PV for a clairvoyant plan. */
  netLoadKw: number[];
  /** f̂_t (kW). */
  desiredKw: number[];
  /** Requests whose time is known (their deadline is planned): 1 for a gateway, all for a clairvoyant plan. */
  knownRequests: number;
  tariff: TariffArrays;
  samplesKw: number[][] | null;
  radiusKw: number;
  terminalEnergyEurPerKwh?: number;
}

/**
 * The household's ProblemInput at the hour of `context` over `data`'s horizon: the household's
 * battery, its queue with cumulative deadlines, and its daily demand charge per UTC day of the
 * horizon, less what today's peak so far has already made due.
 */
export function householdInput(context: DecisionContext, data: HorizonData, settings: OptimizerSettings): ProblemInput {
  const { household } = context;
  const steps = data.netLoadKw.length;
  const dueKwh = context.deadlinesKwh.slice(0, steps);
  while (dueKwh.length < steps) dueKwh.push(0);
  for (let j = 0; j < data.knownRequests; j++) {
    const k = j + household.maxDelayHours;
    if (k < steps) dueKwh[k]! += data.desiredKw[j]!;
  }
  const peakDayOfStep = Array.from({ length: steps }, (_, k) => Math.floor((context.hourOfDay + k) / 24));
  const input = recedingProblemInput({
    stepHours: new Array<number>(steps).fill(1),
    netLoadForecastKw: data.netLoadKw,
    errorSamplesKw: data.samplesKw,
    tariff: {
      ...data.tariff,
      peakEurPerKw: tariffParams.demandChargeEurPerKwDay,
      peakDayOfStep,
      peakSoFarKw: Array.from({ length: peakDayOfStep[steps - 1]! + 1 }, (_, d) => (d === 0 ? context.peakSoFarKw : 0)),
    },
    battery: household.battery,
    grid,
    energyKwh: context.energyKwh,
    shiftable: { deferredKwh: context.deferredKwh, desiredKw: data.desiredKw, dueKwh, maxDeferredKwh: household.maxDeferredKwh },
    chance: { radiusKw: data.radiusKw, method: 'joint', epsilon: settings.epsilon, ...(settings.importLimit ? { importLimit: settings.importLimit } : {}) },
    weights: { ...settings.weights, ...(data.terminalEnergyEurPerKwh === undefined ? {} : { terminalEnergyEurPerKwh: data.terminalEnergyEurPerKwh }) },
  });
  return input;
}

/** What a gateway knows at the hour: the forecast, its samples, the day-ahead prices, the request made now. */
export function forecastHorizon(context: DecisionContext, mode: OptimizerMode): HorizonData {
  const { hour } = context;
  return {
    netLoadKw: hour.forecast.netLoadKw,
    // The request of the hour is known when it is made (the appliance is started); later ones are forecast.
    desiredKw: [hour.realised.requestKw, ...hour.forecast.shiftableKw.slice(1)],
    knownRequests: 1,
    tariff: hour.tariff,
    samplesKw: mode.kind === 'dro' ? hour.samplesKw : null,
    radiusKw: mode.kind === 'dro' ? mode.radiusKw : 0,
  };
}

/** The realised hours as a clairvoyant horizon (no samples: nothing is uncertain). */
export function realisedHorizon(realised: readonly RealisedHour[], tariff: TariffArrays, terminalEnergyEurPerKwh: number): HorizonData {
  return {
    netLoadKw: realised.map((r) => r.inflexibleKw - r.pvKw),
    desiredKw: realised.map((r) => r.requestKw),
    knownRequests: realised.length,
    tariff,
    samplesKw: null,
    radiusKw: 0,
    terminalEnergyEurPerKwh,
  };
}

export function optimizerController(mode: OptimizerMode, optimizer: Optimizer, settings: OptimizerSettings = defaultOptimizerSettings): Controller {
  let held: HeldPlan | null = null;
  // CE's samples are all zero, so its β is arbitrary: it applies β = 0 (deviations go to the grid).
  const useDecisionRule = mode.kind === 'dro';
  return {
    async decide(context): Promise<Decision> {
      const solved = await solveOrFallBack(optimizer, householdInput(context, forecastHorizon(context, mode), settings), context.hour.realised.timeMs, held);
      held = solved.held;
      return { command: stepCommand(held, 0, useDecisionRule, context.energyKwh), solve: solved.record };
    },
    dispose() {
      optimizer.dispose?.();
    },
  };
}
