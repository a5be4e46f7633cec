/**
 * Builds the gateway's devices from a board profile: opens each bus once, runs SunSpec
 * discovery on every Modbus device, probes every device with one reading, pairs the storage
 * inverter with its BMS into one `Battery`, sums several PV inverters into one `PvInverter`,
 * and returns the typed capabilities plus a report of what was found where, or why not. A
 * device that does not answer at start-up is reported and left out; the rest still come up.
 * (A BMS that does not answer is the exception: it is part of the battery, which then reads as
 * unavailable until the BMS answers. Nor is PV offered while one of several inverters is
 * missing: their sum would be wrong.)
 */
import type { Battery, GridMeter, LoadRelay, PvInverter, Reading } from '../devices/capabilities.ts';
import type { Bms } from '../devices/bms.ts';
import type { Clock } from '../time/clock.ts';
import type { BoardProfile, BusProfile, DeviceProfile, ModbusDeviceProfile, ModbusRelayProfile, PinRelayProfile } from '../config/board.ts';
import type { ModbusBus } from '../../drivers/modbus/bus.ts';
import { createModbusTcpBus } from '../../drivers/modbus/tcp.ts';
import { createModbusRtuBus } from '../../drivers/modbus/rtu.ts';
import { discoverSunSpec } from '../../drivers/sunspec/discovery.ts';
import { SunSpecPvInverter } from '../../drivers/sunspec/pv-inverter.ts';
import { SunSpecGridMeter } from '../../drivers/sunspec/grid-meter.ts';
import { SunSpecBattery } from '../../drivers/sunspec/battery.ts';
import { createPylontechBms } from '../../drivers/bms/pylontech.ts';
import { openFirmataBoard, openIoPluginBoard, type IoBoard } from '../../drivers/relay/io-board.ts';
import { createJohnnyFiveRelay } from '../../drivers/relay/johnny-five-relay.ts';
import { createModbusRelay } from '../../drivers/relay/modbus-relay.ts';
import { combineBattery } from './combined-battery.ts';
import { combinePvInverters } from './combined-pv.ts';

export interface GatewayOptions {
  clock: Clock;
}

export interface DeviceReport {
  id: string;
  kind: DeviceProfile['kind'];
  endpoint: string;
  found: boolean;
  /** What was found (models, first reading) or why the device is missing. */
  detail: string;
}

export interface Gateway {
  meter?: GridMeter;
  pv?: PvInverter;
  battery?: Battery;
  /** Ordered by load channel. */
  relays: LoadRelay[];
  report: DeviceReport[];
  close(): Promise<void>;
}

type Probe = { found: true; detail: string } | { found: false; detail: string };

