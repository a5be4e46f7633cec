/**
 * Settings shared by everything that plans with the optimizer or scores its plans: the gateway
 * (config defaults, the hourly account) and the evaluation. They live here, below both, so the
 * gateway does not import the evaluation.
 */
import type { ChanceFamily, ProblemInput } from './types.ts';

export interface OptimizerSettings {
  epsilon: Partial<Record<ChanceFamily, number>>;
  weights: ProblemInput['weights'];
  /** What the import family protects: the billed peak (the contract's default) or the connection (docs/evaluation.md). */
  importLimit?: 'peak' | 'connection';
}

/** The default families of formulation.md §4 at ε = 0.05; wear and deferral weights chosen for the evaluation. */
export const defaultOptimizerSettings: OptimizerSettings = {
  epsilon: { import: 0.05, socMin: 0.05, socMax: 0.05 },
  weights: { batteryWearEurPerKw2h: 0.005, deferralEurPerKwh2: 0.01, scheduleDeviationEurPerKw2: 0 },
};

/**
 * The certified gap of a gateway's plans (HiGHS cutting planes; EUR, absolute and relative to the
 * objective), not the optimizer's default 1e-9 (kept for the validation against cvxopt and the
 * evaluation): a millionth of a euro per plan is far below anything a tariff bills, and it takes a
 * quarter fewer simplex iterations on a gateway's real solves, hourly plans and clearing rounds
 * alike (docs/optimizer.md, "The gateway's gap").
 */
export const gatewayHighsGapEur = { relative: 1e-6, absolute: 1e-6 } as const;

/**
 * A row counts as violated only beyond 1 W (1 Wh): the solvers meet rows to about 1e-6 (HiGHS,
 * after scaling) to 1e-3 (SCS) relative, and a plan with P̄ = 0 would otherwise "violate" its
 * import row on rounding noise. 1 W is far below anything a meter or a fuse sees.
 */
export const violationToleranceKw = 1e-3;
