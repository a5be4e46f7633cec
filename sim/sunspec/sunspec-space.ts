/**
 * A simulated SunSpec device's register map: "SunS", the common model, the device models and
 * the end marker, laid out from the same JSON definitions the driver decodes with. The device
 * firmware lives in the SimModel hooks (dynamic values, write checks, revert timers); this
 * class does what every SunSpec device does: address checks (exception 2), read-only points
 * (exception 2), out-of-range enum / bitfield values (exception 3), plus fault injection.
 */
import { layoutModel, ModelBlock } from '../../drivers/sunspec/model-block.ts';
import { requireModelDefinition, type GroupDef } from '../../drivers/sunspec/models.ts';
import { encodePoint, type RawValue } from '../../drivers/sunspec/point-codec.ts';
import { END_MODEL_ID, SUNS_MARKER } from '../../drivers/sunspec/discovery.ts';
import { ModbusExceptionCode } from '../../drivers/modbus/bus.ts';
import { SlaveException, type RegisterSpace } from '../modbus/register-space.ts';

export interface SimModel {
  readonly id: number;
  /** Repetitions of repeating groups, by group path without indices ("module", "Crv", "Crv.Pt"); default 1. */
  readonly repeats?: Readonly<Record<string, number>>;
  /** Static content, once when the map is built (every point starts "not implemented"). */
  init?(block: ModelBlock): void;
  /** Fresh dynamic values and overdue reverts, before every read. */
  refresh?(block: ModelBlock): void;
  /** Firmware checks of a decoded write; throw SlaveException(3) to refuse it. */
  accept?(next: ModelBlock, written: ReadonlySet<string>): void;
  /** The write was accepted and is in `block`. */
  applied?(block: ModelBlock, written: ReadonlySet<string>): void;
  /** The firmware stops (device switched off or replaced by an update): cancel its timers. */
  close?(): void;
}

export interface CommonInfo {
  manufacturer: string;
  model: string;
  serial: string;
  version?: string;
}

export interface SunSpecSpaceOptions {
  /** Where "SunS" sits: 40000 (most devices), 50000 or 0. Default 40000. */
  baseAddress?: number;
  common: CommonInfo;
  models: readonly SimModel[];
}

interface Placed {
  model: SimModel;
  block: ModelBlock;
  address: number;
}

type Override = { kind: 'sentinel' } | { kind: 'raw'; value: RawValue };

const DEVICE_ADDRESS_RANGE = { min: 1, max: 247 };

export class SunSpecSpace implements RegisterSpace {
  readonly baseAddress: number;
  private placed: Placed[] = [];
  private endAddress = 0;
  private readonly overrides = new Map<string, Override>();
  private readonly droppedWrites = new Map<string, number>();

  constructor(private readonly options: SunSpecSpaceOptions) {
    this.baseAddress = options.baseAddress ?? 40000;
    this.build(options.models);
  }

  /** Value-level faults: what a device with buggy or partial firmware answers. */
  readonly faults = {
    /** The point answers its "not implemented" sentinel. */
    notImplemented: (modelId: number, path: string): void => void this.overrides.set(key(modelId, path), { kind: 'sentinel' }),
    /** The point answers this raw value (e.g. a scale factor of 50, an absurd power). */
    garbage: (modelId: number, path: string, value: RawValue): void => void this.overrides.set(key(modelId, path), { kind: 'raw', value }),
    /** The next `times` writes to the point are acknowledged but not applied. */
    ignoreWrites: (modelId: number, path: string, times: number): void => void this.droppedWrites.set(key(modelId, path), times),
    clear: (): void => {
      this.overrides.clear();
      this.droppedWrites.clear();
    },
  };

  /** A firmware update that changes the model chain (models replaced, inserted or removed): addresses move. */
  firmwareUpdate(models: readonly SimModel[]): void {
    this.close();
    this.build(models);
  }

  /** Switches the device's firmware off (revert timers included); the map stays readable. */
  close(): void {
    for (const p of this.placed) p.model.close?.();
  }

  /** The live block of a model, for tests and the device code that owns it. */
  block(modelId: number): ModelBlock {
    const p = this.placed.find((x) => x.model.id === modelId);
    if (!p) throw new Error(`simulated SunSpec device has no model ${modelId}`);
    return p.block;
  }

  readHolding(address: number, count: number): Uint16Array {
    if (address < this.baseAddress || address + count > this.endAddress + 2) throw new SlaveException(ModbusExceptionCode.IllegalDataAddress);
    const image = new Uint16Array(this.endAddress + 2 - this.baseAddress);
    image.set(SUNS_MARKER, 0);
    for (const p of this.placed) {
      if (p.address + p.block.regs.length <= address || p.address >= address + count) continue;
      p.model.refresh?.(p.block);
      image.set(this.withFaults(p), p.address - this.baseAddress);
    }
    image.set([END_MODEL_ID, 0], this.endAddress - this.baseAddress);
    return image.slice(address - this.baseAddress, address - this.baseAddress + count);
  }