export async function assembleGateway(board: BoardProfile, options: GatewayOptions): Promise<Gateway> {
  const buses = new Buses(board, options.clock);
  const report = new Map<string, DeviceReport>();
  const note = (id: string, device: DeviceProfile, probe: Probe) => report.set(id, { id, kind: device.kind, endpoint: buses.endpoint(device.bus), ...probe });
  const gateway: Gateway = { relays: [], report: [], close: () => buses.close() };
  const relays: { channel: number; relay: LoadRelay }[] = [];
  const pvs = new Map<string, PvInverter>();
  let storage: { id: string; inverter: Battery } | undefined;
  let bms: { id: string; bms: Bms } | undefined;

  await Promise.all(
    Object.entries(board.devices).map(async ([id, device]) => {
      try {
        switch (device.kind) {
          case 'pv-inverter':
          case 'meter':
          case 'battery-storage': {
            const found = await sunspecDevice(id, device, buses, options);
            note(id, device, found.probe);
            if (!found.probe.found) return;
            if (found.pv) pvs.set(id, found.pv);
            if (found.meter) gateway.meter = found.meter;
            if (found.battery) storage = { id, inverter: found.battery };
            return;
          }
          case 'bms': {
            const bus = board.buses[device.bus] as Extract<BusProfile, { type: 'serial' }>;
            const driver = createPylontechBms({ id, path: bus.path, baudRate: bus.baudRate, address: device.address, clock: options.clock, ...(bus.timeoutMs ? { timeoutMs: bus.timeoutMs } : {}) });
            buses.own(() => driver.close());
            bms = { id, bms: driver };
            note(id, device, probeOf(await driver.read(), (v) => `SoC ${(v.socFraction * 100).toFixed(1)} %, ${v.cellVoltagesV.length} cells, pack ${v.packVoltageV.toFixed(1)} V`));
            return;
          }
          case 'relay': {
            const relay = await relayDevice(id, device, buses, options);
            const probe = probeOf(await relay.read(), (v) => `${v.on ? 'on' : 'off'}, ${relay.ratedPowerKw} kW on load channel ${device.channel}`);
            note(id, device, probe);
            if (probe.found) relays.push({ channel: device.channel, relay });
            return;
          }
        }
      } catch (e) {
        note(id, device, { found: false, detail: e instanceof Error ? e.message : String(e) });
      }
    }),
  );

  const amend = (id: string, more: string) => report.set(id, { ...report.get(id)!, detail: `${report.get(id)!.detail}; ${more}` });
  if (storage && bms) {
    gateway.battery = combineBattery({ id: storage.id, inverter: storage.inverter, bms: bms.bms, clock: options.clock });
    if (!report.get(bms.id)!.found) amend(bms.id, `battery "${storage.id}" is built anyway and reads unavailable until the BMS answers`);
  } else if (storage) gateway.battery = storage.inverter;
  else if (bms) amend(bms.id, 'no storage inverter to pair it with, so no battery is offered');
  const pvIds = Object.keys(board.devices).filter((id) => board.devices[id]!.kind === 'pv-inverter');
  const missingPv = pvIds.filter((id) => !pvs.has(id));
  if (missingPv.length === 0 && pvIds.length > 0) gateway.pv = pvIds.length === 1 ? pvs.get(pvIds[0]!) : combinePvInverters(pvIds.map((id) => pvs.get(id)!));
  else for (const id of pvs.keys()) amend(id, `PV is the sum of ${pvIds.join(', ')}, and ${missingPv.join(', ')} did not answer, so no PV is offered`);
  gateway.relays = relays.sort((a, b) => a.channel - b.channel).map((r) => r.relay);
  gateway.report = Object.keys(board.devices).map((id) => report.get(id)!);
  return gateway;
}

interface SunSpecFound {
  probe: Probe;
  pv?: PvInverter;
  meter?: GridMeter;
  battery?: Battery;
}

async function sunspecDevice(id: string, device: ModbusDeviceProfile, buses: Buses, options: GatewayOptions): Promise<SunSpecFound> {
  const bus = buses.modbus(device.bus);
  const { clock } = options;
  const map = await discoverSunSpec(bus, device.unitId, id);
  const models = `SunSpec models ${map.models.map((m) => m.id).join(', ')} at ${map.baseAddress}`;
  const common = { id, bus, unitId: device.unitId, clock };
  switch (device.kind) {
    case 'pv-inverter': {
      const pv = new SunSpecPvInverter({ ...common, ratedPowerKw: device.ratedPowerKw });
      return { pv, probe: probeOf(await pv.read(), (v) => `${models}; ${v.acPowerKw.toFixed(2)} kW, ${v.state}`) };
    }
    case 'meter': {
      const meter = new SunSpecGridMeter({ ...common, ...(device.exportPositive !== undefined ? { exportPositive: device.exportPositive } : {}), ...(device.maxPlausibleKw !== undefined ? { maxPlausibleKw: device.maxPlausibleKw } : {}) });
      return { meter, probe: probeOf(await meter.read(), (v) => `${models}; net import ${v.netImportKw.toFixed(2)} kW`) };
    }
    case 'battery-storage': {
      const battery = new SunSpecBattery({ ...common, capacityKwh: device.capacityKwh, ...(device.dischargeRateBase ? { dischargeRateBase: device.dischargeRateBase } : {}) });
      return { battery, probe: probeOf(await battery.read(), (v) => `${models}; ${device.capacityKwh} kWh, SoC ${(v.socFraction * 100).toFixed(1)} % (inverter's view)`) };
    }
  }
}

