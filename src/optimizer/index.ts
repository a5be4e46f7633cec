/** The optimizer's public surface (formulation: ../shared/docs/formulation.md; design: docs/optimizer.md). */
export { createOptimizer, type Optimizer, type OptimizerOptions, type SolveOptions } from './optimizer.ts';
export { fallbackPlan, type FollowedPlan } from './fallback.ts';
export { chanceRows, rowExcess, worstCaseCvar } from './chance.ts';
export { planCost } from './cost.ts';
export type { SolverName } from './adapter.ts';
export type * from './types.ts';
