/**
 * Register ⇄ value conversion for every SunSpec point type (the `type` enum of the model
 * schema). Each type has a "not implemented" sentinel; it decodes to undefined and encoding
 * undefined writes it, so a device that does not offer a point can never be read as a number.
 * 64-bit integers are bigint so counters above 2^53 survive a round trip.
 */

export type PointType =
  | 'int16' | 'int32' | 'int64' | 'raw16' | 'uint16' | 'uint32' | 'uint64'
  | 'acc16' | 'acc32' | 'acc64' | 'bitfield16' | 'bitfield32' | 'bitfield64'
  | 'enum16' | 'enum32' | 'float32' | 'float64' | 'string' | 'pad'
  | 'ipaddr' | 'ipv6addr' | 'eui48' | 'sunssf' | 'count';

/** A decoded register value before scaling: integers, strings for text and addresses. */
export type RawValue = number | bigint | string;

export interface PointShape {
  type: PointType;
  /** Size in 16-bit registers. */
  size: number;
}

type IntCodec = { bits: 16 | 32 | 64; signed: boolean; sentinel: bigint | null };

const UINT_SENTINEL = (bits: number): bigint => (1n << BigInt(bits)) - 1n;
const INT_SENTINEL = (bits: number): bigint => -(1n << BigInt(bits - 1));

const INTEGER_TYPES: Partial<Record<PointType, IntCodec>> = {
  int16: { bits: 16, signed: true, sentinel: INT_SENTINEL(16) },
  sunssf: { bits: 16, signed: true, sentinel: INT_SENTINEL(16) },
  int32: { bits: 32, signed: true, sentinel: INT_SENTINEL(32) },
  int64: { bits: 64, signed: true, sentinel: INT_SENTINEL(64) },
  uint16: { bits: 16, signed: false, sentinel: UINT_SENTINEL(16) },
  count: { bits: 16, signed: false, sentinel: UINT_SENTINEL(16) },
  enum16: { bits: 16, signed: false, sentinel: UINT_SENTINEL(16) },
  bitfield16: { bits: 16, signed: false, sentinel: UINT_SENTINEL(16) },
  uint32: { bits: 32, signed: false, sentinel: UINT_SENTINEL(32) },
  enum32: { bits: 32, signed: false, sentinel: UINT_SENTINEL(32) },
  bitfield32: { bits: 32, signed: false, sentinel: UINT_SENTINEL(32) },
  uint64: { bits: 64, signed: false, sentinel: UINT_SENTINEL(64) },
  bitfield64: { bits: 64, signed: false, sentinel: UINT_SENTINEL(64) },
  // Accumulators count up from 0, so 0 is "not accumulating" (SunSpec: unimplemented).
  acc16: { bits: 16, signed: false, sentinel: 0n },
  acc32: { bits: 32, signed: false, sentinel: 0n },
  acc64: { bits: 64, signed: false, sentinel: 0n },
  // raw16 is an opaque register: every pattern is a value.
  raw16: { bits: 16, signed: false, sentinel: null },
};

/** The register content SunSpec prescribes for pad points. */
const PAD_REGISTER = 0x8000;

function registersToBigUint(regs: ArrayLike<number>): bigint {
  let v = 0n;
  for (let i = 0; i < regs.length; i++) v = (v << 16n) | BigInt(regs[i]! & 0xffff);
  return v;
}

function bigUintToRegisters(v: bigint, size: number): Uint16Array {
  const out = new Uint16Array(size);
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffffn);
    v >>= 16n;
  }
  return out;
}

function decodeInteger(c: IntCodec, regs: ArrayLike<number>): number | bigint | undefined {
  let v = registersToBigUint(regs);
  if (c.signed) v = BigInt.asIntN(c.bits, v);
  if (c.sentinel !== null && v === c.sentinel) return undefined;
  return c.bits === 64 ? v : Number(v);
}

function encodeInteger(c: IntCodec, type: PointType, value: RawValue | undefined, size: number): Uint16Array {
  if (value === undefined) {
    if (c.sentinel === null) throw new RangeError(`${type} has no "not implemented" value`);
    return bigUintToRegisters(BigInt.asUintN(c.bits, c.sentinel), size);
  }
  if (typeof value === 'string' || (typeof value === 'number' && !Number.isInteger(value))) {
    throw new RangeError(`${type} needs an integer, got ${String(value)}`);
  }
  const v = BigInt(value);
  const min = c.signed ? -(1n << BigInt(c.bits - 1)) : 0n;
  const max = c.signed ? (1n << BigInt(c.bits - 1)) - 1n : (1n << BigInt(c.bits)) - 1n;
  if (v < min || v > max) throw new RangeError(`${type} value ${v} outside ${min}..${max}`);
  return bigUintToRegisters(BigInt.asUintN(c.bits, v), size);
}

function decodeString(regs: ArrayLike<number>): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < regs.length; i++) bytes.push((regs[i]! >> 8) & 0xff, regs[i]! & 0xff);
  const end = bytes.indexOf(0);
  const text = Buffer.from(end < 0 ? bytes : bytes.slice(0, end)).toString('latin1');
  return text.length === 0 ? undefined : text;
}

function encodeString(value: RawValue | undefined, size: number): Uint16Array {
  const text = value === undefined ? '' : String(value);
  const bytes = Buffer.from(text, 'latin1');
  if (bytes.length > size * 2) throw new RangeError(`string "${text}" longer than ${size * 2} bytes`);
  const out = new Uint16Array(size);
  for (let i = 0; i < bytes.length; i++) out[i >> 1]! |= bytes[i]! << (i % 2 === 0 ? 8 : 0);
  return out;
}

