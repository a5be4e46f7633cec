/**
 * One register-map device on a Modbus bus: reads named points (each read request covers a run
 * of adjacent points of one table, never registers the map does not list: a real device may
 * refuse those), decodes them with their scale factors, and writes points with read-back.
 */
import type { ModbusBus } from '../modbus/bus.ts';
import { DeviceError } from '../../src/devices/errors.ts';
import { decodeRaw, encodeRaw, scaled, toCoreUnit, unscaled } from './codec.ts';
import { registerCount, type Binding, type MapPoint, type PointValue, type RegisterMap } from './map.ts';

const MAX_READ_REGISTERS = 125;

export interface RegisterMapClientOptions {
  bus: ModbusBus;
  unitId: number;
  map: RegisterMap;
  /** Device name for errors. */
  device: string;
}

interface Span {
  table: MapPoint['table'];
  start: number;
  count: number;
}

export class RegisterMapClient {
  constructor(private readonly options: RegisterMapClientOptions) {}

  get map(): RegisterMap {
    return this.options.map;
  }

  /** The listed points' values in their units, keyed by point name. */
  async read(names: readonly string[]): Promise<Map<string, number>> {
    const points = this.withScaleFactors(names);
    const words = new Map<string, number>();
    for (const span of planReads(points)) {
      const { bus, unitId } = this.options;
      const regs = span.table === 'input' ? await bus.readInputRegisters(unitId, span.start, span.count) : await bus.readHoldingRegisters(unitId, span.start, span.count);
      regs.forEach((w, i) => words.set(`${span.table}:${span.start + i}`, w));
    }
    const raw = new Map(points.map((p) => [p.name, decodeRaw(p, Array.from({ length: registerCount(p.type) }, (_, i) => words.get(`${p.table}:${p.address + i}`)!))]));
    return new Map(
      names.map((n) => {
        const p = this.point(n);
        return [n, scaled(p, raw.get(n)!, p.scaleFactor ? raw.get(p.scaleFactor) : 0)];
      }),
    );
  }

  /** A role field's value in the core's unit (kW, kWh, fraction), with the binding's sign rule applied. */
  static bound(binding: Binding, values: Map<string, number>, map: RegisterMap): number {
    const v = toCoreUnit(map.points[binding.point]!, values.get(binding.point)!);
    if (binding.negate) return -v;
    if (binding.negativeWhen) return (values.get(binding.negativeWhen.point)! >>> binding.negativeWhen.bit) & 1 ? -Math.abs(v) : Math.abs(v);
    return v;
  }

  /** The points a binding needs read. */
  static pointsOf(binding: Binding): string[] {
    return binding.negativeWhen ? [binding.point, binding.negativeWhen.point] : [binding.point];
  }

  /**
   * Writes the values in order, then reads them back; what differs is re-written once. Returns
   * what still differs after that (e.g. "timeout wrote 60 read 0"), or undefined.
   */
  async writeAndReadBack(values: readonly PointValue[]): Promise<string | undefined> {
    const { bus, unitId } = this.options;
    const sfs = await this.read([...new Set(values.flatMap((v) => this.point(v.point).scaleFactor ?? []))]);
    // Every value is encoded before the first write: a value the register cannot hold must not leave the others half-written.
    let pending = values.map(({ point, value }) => {
      const p = this.point(point);
      try {
        return { p, value, words: encodeRaw(p, unscaled(p, value, p.scaleFactor ? sfs.get(p.scaleFactor) : 0)) };
      } catch (e) {
        throw new DeviceError('garbage', this.options.device, `cannot write ${value} ${p.unit} to ${p.name}: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
    for (let attempt = 1; ; attempt++) {
      for (const { p, words } of pending) await bus.writeRegisters(unitId, p.address, words);
      const back = await this.read(pending.map((r) => r.p.name));
      const wrong = pending.filter(({ p, value }) => !sameValue(p, back.get(p.name)!, value));
      if (wrong.length === 0) return undefined;
      if (attempt === 2) return wrong.map(({ p, value }) => `${p.name} wrote ${value} read ${back.get(p.name)}`).join(', ');
      pending = wrong;
    }
  }

  point(name: string): MapPoint {
    const p = this.options.map.points[name];
    if (!p) throw new Error(`register map ${this.options.map.name} has no point ${name}`);
    return p;
  }

  private withScaleFactors(names: readonly string[]): MapPoint[] {
    const all = new Set<string>();
    for (const n of names) {
      all.add(n);
      const sf = this.point(n).scaleFactor;
      if (sf) all.add(sf);
    }
    return [...all].map((n) => this.point(n));
  }
}

/** f32 round-trips through single precision; integers through their scale. */
function sameValue(point: MapPoint, read: number, wrote: number): boolean {
  return Math.abs(read - wrote) <= (point.type === 'f32' ? Math.abs(wrote) * 1e-6 : Math.abs(point.scale) / 2);
}

/** Adjacent points of one table share a request (up to 125 registers); gaps are never read. */
function planReads(points: readonly MapPoint[]): Span[] {
  const spans: Span[] = [];
  const sorted = [...points].sort((a, b) => (a.table === b.table ? a.address - b.address : a.table < b.table ? -1 : 1));
  for (const p of sorted) {
    const n = registerCount(p.type);
    const last = spans.at(-1);
    if (last && last.table === p.table && p.address >= last.start && p.address <= last.start + last.count && p.address + n - last.start <= MAX_READ_REGISTERS) {
      last.count = Math.max(last.count, p.address + n - last.start);
    } else spans.push({ table: p.table, start: p.address, count: n });
  }
  return spans;
}