async function relayDevice(id: string, device: PinRelayProfile | ModbusRelayProfile, buses: Buses, options: GatewayOptions): Promise<LoadRelay> {
  const { clock } = options;
  if ('coil' in device) return createModbusRelay({ id, bus: buses.modbus(device.bus), unitId: device.unitId, coil: device.coil, ratedPowerKw: device.ratedPowerKw, clock });
  const board = await buses.ioBoard(device.bus);
  const timeoutMs = buses.profile(device.bus).timeoutMs;
  return createJohnnyFiveRelay({ id, board, pin: device.pin, ratedPowerKw: device.ratedPowerKw, clock, ...(device.activeLow !== undefined ? { activeLow: device.activeLow } : {}), ...(timeoutMs ? { timeoutMs } : {}) });
}

function probeOf<T>(reading: Reading<T>, describe: (value: T) => string): Probe {
  return reading.ok ? { found: true, detail: describe(reading.value) } : { found: false, detail: reading.error.message };
}

/** Each bus is opened once, on first use, and closed with the gateway (devices share them). */
class Buses {
  private readonly modbusBuses = new Map<string, ModbusBus>();
  private readonly boards = new Map<string, Promise<IoBoard>>();
  private readonly closers: (() => Promise<void>)[] = [];

  constructor(
    private readonly board: BoardProfile,
    private readonly clock: Clock,
  ) {}

  profile(name: string): BusProfile {
    return this.board.buses[name]!;
  }

  endpoint(name: string): string {
    const bus = this.profile(name);
    switch (bus.type) {
      case 'modbus-tcp':
        return `tcp://${bus.host}:${bus.port}`;
      case 'modbus-rtu':
        return `rtu:${bus.path}@${bus.baudRate}`;
      case 'serial':
        return `${bus.protocol}:${bus.path}@${bus.baudRate}`;
      case 'firmata':
        return `firmata:${bus.path}`;
      case 'gpio':
        return `gpio:${bus.ioPlugin}`;
    }
  }

  modbus(name: string): ModbusBus {
    let bus = this.modbusBuses.get(name);
    if (bus) return bus;
    const p = this.profile(name);
    const common = { clock: this.clock, name, ...(p.timeoutMs ? { timeoutMs: p.timeoutMs } : {}) };
    if (p.type === 'modbus-tcp') bus = createModbusTcpBus({ host: p.host, port: p.port, ...common });
    else if (p.type === 'modbus-rtu') bus = createModbusRtuBus({ path: p.path, baudRate: p.baudRate, ...(p.parity ? { parity: p.parity } : {}), ...(p.adapterLatencyMs !== undefined ? { adapterLatencyMs: p.adapterLatencyMs } : {}), ...common });
    else throw new Error(`bus "${name}" is ${p.type}, not Modbus`);
    this.modbusBuses.set(name, bus);
    this.own(() => bus.close());
    return bus;
  }

  ioBoard(name: string): Promise<IoBoard> {
    let board = this.boards.get(name);
    if (board) return board;
    const p = this.profile(name);
    if (p.type === 'firmata') board = openFirmataBoard({ path: p.path, ...(p.baudRate ? { baudRate: p.baudRate } : {}), ...(p.timeoutMs ? { timeoutMs: p.timeoutMs } : {}) });
    else if (p.type === 'gpio') board = openIoPluginBoard({ ioPlugin: p.ioPlugin, ...(p.ioOptions ? { ioOptions: p.ioOptions } : {}), ...(p.timeoutMs ? { timeoutMs: p.timeoutMs } : {}) });
    else throw new Error(`bus "${name}" is ${p.type}, not a pin board`);
    this.boards.set(name, board);
    board.then((b) => this.own(() => b.close())).catch(() => undefined);
    return board;
  }

  own(close: () => Promise<void>): void {
    this.closers.push(close);
  }

  async close(): Promise<void> {
    for (const c of this.closers.splice(0).reverse()) await c().catch(() => undefined);
  }
}
