/**
 * The HiGHS side of the clearing: a row-wise sparse model builder (the peer model and the
 * central problem are assembled from the same rows) and one checked solve.
 */
import highsModule, { type Highs, type Model, type ModelData } from 'highs';

// The package is CommonJS: under NodeNext its default import is the loader function itself.
const loadHighs = highsModule as unknown as typeof highsModule.default;
let runtime: Promise<Highs> | undefined;

/** One HiGHS WebAssembly runtime per process: loading it costs far more than a solve. */
export function highsRuntime(): Promise<Highs> {
  runtime ??= loadHighs();
  return runtime!;
}

export class LpBuilder {
  readonly colCost: number[] = [];
  readonly colLower: number[] = [];
  readonly colUpper: number[] = [];
  readonly rowLower: number[] = [];
  readonly rowUpper: number[] = [];
  private readonly starts: number[] = [0];
  private readonly indices: number[] = [];
  private readonly values: number[] = [];

  addCol(cost: number, lower: number, upper: number): number {
    this.colCost.push(cost);
    this.colLower.push(lower);
    this.colUpper.push(upper);
    return this.colCost.length - 1;
  }

  /** Adds `lower ≤ Σ coef·x[col] ≤ upper`; returns the row index. */
  addRow(lower: number, upper: number, terms: ReadonlyArray<readonly [col: number, coef: number]>): number {
    for (const [col, coef] of terms) {
      this.indices.push(col);
      this.values.push(coef);
    }
    this.starts.push(this.indices.length);
    this.rowLower.push(lower);
    this.rowUpper.push(upper);
    return this.rowLower.length - 1;
  }

  build(hessianDiagonal?: ReadonlyMap<number, number>): ModelData {
    const numCols = this.colCost.length;
    const numRows = this.rowLower.length;
    return {
      numCols,
      numRows,
      colCost: this.colCost,
      colLower: this.colLower,
      colUpper: this.colUpper,
      rowLower: this.rowLower,
      rowUpper: this.rowUpper,
      matrix: { format: 'csr', numRows, numCols, starts: this.starts, indices: this.indices, values: this.values },
      ...(hessianDiagonal ? { hessian: diagonalHessian(numCols, hessianDiagonal) } : {}),
    };
  }
}

/** A diagonal matrix (column → value) in compressed-column form, as HiGHS and SCS both take it. */
export function diagonalHessian(dimension: number, diagonal: ReadonlyMap<number, number>): NonNullable<ModelData['hessian']> {
  const starts = [0];
  const indices: number[] = [];
  const values: number[] = [];
  for (let col = 0; col < dimension; col++) {
    const v = diagonal.get(col);
    if (v !== undefined) {
      indices.push(col);
      values.push(v);
    }
    starts.push(indices.length);
  }
  return { format: 'triangular', dimension, starts, indices, values };
}

export class SolveError extends Error {}

export function createQuietModel(highs: Highs, data: ModelData): Model {
  const model = highs.createModel(data);
  model.options.set({ output_flag: false });
  return model;
}

/** Runs the model and insists on an optimum: a clearing never builds on a failed solve. */
export function runToOptimum(highs: Highs, model: Model, what: string): void {
  try {
    model.run();
  } catch (error) {
    throw new SolveError(`${what}: HiGHS failed (${(error as Error).message})`);
  }
  const status = model.getModelStatus();
  if (status !== highs.constants.modelStatus.optimal) {
    const name = Object.entries(highs.constants.modelStatus).find(([, code]) => code === status)?.[0] ?? String(status);
    throw new SolveError(`${what}: HiGHS ended with status ${name}`);
  }
}
