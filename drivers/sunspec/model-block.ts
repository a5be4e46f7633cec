/**
 * One SunSpec model's registers, laid out from its JSON definition: point offsets (nested
 * groups, `sync` groups, groups repeated a fixed number of times, by a count point, or to fill
 * the model length), scale factors resolved by name through the enclosing groups, and typed
 * access that turns sentinels and impossible scale factors into typed device errors.
 * The driver decodes what it read with it; the simulator encodes its map with the same code.
 */
import { DeviceError } from '../../src/devices/errors.ts';
import type { GroupDef, ModelDef, PointDef } from './models.ts';
import { applyScale, decodePoint, encodePoint, removeScale, SCALE_FACTOR_RANGE, type RawValue } from './point-codec.ts';

export interface LaidPoint {
  /** Dotted path: "W", "PFWInj.PF", "Crv[1].Pt[0].V" (repetitions 0-based). */
  readonly path: string;
  readonly def: PointDef;
  /** Register offset from the model's ID register. */
  readonly offset: number;
  readonly scope: Scope;
}

interface Scope {
  readonly points: Map<string, LaidPoint>;
  readonly parent?: Scope;
}

/**
 * How many times a repeating group occurs, asked for groups counted by a point (`countPoint`
 * set) and for groups that fill the model when the model length is not given.
 */
export type RepeatCount = (group: GroupDef, path: string, countPoint: LaidPoint | undefined) => number;

export interface ModelLayout {
  readonly def: ModelDef;
  readonly points: readonly LaidPoint[];
  readonly byPath: ReadonlyMap<string, LaidPoint>;
  /** Registers including ID and L. */
  readonly totalRegisters: number;
}

export function layoutModel(def: ModelDef, repeatCount: RepeatCount, totalRegisters?: number): ModelLayout {
  const points: LaidPoint[] = [];
  let offset = 0;

  const layGroup = (group: GroupDef, prefix: string, parent: Scope | undefined): void => {
    const scope: Scope = { points: new Map(), parent };
    for (const p of group.points ?? []) {
      const laid: LaidPoint = { path: prefix + p.name, def: p, offset, scope };
      scope.points.set(p.name, laid);
      points.push(laid);
      offset += p.size;
    }
    for (const sub of group.groups ?? []) {
      if (sub.count === undefined || sub.type === 'sync') {
        layGroup(sub, `${prefix}${sub.name}.`, scope);
        continue;
      }
      const countPoint = typeof sub.count === 'string' ? lookup(scope, sub.count) : undefined;
      if (typeof sub.count === 'string' && !countPoint) throw new Error(`model ${def.id}: count point ${sub.count} of group ${sub.name} not found`);
      // A group filling the model length repeats as often as the length says; without a length (building a map) the caller decides.
      const fill = sub.count === 0 && totalRegisters !== undefined;
      if (fill) {
        for (let i = 0; offset < totalRegisters; i++) {
          const before = offset;
          layGroup(sub, `${prefix}${sub.name}[${i}].`, scope);
          if (offset === before || offset > totalRegisters) throw new Error(`model ${def.id}: length ${totalRegisters - 2} is not a whole number of ${sub.name} groups`);
        }
      } else {
        const n = typeof sub.count === 'number' && sub.count > 0 ? sub.count : repeatCount(sub, prefix + sub.name, countPoint);
        for (let i = 0; i < n; i++) layGroup(sub, `${prefix}${sub.name}[${i}].`, scope);
      }
    }
  };

  layGroup(def.group, '', undefined);
  const byPath = new Map(points.map((p) => [p.path, p]));
  return { def, points, byPath, totalRegisters: offset };
}

function lookup(scope: Scope | undefined, name: string): LaidPoint | undefined {
  for (let s = scope; s; s = s.parent) {
    const p = s.points.get(name);
    if (p) return p;
  }
  return undefined;
}

/** Lays out a model as read from a device: counts come from the registers themselves. */
export function layoutFromRegisters(def: ModelDef, regs: Uint16Array): ModelLayout {
  const total = regs.length;
  return layoutModel(
    def,
    (group, path, countPoint) => {
      const n = countPoint ? decodePoint(countPoint.def, regs.subarray(countPoint.offset, countPoint.offset + countPoint.def.size)) : undefined;
      if (typeof n !== 'number' || n < 0) throw new RangeError(`model ${def.id}: count of ${path} (${group.count}) is not implemented`);
      return n;
    },
    total,
  );
}

/** Typed access to one model's registers (ID and L included, offset 0 = ID). */
export class ModelBlock {
  constructor(
    readonly layout: ModelLayout,
    readonly regs: Uint16Array,
    /** Device name used in errors. */
    readonly device: string,
  ) {
    if (regs.length !== layout.totalRegisters) throw new RangeError(`model ${layout.def.id}: ${regs.length} registers for a layout of ${layout.totalRegisters}`);
  }

  get id(): number {
    return this.layout.def.id;
  }

