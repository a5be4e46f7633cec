/**
 * A simulated device served from its register map (drivers/register-map/maps/*.yaml), the same
 * file the gateway's driver reads: every point the map lists answers at its address in its
 * table, each role field is filled from the plant (meter: the grid connection point; PV: this
 * inverter's share; battery: the pack), encoded with the map's type, word order, scale, unit
 * and sign. Writes go to writable points only (exception 2 elsewhere) and drive the battery as
 * the map's setpoint describes: enabled → the power (and direction) becomes the plant's battery
 * setpoint, the timeout point (if any) arms the firmware's revert; reverted → 0 kW. A device
 * without a timeout point keeps a forced setpoint until told otherwise, as such devices do.
 */
import type { Clock } from '../../src/time/clock.ts';
import { ModbusExceptionCode } from '../../drivers/modbus/bus.ts';
import { decodeRaw, encodeRaw, fromCoreUnit, scaled, toCoreUnit, unscaled } from '../../drivers/register-map/codec.ts';
import { registerCount, type Binding, type MapPoint, type RegisterMap, type RegisterTable } from '../../drivers/register-map/map.ts';
import { SlaveException, type RegisterSpace } from '../modbus/register-space.ts';
import type { PlantView } from '../plant/plant-view.ts';
import { RevertTimer } from '../sunspec/revert-timer.ts';

export interface SimRegisterMapOptions {
  map: RegisterMap;
  clock: Clock;
  /** The grid connection point and the battery. */
  plant: PlantView;
  /** This inverter's share of the plant's PV (several inverters), default the plant's. */
  pv?: PlantView;
}

const TYPE_RANGES = { u16: [0, 0xffff], s16: [-0x8000, 0x7fff], u32: [0, 0xffffffff], s32: [-0x80000000, 0x7fffffff], f32: [-Infinity, Infinity] } as const;

export class SimRegisterMapDevice implements RegisterSpace {
  private readonly registers: Record<RegisterTable, Map<number, number>> = { holding: new Map(), input: new Map() };
  /** Which point each register belongs to. */
  private readonly owner: Record<RegisterTable, Map<number, MapPoint>> = { holding: new Map(), input: new Map() };
  private readonly ignored = new Set<string>();
  private readonly timer: RevertTimer;
  private readonly map: RegisterMap;
  private readonly plant: PlantView;
  private readonly pv: PlantView;

  constructor(options: SimRegisterMapOptions) {
    this.map = options.map;
    this.plant = options.plant;
    this.pv = options.pv ?? options.plant;
    for (const p of Object.values(this.map.points)) {
      for (let i = 0; i < registerCount(p.type); i++) {
        this.registers[p.table].set(p.address + i, 0);
        this.owner[p.table].set(p.address + i, p);
      }
    }
    this.timer = new RevertTimer(options.clock, () => {
      this.storeRevertValues();
      this.plant.setBatterySetpointKw(0);
    });
    // Powered up in its own mode: nothing forced.
    if (this.map['battery-storage']) this.storeRevertValues();
  }

  readHolding(address: number, count: number): Uint16Array {
    return this.read('holding', address, count);
  }

  readInput(address: number, count: number): Uint16Array {
    return this.read('input', address, count);
  }

  writeHolding(address: number, values: Uint16Array): void {
    const touched = new Set<MapPoint>();
    for (let i = 0; i < values.length; i++) {
      const p = this.owner.holding.get(address + i);
      if (!p?.writable) throw new SlaveException(ModbusExceptionCode.IllegalDataAddress);
      touched.add(p);
    }
    // Whole points only: half of a 32-bit value is not a value.
    for (const p of touched) if (p.address < address || p.address + registerCount(p.type) > address + values.length) throw new SlaveException(ModbusExceptionCode.IllegalDataAddress);
    for (const p of touched) {
      if (this.ignored.has(p.name)) continue;
      for (let i = 0; i < registerCount(p.type); i++) this.registers.holding.set(p.address + i, values[p.address - address + i]!);
    }
    if (this.map['battery-storage']) this.applySetpoint();
  }

  /** Fault: the device acknowledges writes to this point and keeps its value (e.g. a timeout it does not support). */
  ignoreWrites(point: string, ignore = true): void {
    if (!this.map.points[point]) throw new Error(`register map ${this.map.name} has no point ${point}`);
    if (ignore) this.ignored.add(point);
    else this.ignored.delete(point);
  }

  /** A point's value in its unit, as the device holds it now (what a technician would read on its display). */
  value(point: string): number {
    this.refresh();
    return this.valueOf(this.map.points[point]!);
  }

