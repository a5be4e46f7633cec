/**
 * HiGHS (WebAssembly, `highs` 1.15) through its persistent model API.
 *
 * Two persistent instances with the same constraints: an LP (no Hessian) and the QP. The QP goes to
 * HiGHS's active-set solver, which needs a feasible start; the LP gives it one (solution + basis,
 * `qp_allow_hot_start`). Between receding-horizon steps the pattern is unchanged, so the instances
 * are kept: the LP is updated in place (costs, bounds, the changed matrix coefficients) and keeps its
 * simplex basis, which is the warm start; the QP's numbers are replaced in bulk and the hot start is
 * installed after that (passing a model or Hessian clears solution and basis). If the active-set
 * QP does not finish (it cycles on some degenerate instances), `rescue` solves the model instead,
 * warm-started from the LP optimum. Pitfalls handled (../shared/docs/solver-notes.md):
 * `time_limit` counts cumulatively per instance (zeroAllClocks before each run), `run()` throws on
 * solver errors (caught, reported as 'numerical'), WebAssembly memory is only returned by dispose().
 */
import highsModule, { type Highs, type Model, type ModelData } from 'highs';
import { samePattern, type AdapterResult, type SolverAdapter, type WarmStart } from './adapter.ts';
import type { QpModel } from './model.ts';
import { scaleRows, unscaleDuals } from './scaling.ts';
import type { SolveStatus } from './types.ts';

// The package's typings are CommonJS-flavoured (default = the module object) while Node's ESM
// import gets highs.mjs, whose default export is the loader itself.
const loadHighs = highsModule as unknown as typeof highsModule.default;
let runtime: Promise<Highs> | undefined;
function highsRuntime(): Promise<Highs> {
  runtime ??= loadHighs();
  return runtime;
}

interface Instances {
  lp: Model;
  qp: Model;
  /** The scaled model the instances currently hold (to send only what changed). */
  held: QpModel;
  solvedOnce: boolean;
}

const LP_SETTINGS = { output_flag: false };
const QP_SETTINGS = {
  output_flag: false,
  // The active-set QP solver stalls on this model's tiny dual residuals at the default 1e-7.
  dual_feasibility_tolerance: 1e-5,
  qp_allow_hot_start: true,
};

export interface HighsOptions {
  /**
   * Solves the model when HiGHS's active-set QP does not finish (it cycles on some degenerate
   * instances, even tiny ones: docs/optimizer.md), warm-started from HiGHS's LP optimum.
   */
  rescue?: SolverAdapter;
}

export function createHighsAdapter(options: HighsOptions = {}): SolverAdapter {
  let highs: Highs | undefined;
  let held: Instances | undefined;

  const release = (): void => {
    held?.lp.dispose();
    held?.qp.dispose();
    held = undefined;
  };

  return {
    name: 'highs',
    memoryBytes: () => (highs?.memoryBytes ?? 0) + (options.rescue?.memoryBytes() ?? 0),
    dispose: () => {
      release();
      options.rescue?.dispose();
    },
    async solve(model: QpModel, _warm: WarmStart | undefined, timeBudgetMs: number): Promise<AdapterResult> {
      highs ??= await highsRuntime();
      const started = performance.now();
      const { model: scaled, rowScale } = scaleRows(model);
      let warmStart = false;
      try {
        if (held && samePattern(held.held, scaled)) {
          updateInPlace(held, scaled);
          warmStart = held.solvedOnce;
        } else {
          release();
          held = create(highs, scaled);
        }
        const inst = held;
        const remainingS = (): number => Math.max(1e-3, (timeBudgetMs - (performance.now() - started)) / 1000);

        const lpStatus = run(highs, inst.lp, remainingS());
        if (lpStatus !== 'optimal') return failure(lpStatus, `LP phase: ${describe(highs, inst.lp)}`, warmStart);
        inst.solvedOnce = true;
        const lpSolution = inst.lp.getSolution();
        let solved = inst.lp;
        let iterations = Number(inst.lp.info.get('simplex_iteration_count'));
        if (scaled.hessianDiag.some((v) => v !== 0)) {
          inst.qp.clearSolver();
          inst.qp.setSolution({ colValue: lpSolution.colValue });
          inst.qp.setBasis(inst.lp.getBasis());
          // Cycling shows as an endless run of iterations. Good solves here need a few hundred
          // (well under n), so cap the iterations at max(1000, n) and the time at half of what is
          // left, which keeps time for the rescue.
          inst.qp.options.set({ qp_iteration_limit: Math.max(1000, model.numCols) });
          const qpStatus = run(highs, inst.qp, options.rescue ? remainingS() / 2 : remainingS());
          if (qpStatus !== 'optimal') {
            const reason = `QP phase: ${describe(highs, inst.qp)}`;
            if (!options.rescue || qpStatus === 'infeasible') return failure(qpStatus, reason, warmStart);
            const lpDuals = { x: Float64Array.from(lpSolution.colValue), rowDual: unscaleDuals(Float64Array.from(lpSolution.rowDual), rowScale), colDual: Float64Array.from(lpSolution.colDual) };
            const rescued = await options.rescue.solve(model, lpDuals, timeBudgetMs - (performance.now() - started));
            return { ...rescued, message: `${reason}; rescued by ${options.rescue.name}: ${rescued.message}`, solvedBy: `highs-lp+${options.rescue.name}` };
          }
          solved = inst.qp;
          iterations += Number(inst.qp.info.get('qp_iteration_count'));
        }
        const solution = solved.getSolution();
        const dualOk = Number(solved.info.get('dual_solution_status')) === 2;
        return {
          status: 'optimal',
          message: 'optimal',
          x: Float64Array.from(solution.colValue),
          rowDual: dualOk ? unscaleDuals(Float64Array.from(solution.rowDual), rowScale) : new Float64Array(model.numRows).fill(NaN),
          colDual: Float64Array.from(solution.colDual),
          iterations,
          warmStart,
        };
      } catch (error) {
        // A throwing run() can leave the instance in any state: rebuild next time.
        release();
        return failure('numerical', `HiGHS threw: ${error instanceof Error ? error.message : String(error)}`, warmStart);
      }
    },
  };
}

