/**
 * One receding-horizon step's ProblemInput from what a gateway knows at that instant: forecasts,
 * error samples, prices, measured state and the shiftable queue. The evaluation's optimizer
 * controllers and the runtime's planner both build their inputs here, so the two solve the same
 * problem from the same kind of knowledge.
 */
import type { BatteryParams, PeerTrade, ProblemInput, Tariff } from './types.ts';

export interface RecedingKnowledge {
  stepHours: number[];
  /** μ_t (kW). */
  netLoadForecastKw: number[];
  /** ξ̂ⁱ (I × T, kW); null: certainty-equivalent (one all-zero sample, ρ = 0, no chance constraints). */
  errorSamplesKw: number[][] | null;
  tariff: Tariff;
  battery: BatteryParams;
  grid: { maxImportKw: number; maxExportKw: number };
  /** e₀ (kWh). */
  energyKwh: number;
  shiftable: {
    /** s₀: requested before this step and not yet served (kWh). */
    deferredKwh: number;
    /** f̂_t (kW): step 0 the demand already requested in it, later steps forecast. */
    desiredKw: number[];
    /** Known demand whose deadline falls in step t (kWh): it must be served by the end of that step. */
    dueKwh: number[];
    /** S^max (kWh) as configured; raised to s₀ + f̂₀Δt₀ when more than that is already waiting. */
    maxDeferredKwh: number;
  };
  peers?: PeerTrade[];
  chance: ProblemInput['chance'];
  weights: ProblemInput['weights'];
}

export function recedingProblemInput(k: RecedingKnowledge): ProblemInput {
  const { stepHours, shiftable } = k;
  const { desiredKw } = shiftable;
  const steps = stepHours.length;
  const serveAllKwh = shiftable.deferredKwh + desiredKw[0]! * stepHours[0]!;
  // Deadlines are cumulative: by the end of step t everything due by then is served, whenever it
  // was. Serving a request when it comes (s = 0) is always feasible, so no deadline can make the
  // problem infeasible, and the optimizer is free to serve early (a per-step minimum would not be).
  const enteredKwh: number[] = [];
  const deferredCapKwh: number[] = [];
  let entered = shiftable.deferredKwh;
  let due = 0;
  for (let t = 0; t < steps; t++) {
    entered += desiredKw[t]! * stepHours[t]!;
    due += shiftable.dueKwh[t]!;
    enteredKwh.push(entered);
    deferredCapKwh.push(Math.max(0, entered - due));
  }
  const maxDeferredKwh = Math.max(shiftable.maxDeferredKwh, serveAllKwh);
  const certaintyEquivalent = k.errorSamplesKw === null;
  return {
    stepHours,
    netLoadForecastKw: k.netLoadForecastKw,
    errorSamplesKw: k.errorSamplesKw ?? [new Array<number>(steps).fill(0)],
    tariff: k.tariff,
    battery: k.battery,
    shiftable: {
      desiredKw,
      minKw: desiredKw.map(() => 0),
      // Nothing can be served before it is requested.
      maxKw: enteredKwh.map((kwh, t) => kwh / stepHours[t]!),
      maxDeferredKwh,
      deferredCapKwh,
    },
    ...(k.peers && k.peers.length > 0 ? { peers: k.peers } : {}),
    grid: k.grid,
    initial: { energyKwh: k.energyKwh, deferredKwh: shiftable.deferredKwh },
    chance: certaintyEquivalent ? { radiusKw: 0, method: k.chance.method, epsilon: {} } : k.chance,
    weights: k.weights,
  };
}