function decodeFloat(regs: ArrayLike<number>, bytes: 4 | 8): number | undefined {
  const buf = Buffer.alloc(bytes);
  for (let i = 0; i < bytes / 2; i++) buf.writeUInt16BE(regs[i]! & 0xffff, i * 2);
  const v = bytes === 4 ? buf.readFloatBE(0) : buf.readDoubleBE(0);
  return Number.isNaN(v) ? undefined : v;
}

function encodeFloat(value: RawValue | undefined, bytes: 4 | 8): Uint16Array {
  if (value !== undefined && typeof value !== 'number') throw new RangeError(`float needs a number, got ${String(value)}`);
  const buf = Buffer.alloc(bytes);
  if (bytes === 4) buf.writeFloatBE(value ?? NaN, 0);
  else buf.writeDoubleBE(value ?? NaN, 0);
  const out = new Uint16Array(bytes / 2);
  for (let i = 0; i < out.length; i++) out[i] = buf.readUInt16BE(i * 2);
  return out;
}

function decodeIpv4(regs: ArrayLike<number>): string | undefined {
  const v = Number(registersToBigUint(regs));
  if (v === 0) return undefined;
  return [24, 16, 8, 0].map((s) => (v >>> s) & 0xff).join('.');
}

function encodeIpv4(value: RawValue | undefined, size: number): Uint16Array {
  if (value === undefined) return new Uint16Array(size);
  const parts = String(value).split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new RangeError(`not an IPv4 address: ${String(value)}`);
  return bigUintToRegisters(BigInt(parts.reduce((a, p) => a * 256 + p, 0)), size);
}

function decodeIpv6(regs: ArrayLike<number>): string | undefined {
  const groups = Array.from(regs, (r) => (r & 0xffff).toString(16));
  return groups.every((g) => g === '0') ? undefined : groups.join(':');
}

function encodeIpv6(value: RawValue | undefined, size: number): Uint16Array {
  if (value === undefined) return new Uint16Array(size);
  const groups = String(value).split(':').map((g) => parseInt(g, 16));
  if (groups.length !== size || groups.some((g) => !(g >= 0 && g <= 0xffff))) throw new RangeError(`not a full IPv6 address: ${String(value)}`);
  return Uint16Array.from(groups);
}

/** EUI-48 occupies the low 6 bytes of its registers; all-FF is "not implemented". */
function decodeEui48(regs: ArrayLike<number>): string | undefined {
  const bytes = bigUintToBytes(registersToBigUint(regs), regs.length * 2).slice(-6);
  if (bytes.every((b) => b === 0xff)) return undefined;
  return bytes.map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
}

function bigUintToBytes(v: bigint, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.unshift(Number((v >> BigInt(8 * i)) & 0xffn));
  return out;
}

function encodeEui48(value: RawValue | undefined, size: number): Uint16Array {
  const bytes = value === undefined ? [0xff, 0xff, 0xff, 0xff, 0xff, 0xff] : String(value).split(':').map((b) => parseInt(b, 16));
  if (bytes.length !== 6 || bytes.some((b) => !(b >= 0 && b <= 0xff))) throw new RangeError(`not an EUI-48: ${String(value)}`);
  return bigUintToRegisters(bytes.reduce((a, b) => (a << 8n) | BigInt(b), 0n), size);
}

/** Decodes one point from exactly `shape.size` registers; undefined = not implemented. */
export function decodePoint(shape: PointShape, regs: ArrayLike<number>): RawValue | undefined {
  const int = INTEGER_TYPES[shape.type];
  if (int) return decodeInteger(int, regs);
  switch (shape.type) {
    case 'string': return decodeString(regs);
    case 'float32': return decodeFloat(regs, 4);
    case 'float64': return decodeFloat(regs, 8);
    case 'ipaddr': return decodeIpv4(regs);
    case 'ipv6addr': return decodeIpv6(regs);
    case 'eui48': return decodeEui48(regs);
    case 'pad': return undefined;
    default: throw new RangeError(`unknown SunSpec point type ${String(shape.type)}`);
  }
}

/** Encodes one point into `shape.size` registers; undefined writes the type's sentinel. */
export function encodePoint(shape: PointShape, value: RawValue | undefined): Uint16Array {
  const int = INTEGER_TYPES[shape.type];
  if (int) return encodeInteger(int, shape.type, value, shape.size);
  switch (shape.type) {
    case 'string': return encodeString(value, shape.size);
    case 'float32': return encodeFloat(value, 4);
    case 'float64': return encodeFloat(value, 8);
    case 'ipaddr': return encodeIpv4(value, shape.size);
    case 'ipv6addr': return encodeIpv6(value, shape.size);
    case 'eui48': return encodeEui48(value, shape.size);
    case 'pad': return new Uint16Array(shape.size).fill(PAD_REGISTER);
    default: throw new RangeError(`unknown SunSpec point type ${String(shape.type)}`);
  }
}

/** Scale factors outside this range are not SunSpec (schema: sf −10…10): the device is talking garbage. */
export const SCALE_FACTOR_RANGE = { min: -10, max: 10 } as const;

/** value · 10^sf, dividing for negative sf so 1234 · 10^−2 is exactly 12.34. */
export function applyScale(raw: number | bigint, sf: number): number {
  const v = Number(raw);
  return sf < 0 ? v / 10 ** -sf : v * 10 ** sf;
}

/** The integer register value that represents `value` at scale factor `sf`. */
export function removeScale(value: number, sf: number): number {
  return Math.round(sf < 0 ? value * 10 ** -sf : value / 10 ** sf);
}
