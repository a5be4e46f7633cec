/** How the simulated firmware fills measurement points. */
import type { ModelBlock } from '../../drivers/sunspec/model-block.ts';

/**
 * Picks the scale factor a firmware engineer would: the finest exponent (from `finest` up)
 * at which the largest expected value still fits the register.
 */
export function fitScale(maxAbs: number, finest: number, registerMax = 0x7fff): number {
  let sf = finest;
  while (Math.abs(maxAbs) / 10 ** sf > registerMax) sf++;
  return sf;
}

/** Static points (scale factors, cleared event words) at once, as a firmware's register defaults. */
export function setRaws(block: ModelBlock, raws: Readonly<Record<string, number>>): void {
  for (const [path, raw] of Object.entries(raws)) block.setRaw(path, raw);
}

/** Stores a measurement; one the register cannot hold reads "not implemented", as real meters do when out of range. */
export function setMeasured(block: ModelBlock, path: string, value: number): void {
  try {
    block.setValue(path, value);
  } catch {
    block.setRaw(path, undefined);
  }
}

/**
 * Accumulators (Wh, WH_SF/TotWh_SF = 0): SunSpec reads 0 as "not implemented", so a counter
 * never shows 0 Wh; a 32-bit counter rolls over as real ones do; an unknown energy reads "not implemented".
 */
export function setCounterWh(block: ModelBlock, path: string, energyKwh: number): void {
  const wh = Math.max(1, Math.round(energyKwh * 1000));
  if (!Number.isFinite(wh)) return block.setRaw(path, undefined);
  block.setRaw(path, block.point(path).def.size === 4 ? BigInt(wh) : wh % 2 ** 32 || 1);
}