function failure(status: SolveStatus, message: string, warmStart: boolean): AdapterResult {
  return { status: status === 'optimal' ? 'numerical' : status, message, warmStart };
}

function modelData(model: QpModel, withHessian: boolean): ModelData {
  const base: ModelData = {
    numCols: model.numCols,
    numRows: model.numRows,
    colCost: model.cost,
    colLower: model.colLower,
    colUpper: model.colUpper,
    rowLower: model.rowLower,
    rowUpper: model.rowUpper,
    matrix: { format: 'csc', numRows: model.numRows, numCols: model.numCols, starts: model.colStarts, indices: model.rowIndex, values: model.values },
  };
  return withHessian ? { ...base, hessian: hessian(model) } : base;
}

function hessian(model: QpModel): NonNullable<ModelData['hessian']> {
  // Only the non-zero diagonal: explicit zeros make the active-set solver treat those columns as
  // curved, and it then stalls (measured: 13 ms without them, time limit with). The neutral model
  // keeps its fixed pattern; this only changes what HiGHS is told.
  const n = model.numCols;
  const starts = new Int32Array(n + 1);
  const indices: number[] = [];
  const values: number[] = [];
  for (let j = 0; j < n; j++) {
    if (model.hessianDiag[j] !== 0) {
      indices.push(j);
      values.push(model.hessianDiag[j]!);
    }
    starts[j + 1] = indices.length;
  }
  return { format: 'triangular', dimension: n, starts, indices: Int32Array.from(indices), values: Float64Array.from(values) };
}

function create(highs: Highs, model: QpModel): Instances {
  const lp = highs.createModel(modelData(model, false));
  const qp = highs.createModel(modelData(model, true));
  lp.options.set(LP_SETTINGS);
  qp.options.set(QP_SETTINGS);
  return { lp, qp, held: model, solvedOnce: false };
}

/**
 * The LP is updated in place (its simplex basis survives: the warm start). The QP gets its numbers
 * in one bulk `passModel` on the same instance: it is hot-started from the LP anyway, and that was
 * as fast as thousands of `changeCoefficient` calls (~8 µs each) plus `passHessian`.
 */
function updateInPlace(inst: Instances, model: QpModel): void {
  const all = { kind: 'range', from: 0, to: model.numCols - 1 } as const;
  const allRows = { kind: 'range', from: 0, to: model.numRows - 1 } as const;
  const old = inst.held;
  inst.lp.changeColsCost(all, model.cost);
  inst.lp.changeColsBounds(all, model.colLower, model.colUpper);
  inst.lp.changeRowsBounds(allRows, model.rowLower, model.rowUpper);
  for (let col = 0; col < model.numCols; col++) {
    for (let k = model.colStarts[col]!; k < model.colStarts[col + 1]!; k++) {
      if (model.values[k] !== old.values[k]) inst.lp.changeCoefficient(model.rowIndex[k]!, col, model.values[k]!);
    }
  }
  inst.qp.passModel(modelData(model, true));
  inst.held = model;
}

function run(highs: Highs, m: Model, timeLimitS: number): SolveStatus {
  m.zeroAllClocks();
  m.options.set({ time_limit: timeLimitS });
  let status: number;
  try {
    status = m.run().modelStatus;
  } catch {
    status = m.getModelStatus();
    if (status === highs.constants.modelStatus.optimal) return 'optimal';
    return status === highs.constants.modelStatus.timeLimit ? 'time-limit' : 'numerical';
  }
  const codes = highs.constants.modelStatus;
  switch (status) {
    case codes.optimal:
      return 'optimal';
    case codes.infeasible:
      return 'infeasible';
    case codes.unboundedOrInfeasible:
      // Every column with a cost is bounded or bounded through its rows, so the LP cannot be
      // unbounded: presolve's "infeasible or unbounded" is an infeasibility here.
      return 'infeasible';
    case codes.unbounded:
      return 'unbounded';
    case codes.timeLimit:
      return 'time-limit';
    case codes.iterationLimit:
      return 'numerical';
    default:
      return 'error';
  }
}

function describe(highs: Highs, m: Model): string {
  const status = m.getModelStatus();
  const name = Object.entries(highs.constants.modelStatus).find(([, v]) => v === status)?.[0] ?? String(status);
  return `HiGHS model status ${name}`;
}
