/**
 * SCS (WebAssembly, `scs-solver` 1.0, SCS 3): min ½xᵀPx + cᵀx s.t. A'x + s = b, s ∈ K.
 *
 * Mapping of `l ≤ Ax ≤ u`, `colLower ≤ x ≤ colUpper`: equality rows go to the zero cone, every other
 * bounded row and every bounded column to one box cone {(t, s): t·l ≤ s ≤ t·u} whose first entry is
 * pinned to t = 1. With A' = −A (and b = −rhs on equalities, 0 on box rows) s equals the row
 * activity and SCS's dual y is exactly ∂objective/∂bound, the same sign as HiGHS's row duals.
 *
 * SCS has no persistent workspace in this binding: every solve is setup + iterate. The warm start
 * is the previous (x, y, s) shifted by one receding step.
 */
import createSCS, { type ScsModule, type ScsSolution } from 'scs-solver';
import type { AdapterResult, SolverAdapter, WarmStart } from './adapter.ts';
import type { QpModel } from './model.ts';
import { scaleRows, unscaleDuals } from './scaling.ts';

let runtime: Promise<ScsModule> | undefined;

export interface ScsOptions {
  /** epsAbs = epsRel. 1e-5 gives objectives within ~1e-6 relative of an exact QP solver here. */
  tolerance?: number;
  /** Iteration cap (SCS default 1e5); the time budget usually stops it first. */
  maxIterations?: number;
}

interface Layout {
  /** Model row → SCS row (or −1 for free rows, which are dropped). */
  rowTo: Int32Array;
  /** Model column → SCS row of its bound (−1 for a free column). */
  colTo: Int32Array;
  zero: number;
  m: number;
}

function layout(model: QpModel): Layout {
  const rowTo = new Int32Array(model.numRows).fill(-1);
  const colTo = new Int32Array(model.numCols).fill(-1);
  let zero = 0;
  for (let r = 0; r < model.numRows; r++) if (model.rowLower[r] === model.rowUpper[r]) rowTo[r] = zero++;
  let next = zero + 1; // the box's t row
  for (let r = 0; r < model.numRows; r++) {
    if (rowTo[r] === -1 && (Number.isFinite(model.rowLower[r]!) || Number.isFinite(model.rowUpper[r]!))) rowTo[r] = next++;
  }
  for (let j = 0; j < model.numCols; j++) {
    if (Number.isFinite(model.colLower[j]!) || Number.isFinite(model.colUpper[j]!)) colTo[j] = next++;
  }
  return { rowTo, colTo, zero, m: next };
}