  point(path: string): LaidPoint {
    const p = this.layout.byPath.get(path);
    if (!p) throw new Error(`SunSpec model ${this.id} has no point ${path}`);
    return p;
  }

  has(path: string): boolean {
    return this.layout.byPath.has(path);
  }

  /** The point's registers (a view: writing it changes the block). */
  registersOf(path: string): Uint16Array {
    const p = this.point(path);
    return this.regs.subarray(p.offset, p.offset + p.def.size);
  }

  /** Decoded value before scaling; undefined when the device answers the "not implemented" sentinel. */
  raw(path: string): RawValue | undefined {
    return decodePoint(this.point(path).def, this.registersOf(path));
  }

  /**
   * The scaled value, undefined when the point or its scale factor is not implemented.
   * Throws DeviceError "garbage" for a scale factor SunSpec does not allow.
   */
  value(path: string): number | undefined {
    const p = this.point(path);
    const raw = this.raw(path);
    if (raw === undefined) return undefined;
    if (typeof raw === 'string') throw new Error(`SunSpec point ${this.id}.${path} is text, not a number`);
    const sf = this.scaleFactor(p);
    return sf === undefined ? undefined : applyScale(raw, sf);
  }

  /** Like value(), but a missing value is a DeviceError "not-implemented". */
  required(path: string): number {
    const v = this.value(path);
    if (v === undefined) throw new DeviceError('not-implemented', this.device, `SunSpec point ${this.id}.${path} is not implemented (sentinel value)`);
    return v;
  }

  text(path: string): string | undefined {
    const raw = this.raw(path);
    return raw === undefined ? undefined : String(raw);
  }

  /** Names of the set bits of a bitfield, by its symbols (unnamed bits as "bitN"). */
  flags(path: string): string[] {
    const raw = this.raw(path);
    if (raw === undefined) return [];
    const bits = BigInt(raw);
    const names = new Map((this.point(path).def.symbols ?? []).map((s) => [s.value, s.name]));
    const set: string[] = [];
    for (let i = 0; i < this.point(path).def.size * 16; i++) if ((bits >> BigInt(i)) & 1n) set.push(names.get(i) ?? `bit${i}`);
    return set;
  }

  /** The symbol name of an enum value, undefined when not implemented. */
  symbol(path: string): string | undefined {
    const raw = this.raw(path);
    if (raw === undefined) return undefined;
    return this.point(path).def.symbols?.find((s) => s.value === Number(raw))?.name ?? `unknown(${String(raw)})`;
  }

  /** Stores an enum by symbol name, or a bitfield with exactly the named bits set. */
  setSymbol(path: string, ...names: string[]): void {
    const def = this.point(path).def;
    const values = names.map((name) => {
      const sym = def.symbols?.find((s) => s.name === name);
      if (!sym) throw new Error(`SunSpec point ${this.id}.${path} has no symbol ${name}`);
      return BigInt(sym.value);
    });
    const raw = def.type.startsWith('bitfield') ? values.reduce((mask, bit) => mask | (1n << bit), 0n) : values[0];
    if (raw === undefined) throw new Error(`SunSpec point ${this.id}.${path}: no symbol given`);
    this.setRaw(path, def.size === 4 ? raw : Number(raw));
  }

  setRaw(path: string, value: RawValue | undefined): void {
    this.registersOf(path).set(encodePoint(this.point(path).def, value));
  }

  /** Stores a scaled value (e.g. 12.34 at sf −2 → 1234). undefined writes the sentinel. */
  setValue(path: string, value: number | undefined): void {
    if (value === undefined) return this.setRaw(path, undefined);
    const sf = this.scaleFactor(this.point(path));
    if (sf === undefined) throw new DeviceError('not-implemented', this.device, `scale factor of SunSpec point ${this.id}.${path} is not implemented`);
    const raw = removeScale(value, sf);
    const type = this.point(path).def.type;
    this.setRaw(path, type.endsWith('64') ? BigInt(raw) : raw);
  }

  /** The scale exponent of a point: 0 when unscaled, undefined when its sunssf is not implemented. */
  scaleFactor(p: LaidPoint): number | undefined {
    const sf = p.def.sf;
    if (sf === undefined) return 0;
    if (typeof sf === 'number') return sf;
    const sfPoint = lookup(p.scope, sf);
    if (!sfPoint) throw new Error(`SunSpec model ${this.id}: scale factor ${sf} of ${p.path} not found`);
    const v = decodePoint(sfPoint.def, this.regs.subarray(sfPoint.offset, sfPoint.offset + sfPoint.def.size));
    if (v === undefined) return undefined;
    const n = Number(v);
    if (n < SCALE_FACTOR_RANGE.min || n > SCALE_FACTOR_RANGE.max) {
      throw new DeviceError('garbage', this.device, `SunSpec scale factor ${this.id}.${sfPoint.path} = ${n} is outside ${SCALE_FACTOR_RANGE.min}..${SCALE_FACTOR_RANGE.max}`);
    }
    return n;
  }
}
