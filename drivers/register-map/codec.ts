/**
 * Register words ↔ point values for a register map: u16/s16/u32/s32/f32 (IEEE-754 single), two
 * registers in the point's word order, bytes big-endian within a register as Modbus sends them;
 * the value is raw × scale × 10^sf. The gateway's drivers decode with it and the simulator
 * encodes with it, so both read the one map the same way (the tests check it against pymodbus
 * and mbpoll, which do not share this code). Unit conversion to the core's units is here too.
 */
import { registerCount, type MapPoint, type PointUnit } from './map.ts';

const RANGES = { u16: [0, 0xffff], s16: [-0x8000, 0x7fff], u32: [0, 0xffffffff], s32: [-0x80000000, 0x7fffffff] } as const;

/** The raw number the registers hold (before scale). */
export function decodeRaw(point: MapPoint, words: ArrayLike<number>): number {
  const buf = Buffer.alloc(4);
  const n = registerCount(point.type);
  const [hi, lo] = n === 1 ? [words[0]!, 0] : point.wordOrder === 'high-first' ? [words[0]!, words[1]!] : [words[1]!, words[0]!];
  buf.writeUInt16BE(hi, 0);
  buf.writeUInt16BE(lo, 2);
  switch (point.type) {
    case 'u16':
      return buf.readUInt16BE(0);
    case 's16':
      return buf.readInt16BE(0);
    case 'u32':
      return buf.readUInt32BE(0);
    case 's32':
      return buf.readInt32BE(0);
    case 'f32':
      return buf.readFloatBE(0);
  }
}

/** The registers that hold `raw`; a RangeError when the type cannot hold it. */
export function encodeRaw(point: MapPoint, raw: number): number[] {
  const buf = Buffer.alloc(4);
  if (point.type === 'f32') {
    if (!Number.isFinite(raw)) throw new RangeError(`point ${point.name}: ${raw} is not a number an f32 can carry`);
    buf.writeFloatBE(raw, 0);
  } else {
    const [min, max] = RANGES[point.type];
    if (!Number.isInteger(raw) || raw < min || raw > max) throw new RangeError(`point ${point.name}: ${raw} does not fit a ${point.type}`);
    if (point.type === 'u16' || point.type === 's16') return [raw & 0xffff];
    buf.writeUInt32BE(raw >>> 0, 0);
  }
  const hi = buf.readUInt16BE(0);
  const lo = buf.readUInt16BE(2);
  return point.wordOrder === 'high-first' ? [hi, lo] : [lo, hi];
}

/** The value in the point's unit. */
export function scaled(point: MapPoint, raw: number, scaleFactor = 0): number {
  return raw * point.scale * 10 ** scaleFactor;
}

/** The raw number for a value in the point's unit (rounded for integer types). */
export function unscaled(point: MapPoint, value: number, scaleFactor = 0): number {
  const raw = value / (point.scale * 10 ** scaleFactor);
  return point.type === 'f32' ? raw : Math.round(raw);
}

/** One unit of the point in the core's unit for its kind: kW, kWh, a fraction, seconds. */
const IN_CORE_UNITS: Partial<Record<PointUnit, number>> = { W: 0.001, kW: 1, Wh: 0.001, kWh: 1, '%': 0.01, s: 1, min: 60 };

export function toCoreUnit(point: MapPoint, value: number): number {
  return value * (IN_CORE_UNITS[point.unit] ?? 1);
}

export function fromCoreUnit(point: MapPoint, value: number): number {
  return value / (IN_CORE_UNITS[point.unit] ?? 1);
}
