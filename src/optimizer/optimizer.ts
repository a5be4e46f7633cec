/**
 * The receding-horizon optimizer: one object per control loop, keeping the solver's state (the
 * persistent HiGHS instances, or SCS's previous iterate) between steps so each solve is warm.
 * `solve` never throws for a bad instance or a solver failure: it returns a typed SolveResult.
 */
import type { SolverAdapter, SolverName, WarmStart } from './adapter.ts';
import { createHighsAdapter } from './highs-adapter.ts';
import { buildModel, DEFAULT_MODEL_OPTIONS, type ModelOptions, type QpModel } from './model.ts';
import { extractPlan } from './plan.ts';
import { createScsAdapter } from './scs-adapter.ts';
import type { Plan, ProblemInput, SolveResult } from './types.ts';
import { shiftedWarmStart } from './warm-start.ts';

export interface OptimizerOptions {
  /** Default 'highs' (measured faster on this model: docs/optimizer.md). */
  solver?: SolverName;
  /** Wall-clock budget per solve; a solver stopped by it reports 'time-limit'. Default 10 s. */
  timeBudgetMs?: number;
  model?: Partial<ModelOptions>;
  /** SCS's epsAbs = epsRel (default 1e-5); HiGHS's cutting planes stop at a certified gap of 1e-9 relative instead. */
  scsTolerance?: number;
  scsMaxIterations?: number;
  /** HiGHS cutting planes' certified gap (default 1e-9 relative and absolute, EUR). */
  highsGap?: { relative: number; absolute: number };
}

export interface SolveOptions {
  /** Gateway-clock instant of the measurement the input was built from (goes into Plan.startMs). */
  startMs?: number;
}

export interface Optimizer {
  readonly solver: SolverName;
  solve(input: ProblemInput, options?: SolveOptions): Promise<SolveResult>;
  /** The last plan a solve produced (for fallbackPlan), if any. */
  lastPlan(): Plan | undefined;
  /** WebAssembly memory held by the solver runtime (bytes). */
  memoryBytes(): number;
  /** Frees the solver instances (mandatory for HiGHS: its WebAssembly memory is not garbage-collected). */
  dispose(): void;
}

export function createOptimizer(options: OptimizerOptions = {}): Optimizer {
  const solverName = options.solver ?? 'highs';
  const scs = (): SolverAdapter =>
    createScsAdapter({
      ...(options.scsTolerance !== undefined ? { tolerance: options.scsTolerance } : {}),
      ...(options.scsMaxIterations !== undefined ? { maxIterations: options.scsMaxIterations } : {}),
    });
  const adapter: SolverAdapter =
    solverName === 'highs'
      ? createHighsAdapter({ rescue: scs(), ...(options.highsGap ? { relativeGap: options.highsGap.relative, absoluteGap: options.highsGap.absolute } : {}) })
      : scs();
  const timeBudgetMs = options.timeBudgetMs ?? 10_000;
  const modelOptions: ModelOptions = { ...DEFAULT_MODEL_OPTIONS, ...options.model };
  let last: { model: QpModel; solution: WarmStart; plan: Plan } | undefined;

  return {
    solver: solverName,
    lastPlan: () => last?.plan,
    memoryBytes: () => adapter.memoryBytes(),
    dispose: () => adapter.dispose(),
    async solve(input: ProblemInput, solveOptions: SolveOptions = {}): Promise<SolveResult> {
      const started = performance.now();
      const elapsed = (): number => performance.now() - started;
      let model: QpModel;
      try {
        model = buildModel(input, modelOptions);
      } catch (error) {
        return { ok: false, status: 'error', message: error instanceof Error ? error.message : String(error), solveMs: elapsed() };
      }
      // A solve for the same instant re-solves the same horizon (a community sharing round): start
      // from the last solution as it is; a later instant is the next receding step: shift it.
      const sameSize = last !== undefined && last.model.numCols === model.numCols && last.model.numRows === model.numRows;
      const sameHorizon = sameSize && last!.plan.startMs === (solveOptions.startMs ?? 0);
      const warm: WarmStart | undefined = !sameSize ? undefined : sameHorizon ? last!.solution : shiftedWarmStart(model, last!.solution);
      let result;
      try {
        result = await adapter.solve(model, warm, timeBudgetMs);
      } catch (error) {
        adapter.dispose();
        return { ok: false, status: 'error', message: `solver failed: ${error instanceof Error ? error.message : String(error)}`, solveMs: elapsed() };
      }
      if (result.status !== 'optimal' || !result.x || !result.rowDual || !result.colDual) {
        const status = result.status === 'optimal' ? 'numerical' : result.status;
        return { ok: false, status, message: `${adapter.name}: ${result.message}`, solveMs: elapsed() };
      }
      const solveMs = elapsed();
      const plan = extractPlan(input, model, result.x, result.rowDual, solveOptions.startMs ?? 0, {
        name: result.solvedBy ?? adapter.name,
        status: 'optimal',
        solveMs,
        ...(result.iterations !== undefined ? { iterations: result.iterations } : {}),
        warmStart: result.warmStart,
      });
      last = { model, solution: { x: result.x, rowDual: result.rowDual, colDual: result.colDual }, plan };
      return { ok: true, plan };
    },
  };
}
