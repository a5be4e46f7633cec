/**
 * The ADMM local step's QP, min ½xᵀPx + cᵀx over a peer's LP rows, solved with SCS (WebAssembly).
 *
 * Why not HiGHS here: its active-set QP needs ≈ 300 iterations from scratch on this model, now and
 * then calls the (convex) model non-convex, and hot-started from the last round it returned
 * points it reported optimal that were measurably not (checked against cold solves). SCS is a
 * first-order conic solver: robust on a semidefinite P, and warm-started from the last round's
 * (x, y, s), where only c has moved a little, it needs few iterations. It runs without a time
 * limit so that the result depends on the inputs only (reproducible clearing).
 *
 * Mapping of `l ≤ Ax ≤ u`, `colLower ≤ x ≤ colUpper` to SCS's `A'x + s = b, s ∈ K`: equality rows
 * go to the zero cone; every other row and every bounded column to one box cone
 * {(t, s): t·l ≤ s ≤ t·u} whose first entry is pinned to t = 1 (A' = −A, so s is the activity).
 */
import createSCS, { type ScsData, type ScsModule, type ScsSolution } from 'scs-solver';
import type { ModelData } from 'highs';
import { SolveError, diagonalHessian } from './lp.ts';

let runtime: Promise<ScsModule> | undefined;

export function scsRuntime(): Promise<ScsModule> {
  runtime ??= createSCS();
  return runtime;
}

export class ProximalQp {
  private readonly data: ScsData & { c: Float64Array };
  private readonly cone: { z: number; l: number; bl: Float64Array; bu: Float64Array; bsize: number };
  private warm: { x: number[]; y: number[]; s: number[] } | undefined;

  constructor(
    private readonly scs: ScsModule,
    model: ModelData,
    hessianDiagonal: ReadonlyMap<number, number>,
    private readonly tolerance: number,
  ) {
    const { numRows, numCols, matrix } = model;
    const rowLower = model.rowLower as ArrayLike<number>;
    const rowUpper = model.rowUpper as ArrayLike<number>;
    const colLower = model.colLower as ArrayLike<number>;
    const colUpper = model.colUpper as ArrayLike<number>;
    const rowTo = new Int32Array(numRows);
    let zero = 0;
    for (let r = 0; r < numRows; r++) if (rowLower[r] === rowUpper[r]) rowTo[r] = zero++;
    let next = zero + 1; // row `zero` is the box cone's t
    for (let r = 0; r < numRows; r++) if (rowLower[r] !== rowUpper[r]) rowTo[r] = next++;
    const colTo = new Int32Array(numCols);
    for (let j = 0; j < numCols; j++) colTo[j] = next++;
    const m = next;
    // CSR rows → CSC columns; rows are visited in increasing SCS index so each column stays sorted.
    const starts = matrix.starts as ArrayLike<number>;
    const indices = matrix.indices as ArrayLike<number>;
    const values = matrix.values as ArrayLike<number>;
    const order = Array.from({ length: numRows }, (_, r) => r).sort((a, b) => rowTo[a]! - rowTo[b]!);
    const columns: Array<Array<[number, number]>> = Array.from({ length: numCols }, () => []);
    for (const r of order) for (let k = starts[r]!; k < starts[r + 1]!; k++) columns[indices[k]!]!.push([rowTo[r]!, -values[k]!]);
    columns.forEach((entries, j) => entries.push([colTo[j]!, -1]));
    const A_p = [0];
    const A_i: number[] = [];
    const A_x: number[] = [];
    for (const entries of columns) {
      for (const [i, x] of entries) {
        A_i.push(i);
        A_x.push(x);
      }
      A_p.push(A_i.length);
    }
    const b = new Float64Array(m);
    const bl = new Float64Array(m - zero - 1);
    const bu = new Float64Array(m - zero - 1);
    b[zero] = 1;
    for (let r = 0; r < numRows; r++) {
      if (rowTo[r]! < zero) b[rowTo[r]!] = -rowLower[r]!;
      else {
        bl[rowTo[r]! - zero - 1] = rowLower[r]!;
        bu[rowTo[r]! - zero - 1] = rowUpper[r]!;
      }
    }
    for (let j = 0; j < numCols; j++) {
      bl[colTo[j]! - zero - 1] = colLower[j]!;
      bu[colTo[j]! - zero - 1] = colUpper[j]!;
    }
    const { starts: P_p, indices: P_i, values: P_x } = diagonalHessian(numCols, hessianDiagonal);
    this.data = { m, n: numCols, A_x, A_i, A_p, P_x, P_i, P_p, b, c: Float64Array.from(model.colCost as ArrayLike<number>) };
    this.cone = { z: zero, l: 0, bl, bu, bsize: m - zero };
  }

  /** Sets the linear cost of the given columns and solves; returns x. */
  solve(columns: readonly number[], costs: readonly number[], what: string): Float64Array | number[] {
    columns.forEach((c, k) => (this.data.c[c] = costs[k]!));
    const settings = new this.scs.ScsSettings();
    this.scs.setDefaultSettings(settings);
    settings.verbose = 0;
    settings.epsAbs = this.tolerance;
    settings.epsRel = this.tolerance;
    settings.warmStart = this.warm !== undefined;
    let solution: ScsSolution;
    try {
      solution = this.warm ? this.scs.solve(this.data, this.cone, settings, this.warm) : this.scs.solve(this.data, this.cone, settings);
    } catch (error) {
      throw new SolveError(`${what}: SCS threw (${(error as Error).message})`);
    }
    if (solution.status !== 'SOLVED' || !solution.x || !solution.y || !solution.s) throw new SolveError(`${what}: SCS ended with ${solution.status}`);
    this.warm = { x: solution.x, y: solution.y, s: solution.s };

    return solution.x;
  }
}
