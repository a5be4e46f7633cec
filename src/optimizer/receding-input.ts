/**
 * One receding-horizon step's ProblemInput from what a gateway knows at that instant: forecasts,
 * error samples, prices, measured state and the shiftable queue. The evaluation's optimizer
 * controllers and the runtime's planner both build their inputs here, so the two solve the same
 * problem from the same kind of knowledge.
 */
import type { BatteryParams, ChanceFamily, ChanceMethod, PeerTrade, ProblemInput, Tariff } from './types.ts';

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
  chance: { radiusKw: number; method: ChanceMethod; epsilon: Partial<Record<ChanceFamily, number>> };
  weights: ProblemInput['weights'];
}

export function recedingProblemInput(k: RecedingKnowledge): ProblemInput {
  const { stepHours, shiftable } = k;
  const { desiredKw } = shiftable;
  const steps = stepHours.length;
  const serveAllKwh = shiftable.deferredKwh + desiredKw[0]! * stepHours[0]!;
  // Deadlines as per-step minimums: every known demand must be served by its deadline step. Serving
  // it exactly then is always feasible; the plant (or the relays) would force it anyway (the
  // optimizer's s_t has no deadline of its own).
  const minKw = shiftable.dueKwh.map((kwh, t) => kwh / stepHours[t]!);
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
      minKw,
      maxKw: desiredKw.map((d, t) => (t === 0 ? serveAllKwh / stepHours[0]! : Math.max(d + maxDeferredKwh / stepHours[t]!, minKw[t]!))),
      maxDeferredKwh,
    },
    ...(k.peers && k.peers.length > 0 ? { peers: k.peers } : {}),
    grid: k.grid,
    initial: { energyKwh: k.energyKwh, deferredKwh: shiftable.deferredKwh },
    chance: certaintyEquivalent ? { radiusKw: 0, method: k.chance.method, epsilon: {} } : k.chance,
    weights: k.weights,
  };
}
