/**
 * The previous solution shifted by one receding step: every block with a time axis moves one step
 * earlier and its last step is repeated. A warm start only needs to be close, not feasible.
 */
import type { WarmStart } from './adapter.ts';
import type { Block, QpModel } from './model.ts';

function shiftBlocks(blocks: Record<string, Block>, values: Float64Array): Float64Array {
  const out = Float64Array.from(values);
  for (const block of Object.values(blocks)) {
    const { start, outer, inner, timeAxis } = block;
    if (timeAxis === 'none') continue;
    const at = (o: number, i: number): number => start + o * inner + i;
    if (timeAxis === 'outer') {
      for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) out[at(o, i)] = values[at(Math.min(o + 1, outer - 1), i)]!;
    } else {
      for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) out[at(o, i)] = values[at(o, Math.min(i + 1, inner - 1))]!;
    }
  }
  return out;
}

export function shiftedWarmStart(model: QpModel, previous: WarmStart): WarmStart {
  return { x: shiftBlocks(model.cols, previous.x), rowDual: shiftBlocks(model.rows, previous.rowDual), colDual: shiftBlocks(model.cols, previous.colDual) };
}