export function createScsAdapter(options: ScsOptions = {}): SolverAdapter {
  let scs: ScsModule | undefined;
  const tolerance = options.tolerance ?? 1e-5;
  return {
    name: 'scs',
    memoryBytes: () => scs?.HEAP8.buffer.byteLength ?? 0,
    // Nothing persists between calls: SCS frees its workspace at the end of each solve.
    dispose: () => {},
    async solve(original: QpModel, warm: WarmStart | undefined, timeBudgetMs: number): Promise<AdapterResult> {
      runtime ??= createSCS();
      scs ??= await runtime;
      const { model, rowScale } = scaleRows(original);
      const lay = layout(model);
      const { rowTo, colTo, zero, m } = lay;
      const n = model.numCols;

      const Ap = new Int32Array(n + 1);
      const Ai: number[] = [];
      const Ax: number[] = [];
      for (let j = 0; j < n; j++) {
        const from = model.colStarts[j]!;
        const to = model.colStarts[j + 1]!;
        // Zero-cone rows precede box rows, and the map is increasing inside each: two passes keep
        // every column's row indices sorted.
        for (const wantZero of [true, false]) {
          for (let k = from; k < to; k++) {
            const target = rowTo[model.rowIndex[k]!]!;
            if (target === -1 || target < zero !== wantZero) continue;
            Ai.push(target);
            Ax.push(-model.values[k]!);
          }
        }
        if (colTo[j] !== -1) {
          Ai.push(colTo[j]!);
          Ax.push(-1);
        }
        Ap[j + 1] = Ai.length;
      }
      const b = new Float64Array(m);
      const boxLower = new Float64Array(m - zero - 1);
      const boxUpper = new Float64Array(m - zero - 1);
      b[zero] = 1;
      for (let r = 0; r < model.numRows; r++) {
        const target = rowTo[r]!;
        if (target === -1) continue;
        if (target < zero) b[target] = -model.rowLower[r]!;
        else {
          boxLower[target - zero - 1] = model.rowLower[r]!;
          boxUpper[target - zero - 1] = model.rowUpper[r]!;
        }
      }
      for (let j = 0; j < n; j++) {
        if (colTo[j] === -1) continue;
        boxLower[colTo[j]! - zero - 1] = model.colLower[j]!;
        boxUpper[colTo[j]! - zero - 1] = model.colUpper[j]!;
      }
      const Pp = new Int32Array(n + 1);
      const Pi: number[] = [];
      const Px: number[] = [];
      for (let j = 0; j < n; j++) {
        if (model.hessianDiag[j] !== 0) {
          Pi.push(j);
          Px.push(model.hessianDiag[j]!);
        }
        Pp[j + 1] = Pi.length;
      }

      const settings = new scs.ScsSettings();
      scs.setDefaultSettings(settings);
      settings.verbose = 0;
      settings.epsAbs = tolerance;
      settings.epsRel = tolerance;
      settings.timeLimitSecs = timeBudgetMs / 1000;
      if (options.maxIterations !== undefined) settings.maxIters = options.maxIterations;
      settings.warmStart = warm !== undefined;
      const data = { m, n, A_x: Ax, A_i: Ai, A_p: Ap, P_x: Px, P_i: Pi, P_p: Pp, b, c: model.cost };
      const cone = { z: zero, l: 0, bl: boxLower, bu: boxUpper, bsize: m - zero };
      const started = performance.now();
      let solution: ScsSolution;
      try {
        solution = warm ? scs.solve(data, cone, settings, warmVectors(model, lay, warm, rowScale)) : scs.solve(data, cone, settings);
      } catch (error) {
        return { status: 'numerical', message: `SCS threw: ${error instanceof Error ? error.message : String(error)}`, warmStart: warm !== undefined };
      }
      const elapsedMs = performance.now() - started;
      const base = { iterations: solution.info.iter, warmStart: warm !== undefined };
      if (solution.status !== 'SOLVED' || !solution.x || !solution.y) {
        const status = solution.status.startsWith('INFEASIBLE')
          ? 'infeasible'
          : solution.status.startsWith('UNBOUNDED')
            ? 'unbounded'
            : elapsedMs >= 0.95 * timeBudgetMs
              ? 'time-limit'
              : 'numerical';
        return { ...base, status, message: `SCS status ${solution.status} after ${solution.info.iter} iterations` };
      }
      const y = solution.y;
      const rowDual = new Float64Array(model.numRows);
      for (let r = 0; r < model.numRows; r++) rowDual[r] = rowTo[r] === -1 ? 0 : y[rowTo[r]!]!;
      const colDual = new Float64Array(n);
      for (let j = 0; j < n; j++) colDual[j] = colTo[j] === -1 ? 0 : y[colTo[j]!]!;
      // A first-order solution meets its bounds only to the tolerance; β = 1 + 1e-5 or a charge of
      // −1e-5 kW would reach the devices, so clip to the column bounds (rows keep a ~tolerance residual).
      const x = Float64Array.from(solution.x, (v, j) => Math.min(model.colUpper[j]!, Math.max(model.colLower[j]!, v)));
      return { ...base, status: 'optimal', message: 'SOLVED', x, rowDual: unscaleDuals(rowDual, rowScale), colDual };
    },
  };
}

/** The (shifted) previous solution in SCS's variables: x, y by the layout, s = the row activities. */
function warmVectors(model: QpModel, lay: Layout, warm: WarmStart, rowScale: Float64Array): { x: Float64Array; y: Float64Array; s: Float64Array } {
  const y = new Float64Array(lay.m);
  const s = new Float64Array(lay.m);
  const activity = new Float64Array(model.numRows);
  for (let j = 0; j < model.numCols; j++) {
    for (let k = model.colStarts[j]!; k < model.colStarts[j + 1]!; k++) activity[model.rowIndex[k]!]! += model.values[k]! * warm.x[j]!;
  }
  s[lay.zero] = 1;
  for (let r = 0; r < model.numRows; r++) {
    const target = lay.rowTo[r]!;
    if (target === -1) continue;
    y[target] = warm.rowDual[r]! / rowScale[r]!;
    if (target > lay.zero) s[target] = activity[r]!;
  }
  for (let j = 0; j < model.numCols; j++) {
    if (lay.colTo[j] === -1) continue;
    y[lay.colTo[j]!] = warm.colDual[j]!;
    s[lay.colTo[j]!] = warm.x[j]!;
  }
  // The box's t entry: complementarity yᵀs = 0 over the box fixes its dual.
  let ys = 0;
  for (let k = lay.zero + 1; k < lay.m; k++) ys += y[k]! * s[k]!;
  y[lay.zero] = -ys;
  return { x: warm.x, y, s };
}