  close(): void {
    this.timer.close();
  }

  private read(table: RegisterTable, address: number, count: number): Uint16Array {
    this.refresh();
    const regs = this.registers[table];
    return Uint16Array.from({ length: count }, (_, i) => {
      const w = regs.get(address + i);
      if (w === undefined) throw new SlaveException(ModbusExceptionCode.IllegalDataAddress);
      return w;
    });
  }

  /** Every role field from the plant, as the firmware would measure it now. */
  private refresh(): void {
    this.timer.check();
    const { meter } = this.map;
    const pv = this.map['pv-inverter'];
    const battery = this.map['battery-storage'];
    if (meter) {
      this.put(meter.netImportKw, this.plant.meterNetImportKw());
      if (meter.importedEnergyKwh) this.put(meter.importedEnergyKwh, this.plant.meterImportedEnergyKwh());
      if (meter.exportedEnergyKwh) this.put(meter.exportedEnergyKwh, this.plant.meterExportedEnergyKwh());
    }
    if (pv) {
      this.put(pv.acPowerKw, this.pv.pvAcPowerKw());
      if (pv.energyKwh) this.put(pv.energyKwh, this.pv.pvEnergyKwh());
    }
    if (battery) {
      this.put(battery.socFraction, this.plant.batterySocFraction());
      this.put(battery.powerKw, this.plant.batteryPowerKw());
      if (battery.maxChargeKw) this.put(battery.maxChargeKw, this.plant.batteryMaxChargeKw());
      if (battery.maxDischargeKw) this.put(battery.maxDischargeKw, this.plant.batteryMaxDischargeKw());
    }
  }

  /** Stores a value in the core's units (kW, kWh, fraction) as the map says the device shows it. */
  private put(binding: Binding, coreValue: number): void {
    const p = this.map.points[binding.point]!;
    let v = binding.negate ? -coreValue : coreValue;
    if (binding.negativeWhen) {
      const flag = this.map.points[binding.negativeWhen.point]!;
      const bits = decodeRaw(flag, this.words(flag));
      const mask = 2 ** binding.negativeWhen.bit;
      this.store(flag, v < 0 ? bits | mask : bits & ~mask);
      v = Math.abs(v);
    }
    const [min, max] = TYPE_RANGES[p.type];
    // A measurement beyond what the register holds saturates, as device firmware does.
    this.store(p, Math.min(max, Math.max(min, unscaled(p, fromCoreUnit(p, v), this.scaleFactor(p)))));
  }

  private applySetpoint(): void {
    const sp = this.map['battery-storage']!.setpoint;
    const enabled = sp.enable.every((e) => this.valueOf(this.map.points[e.point]!) === e.value);
    if (!enabled) {
      this.timer.disarm();
      this.plant.setBatterySetpointKw(0);
      return;
    }
    const magnitudeKw = toCoreUnit(this.map.points[sp.power.point]!, this.valueOf(this.map.points[sp.power.point]!));
    let powerKw = sp.power.negate ? -magnitudeKw : magnitudeKw;
    if (sp.direction) {
      const command = this.valueOf(this.map.points[sp.direction.point]!);
      powerKw = command === sp.direction.discharge ? Math.abs(magnitudeKw) : command === sp.direction.charge ? -Math.abs(magnitudeKw) : 0;
    }
    this.plant.setBatterySetpointKw(powerKw);
    if (sp.timeout) this.timer.arm(toCoreUnit(this.map.points[sp.timeout.point]!, this.valueOf(this.map.points[sp.timeout.point]!)));
  }

  /** The map's revert values: the device in its own mode. */
  private storeRevertValues(): void {
    for (const r of this.map['battery-storage']!.setpoint.revert) this.store(this.map.points[r.point]!, unscaled(this.map.points[r.point]!, r.value));
  }

  private valueOf(p: MapPoint): number {
    return scaled(p, decodeRaw(p, this.words(p)), this.scaleFactor(p));
  }

  private scaleFactor(p: MapPoint): number {
    if (!p.scaleFactor) return 0;
    const sf = this.map.points[p.scaleFactor]!;
    return decodeRaw(sf, this.words(sf));
  }

  private words(p: MapPoint): number[] {
    return Array.from({ length: registerCount(p.type) }, (_, i) => this.registers[p.table].get(p.address + i)!);
  }

  private store(p: MapPoint, raw: number): void {
    encodeRaw(p, raw).forEach((w, i) => this.registers[p.table].set(p.address + i, w));
  }
}
