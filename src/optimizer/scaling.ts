/**
 * Row equilibration. The model mixes rows of very different magnitude (real-time price × a floored
 * sample is ~1e-4, a budget row has 1/I, a dynamics row has Δt/η). SCS, like HiGHS's active-set QP
 * solver (which stalled or reported spurious non-convexity unscaled) and unlike HiGHS's simplex,
 * does not rescale rows on its own; the cut rows of the HiGHS adapter are scaled the same way. Each row is multiplied by the power of two nearest to 1/max|a_rj|, so the scaling
 * itself adds no rounding error; duals are mapped back with the same factors.
 */
import type { QpModel } from './model.ts';

export interface ScaledModel {
  model: QpModel;
  /** Row r of the scaled model is `rowScale[r]` × row r of the original. */
  rowScale: Float64Array;
}

export function scaleRows(model: QpModel): ScaledModel {
  const rowMax = new Float64Array(model.numRows);
  for (let k = 0; k < model.values.length; k++) {
    const a = Math.abs(model.values[k]!);
    const r = model.rowIndex[k]!;
    if (a > rowMax[r]!) rowMax[r] = a;
  }
  const rowScale = new Float64Array(model.numRows);
  for (let r = 0; r < model.numRows; r++) rowScale[r] = rowMax[r]! > 0 ? 2 ** Math.round(-Math.log2(rowMax[r]!)) : 1;
  const values = new Float64Array(model.values.length);
  for (let k = 0; k < values.length; k++) values[k] = model.values[k]! * rowScale[model.rowIndex[k]!]!;
  const rowLower = model.rowLower.map((v, r) => v * rowScale[r]!);
  const rowUpper = model.rowUpper.map((v, r) => v * rowScale[r]!);
  return { model: { ...model, values, rowLower, rowUpper }, rowScale };
}

/** Row duals of the scaled model → duals of the original rows (∂objective/∂right-hand side). */
export function unscaleDuals(rowDual: Float64Array, rowScale: Float64Array): Float64Array {
  return rowDual.map((y, r) => y * rowScale[r]!);
}
