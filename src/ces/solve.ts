/**
 * Solves the CES's and the households' day-ahead models with the project's HiGHS adapter (the same
 * WebAssembly solver and cutting-plane QP as the gateway's optimizer). One solver per agent: the
 * adapter keeps its instance and updates it in place when the next model has the same pattern.
 */
import type { SolverAdapter } from '../optimizer/adapter.ts';
import { createHighsAdapter } from '../optimizer/highs-adapter.ts';
import { createScsAdapter } from '../optimizer/scs-adapter.ts';
import type { Builder, QpModel } from '../optimizer/model.ts';

export interface Solution {
  x: Float64Array;
  objectiveEur: number;
}

const timeBudgetMs = 10_000;

export class CesSolver {
  /**
   * The CES's model is an LP; a household's own battery brings the evaluation's quadratic wear, whose
   * cutting planes can stall on a flat optimum as in the gateway's optimizer: SCS then finishes it.
   */
  private readonly adapter: SolverAdapter = createHighsAdapter({ rescue: createScsAdapter() });

  /** Throws when the model has no optimal solution (the message says which model and why). */
  async solve(builder: Builder, what: string): Promise<Solution> {
    const model: QpModel = { ...builder.finish(), cvar: {}, samplesKw: [] };
    const result = await this.adapter.solve(model, undefined, timeBudgetMs);
    if (result.status !== 'optimal' || !result.x) throw new Error(`${what}: ${result.status} (${result.message})`);
    let objectiveEur = model.offset;
    for (let j = 0; j < model.numCols; j++) objectiveEur += result.x[j]! * (model.cost[j]! + 0.5 * model.hessianDiag[j]! * result.x[j]!);
    return { x: result.x, objectiveEur };
  }

  dispose(): void {
    this.adapter.dispose();
  }
}

/** The values of a block of columns. */
export function values(x: Float64Array, start: number, length: number): number[] {
  return Array.from(x.subarray(start, start + length));
}
