/**
 * A SunSpec device on a Modbus bus: discovers its map once, reads models in as few
 * ≤125-register requests as the map allows, checks every read against the cached map (a
 * changed chain after a firmware update is reported and re-discovered), and writes
 * points with read-back.
 */
import { ModbusExceptionCode, type ModbusBus } from '../modbus/bus.ts';
import { DeviceError, isDeviceError } from '../../src/devices/errors.ts';
import { discoverSunSpec, type DiscoveredModel, type SunSpecMap } from './discovery.ts';
import { layoutFromRegisters, ModelBlock } from './model-block.ts';
import { modelDefinition } from './models.ts';

/** Modbus limit for one read-holding-registers request. */
const MAX_READ_REGISTERS = 125;

export interface SunSpecClientOptions {
  bus: ModbusBus;
  unitId: number;
  /** Device name for errors. */
  device: string;
}

interface Span {
  start: number;
  count: number;
}

/** Groups the models' register ranges into as few reads as possible, none longer than 125. */
function planReads(models: readonly DiscoveredModel[]): Span[] {
  const spans: Span[] = [];
  for (const m of [...models].sort((a, b) => a.address - b.address)) {
    let start = m.address;
    const end = m.address + 2 + m.length;
    const last = spans.at(-1);
    if (last && last.start + last.count === start && last.count < MAX_READ_REGISTERS) {
      const take = Math.min(end - start, MAX_READ_REGISTERS - last.count);
      last.count += take;
      start += take;
    }
    for (; start < end; start += MAX_READ_REGISTERS) spans.push({ start, count: Math.min(MAX_READ_REGISTERS, end - start) });
  }
  return spans;
}

export class SunSpecClient {
  private map: SunSpecMap | undefined;
  /** Bumped on every re-discovery, so callers can tell a new map from the old one. */
  private mapGeneration = 0;

  constructor(private readonly options: SunSpecClientOptions) {}

  get device(): string {
    return this.options.device;
  }

  /** Which discovered map is in use (discovering first if needed): a new number after every re-discovery. */
  async generation(): Promise<number> {
    await this.sunspecMap();
    return this.mapGeneration;
  }

  async sunspecMap(): Promise<SunSpecMap> {
    if (!this.map) {
      this.map = await discoverSunSpec(this.options.bus, this.options.unitId, this.options.device);
      this.mapGeneration++;
    }
    return this.map;
  }

  /** Reads the listed models that the device has (first instance of each id), keyed by id. */
  async readModels(ids: readonly number[]): Promise<Map<number, ModelBlock>> {
    const map = await this.sunspecMap();
    const wanted = ids.flatMap((id) => {
      const m = map.models.find((x) => x.id === id);
      return m && modelDefinition(id) ? [m] : [];
    });
    const registers = new Map<number, number>();
    for (const span of planReads(wanted)) {
      let regs: Uint16Array;
      try {
        regs = await this.options.bus.readHoldingRegisters(this.options.unitId, span.start, span.count);
      } catch (e) {
        // An address the cached map says exists is now refused: the map moved under us.
        if (isDeviceError(e) && e.kind === 'exception' && e.detail.code === ModbusExceptionCode.IllegalDataAddress) throw this.mapChanged(`reading ${span.count} registers at ${span.start} was refused (${e.message})`);
        throw e;
      }
      regs.forEach((v, i) => registers.set(span.start + i, v));
    }
    const blocks = new Map<number, ModelBlock>();
    for (const m of wanted) {
      const regs = Uint16Array.from({ length: m.length + 2 }, (_, i) => registers.get(m.address + i) ?? 0);
      if (regs[0] !== m.id || regs[1] !== m.length) {
        throw this.mapChanged(`register ${m.address} holds model ${regs[0]} (length ${regs[1]}), expected ${m.id} (length ${m.length})`);
      }
      blocks.set(m.id, this.decode(m.id, regs));
    }
    return blocks;
  }

  /** Reads one model; DeviceError "discovery" when the device does not have it. */
  async readModel(id: number): Promise<ModelBlock> {
    const block = (await this.readModels([id])).get(id);
    if (!block) throw new DeviceError('discovery', this.device, `SunSpec model ${id} not found on unit ${this.options.unitId}`);
    return block;
  }

  /**
   * Writes a setpoint that the device reverts on its own, so that it is never in force without
   * its revert time: the revert time is written and read back before anything else, then the
   * settings and the enable. A device that acknowledges a write but keeps another value (a
   * revert time of 0 means "never revert") gets the setpoint switched off (`enable` = 0) and
   * the mismatch is reported, naming what was switched off.
   */
  async writeFailSafe(block: ModelBlock, points: { revert: string; settings: readonly string[]; enable: string }): Promise<void> {
    const wrong = (await this.writeAndReadBack(block, [points.revert])) ?? (await this.writeAndReadBack(block, [...points.settings, points.enable]));
    if (!wrong) return;
    block.setRaw(points.enable, 0);
    const off = `${points.enable} 0`;
    const outcome = await this.writeAndReadBack(block, [points.enable]).then(
      (offWrong) => (offWrong ? `switching it off (${off}) did not read back either (${offWrong})` : `the setpoint was switched off (${off})`),
      (e: unknown) => `switching it off (${off}) failed: ${e instanceof Error ? e.message : String(e)}`,
    );
    throw new DeviceError('mismatch', this.device, `SunSpec model ${block.id}: write did not read back (${wrong}); ${outcome}`);
  }

  /**
   * Writes the points in the order listed, then reads them back; a mismatch is re-written once.
   * Returns what still differs after the second attempt, or undefined.
   */
  private async writeAndReadBack(block: ModelBlock, paths: readonly string[]): Promise<string | undefined> {
    const address = await this.addressOf(block.id);
    for (let attempt = 1; ; attempt++) {
      for (const path of paths) {
        await this.options.bus.writeRegisters(this.options.unitId, address + block.point(path).offset, block.registersOf(path));
      }
      const back = await this.readModel(block.id);
      const wrong = paths.filter((p) => !back.registersOf(p).every((v, i) => v === block.registersOf(p)[i]));
      if (wrong.length === 0) return undefined;
      if (attempt === 2) return wrong.map((p) => `${p} wrote ${String(block.raw(p))} read ${String(back.raw(p))}`).join(', ');
    }
  }

  private async addressOf(id: number): Promise<number> {
    const m = (await this.sunspecMap()).models.find((x) => x.id === id);
    if (!m) throw new DeviceError('discovery', this.device, `SunSpec model ${id} not found`);
    return m.address;
  }

  private decode(id: number, regs: Uint16Array): ModelBlock {
    try {
      return new ModelBlock(layoutFromRegisters(modelDefinition(id)!, regs), regs, this.device);
    } catch (e) {
      throw new DeviceError('garbage', this.device, `SunSpec model ${id} does not decode: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }

  private mapChanged(why: string): DeviceError {
    this.map = undefined;
    return new DeviceError('discovery', this.device, `SunSpec model chain changed (${why}); it will be re-discovered on the next request`);
  }
}
