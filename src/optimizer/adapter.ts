/** The small interface every solver sits behind. */
import type { QpModel } from './model.ts';
import type { SolveStatus } from './types.ts';

export type SolverName = 'highs' | 'scs';

/** A previous solution mapped onto the current model's columns and rows (already shifted). */
export interface WarmStart {
  x: Float64Array;
  rowDual: Float64Array;
  /** Duals of the column bounds (reduced costs), same sign convention as rowDual. */
  colDual: Float64Array;
}

export interface AdapterResult {
  status: SolveStatus;
  message: string;
  /** Present when status is 'optimal'. Primal values and row duals in the unscaled model. */
  x?: Float64Array;
  /** ∂objective/∂(right-hand side) of each row, unscaled (the HiGHS sign convention). */
  rowDual?: Float64Array;
  colDual?: Float64Array;
  iterations?: number;
  /** Who produced the solution when it was not the adapter itself (a rescue). */
  solvedBy?: string;
  /** Whether the solver actually started from previous information. */
  warmStart: boolean;
}

export interface SolverAdapter {
  readonly name: SolverName;
  solve(model: QpModel, warm: WarmStart | undefined, timeBudgetMs: number): Promise<AdapterResult>;
  /** Resident WebAssembly linear memory (bytes). */
  memoryBytes(): number;
  /** Frees solver-owned memory; the adapter can still solve afterwards (it rebuilds). */
  dispose(): void;
}