  writeHolding(address: number, values: Uint16Array): void {
    const p = this.placed.find((x) => address >= x.address && address + values.length <= x.address + x.block.regs.length);
    if (!p) throw new SlaveException(ModbusExceptionCode.IllegalDataAddress);
    const start = address - p.address;
    const end = start + values.length;
    const touched = p.block.layout.points.filter((pt) => pt.offset < end && pt.offset + pt.def.size > start);
    const covered = touched.reduce((n, pt) => n + pt.def.size, 0);
    const whole = touched.every((pt) => pt.offset >= start && pt.offset + pt.def.size <= end);
    if (covered !== values.length || !whole || touched.some((pt) => pt.def.access !== 'RW')) throw new SlaveException(ModbusExceptionCode.IllegalDataAddress);

    const next = new ModelBlock(p.block.layout, p.block.regs.slice(), p.block.device);
    next.regs.set(values, start);
    const written = new Set(touched.map((pt) => pt.path));
    for (const path of written) checkSymbols(next, path);
    p.model.accept?.(next, written);
    for (const path of written) {
      const k = key(p.model.id, path);
      const dropped = this.droppedWrites.get(k) ?? 0;
      if (dropped > 0) {
        this.droppedWrites.set(k, dropped - 1);
        next.registersOf(path).set(p.block.registersOf(path));
      }
    }
    p.block.regs.set(next.regs);
    p.model.applied?.(p.block, written);
  }

  private build(models: readonly SimModel[]): void {
    let address = this.baseAddress + 2;
    this.placed = [commonModel(this.options.common), ...models].map((model) => {
      const def = requireModelDefinition(model.id);
      const layout = layoutModel(def, (_group, path) => model.repeats?.[path.replace(/\[\d+\]/g, '')] ?? 1);
      const block = new ModelBlock(layout, new Uint16Array(layout.totalRegisters), `sim:${model.id}`);
      for (const pt of layout.points) if (pt.def.type !== 'raw16') block.setRaw(pt.path, undefined);
      block.setRaw('ID', model.id);
      block.setRaw('L', layout.totalRegisters - 2);
      setCounts(block, def.group.groups ?? [], model);
      model.init?.(block);
      const placed = { model, block, address };
      address += layout.totalRegisters;
      return placed;
    });
    this.endAddress = address;
  }

  private withFaults(p: Placed): Uint16Array {
    const regs = p.block.regs.slice();
    for (const pt of p.block.layout.points) {
      const o = this.overrides.get(key(p.model.id, pt.path));
      if (o) regs.set(encodePoint(pt.def, o.kind === 'raw' ? o.value : undefined), pt.offset);
    }
    return regs;
  }
}

function key(modelId: number, path: string): string {
  return `${modelId}:${path}`;
}

/** Count points (model-level, as in 705 NCrv/NPt) hold the repetitions the map was built with. */
function setCounts(block: ModelBlock, groups: readonly GroupDef[], model: SimModel, prefix = ''): void {
  for (const g of groups) {
    if (typeof g.count === 'string' && block.has(g.count)) block.setRaw(g.count, model.repeats?.[prefix + g.name] ?? 1);
    setCounts(block, g.groups ?? [], model, `${prefix}${g.name}.`);
  }
}

/** Enums accept their symbols only; bitfields only their defined bits. */
function checkSymbols(block: ModelBlock, path: string): void {
  const def = block.point(path).def;
  const raw = block.raw(path);
  if (!def.symbols || raw === undefined) return;
  const values = def.symbols.map((s) => BigInt(s.value));
  const ok = def.type.startsWith('bitfield')
    ? (BigInt(raw) & ~values.reduce((mask, bit) => mask | (1n << bit), 0n)) === 0n
    : values.includes(BigInt(raw));
  if (!ok) throw new SlaveException(ModbusExceptionCode.IllegalDataValue);
}

function commonModel(info: CommonInfo): SimModel {
  return {
    id: 1,
    init(block) {
      block.setRaw('Mn', info.manufacturer);
      block.setRaw('Md', info.model);
      block.setRaw('SN', info.serial);
      block.setRaw('Vr', info.version ?? '1.0.0');
      block.setRaw('DA', 1);
      block.setRaw('Pad', undefined);
    },
    accept(next, written) {
      const da = Number(next.raw('DA'));
      if (written.has('DA') && !(da >= DEVICE_ADDRESS_RANGE.min && da <= DEVICE_ADDRESS_RANGE.max)) throw new SlaveException(ModbusExceptionCode.IllegalDataValue);
    },
  };
}
