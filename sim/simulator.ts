/**
 * The hardware simulator: one plant and, for every device a board profile wires up, a
 * simulated device on a real endpoint of the same kind — SunSpec units and register-map devices
 * (served from their map files) behind a Modbus TCP server or on an RTU line, Modbus RTU units
 * (the relay board) on a pseudo-terminal, the Pylontech BMS on its
 * own pseudo-terminal, the Firmata relay board on another. The profile (boards/sim.yaml) is
 * the single description of the wiring: every bus whose endpoint is a `${name}` placeholder
 * gets a simulated endpoint, and `vars` maps each name to it, so the gateway loads the same
 * profile with `vars` and finds the devices where the profile says they are.
 */
import type { Clock } from '../src/time/clock.ts';
import { packageFile } from '../src/package/paths.ts';
import { deviceRoles, endpointPlaceholders, loadBoardLayout, loadBoardProfile, type BusProfile, type DeviceProfile, type ModbusRelayProfile, type PinRelayProfile } from '../src/config/board.ts';
import type { RegisterSpace } from './modbus/register-space.ts';
import { ModbusFaults } from './modbus/faults.ts';
import { startModbusTcpServer } from './modbus/tcp-server.ts';
import { startModbusRtuSlave } from './modbus/rtu-slave.ts';
import { openPtyPair } from './serial/pty.ts';
import { simPvInverter } from './sunspec/pv-inverter.ts';
import { sharePv } from './sunspec/pv-share.ts';
import { simMeter } from './sunspec/meter.ts';
import { simBattery } from './sunspec/battery.ts';
import type { SunSpecSpace } from './sunspec/sunspec-space.ts';
import { SimRegisterMapDevice } from './register-map/device.ts';
import { startPylontechBmsSim, type PylontechBmsSim } from './bms/pylontech-bms.ts';
import { createRelayBoardSpace } from './relay/modbus-relay-board.ts';
import { startFirmataRelayBoard, type FirmataRelayBoard } from './relay/firmata-board.ts';
import { Plant, type PlantOptions } from './plant/plant.ts';
import type { PlantView } from './plant/plant-view.ts';
import { loadSimulatedHousehold, type SimulatedHousehold, type SimulatedHouseholdOptions } from './plant/household.ts';
import type { ShiftableDemandFeed } from '../src/records/types.ts';

export const simBoardFile = packageFile('boards', 'sim.yaml');

export interface SimulatorOptions {
  clock: Clock;
  /** The board whose devices to simulate; default boards/sim.yaml. Its ratings size the plant. */
  boardFile?: string;
  /**
   * Replay this real household (sim/plant/household.ts): its inflexible load and PV drive the
   * plant, its shiftable requests come out of `demand`. Default: the board's own data slice, no requests.
   */
  household?: SimulatedHouseholdOptions;
}

/** Where tests make devices misbehave: by bus name (Modbus links, Firmata boards) or by device id. */
export interface FaultSwitchboards {
  modbus: Record<string, ModbusFaults>;
  /** A SunSpec device's register map: point-level faults and firmware updates (docs/sunspec.md). */
  sunspec: Record<string, SunSpecSpace>;
  /** A register-map device by id: writes it acknowledges and ignores (docs/register-maps.md). */
  registerMap: Record<string, SimRegisterMapDevice>;
  bms: Record<string, PylontechBmsSim>;
  firmata: Record<string, FirmataRelayBoard>;
}

export interface Simulator {
  /** Placeholder name → endpoint (a TCP port or the gateway's end of a pty), for loadBoardProfile. */
  readonly vars: Record<string, string>;
  readonly plant: Plant;
  readonly clock: Clock;
  readonly faults: FaultSwitchboards;
  /** The simulated household's shiftable requests; null without `household`. */
  readonly demand: ShiftableDemandFeed | null;
  close(): Promise<void>;
}

type Closer = () => Promise<void>;

export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const { clock } = options;
  const boardFile = options.boardFile ?? simBoardFile;
  const placeholders = endpointPlaceholders(boardFile);
  // The structure is checked with stand-in endpoints first; the real ones exist only once started.
  const layout = loadBoardLayout(boardFile);
  const devices = Object.entries(layout.devices);
  const ratings = plantRatings(devices.map(([, d]) => d));
  // The plant starts now, and the household asks for nothing before it: the gateway's queue
  // (from the feed's startMs) and the appliance's pending energy then hold the same jobs.
  const startMs = clock.nowMs();
  const household = options.household ? await loadSimulatedHousehold({ ...options.household, requestsFromMs: Math.max(options.household.requestsFromMs ?? -Infinity, startMs) }) : null;
  if (household) checkHouseholdFits(household, layout.devices, ratings, boardFile);
  const plant = new Plant({ clock, startMs, ...ratings, ...(household ? householdWorld(household, layout.devices, ratings) : {}) });
  const faults: FaultSwitchboards = { modbus: {}, sunspec: {}, registerMap: {}, bms: {}, firmata: {} };
  const pvInverters = devices.flatMap(([id, d]) => (deviceRoles(d).includes('pv-inverter') ? [{ id, ratedPowerKw: ratedPvKw(d) }] : []));
  const pvViews = new Map(sharePv(plant, pvInverters.map((pv) => pv.ratedPowerKw)).map((view, i) => [pvInverters[i]!.id, view]));
  const vars: Record<string, string> = {};
  const closers: Closer[] = [];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  };

  try {
    for (const [busName, bus] of Object.entries(layout.buses)) {
      const placeholder = placeholders[busName];
      if (!placeholder) throw new Error(`${boardFile}: bus "${busName}" has a fixed endpoint; the simulator serves only buses whose ${bus.type === 'modbus-tcp' ? 'port' : 'path'} is a \${name} placeholder`);
      const onBus = devices.filter(([, d]) => d.bus === busName);
      vars[placeholder.name] = await startBus(busName, bus, onBus, { plant, pvViews, clock, faults, closers });
    }
    // What the gateway will load: fails here, naming the field, if an endpoint did not fit.
    loadBoardProfile(boardFile, vars);
    return { vars, plant, clock, faults, demand: household?.demand ?? null, close };
  } catch (e) {
    await close();
    throw e;
  }
}

interface Context {
  plant: Plant;
  /** Each PV inverter's share of the plant's PV, by device id. */
  pvViews: Map<string, PlantView>;
  clock: Clock;
  faults: FaultSwitchboards;
  closers: Closer[];
}

/** Starts the simulated endpoint of one bus and its devices; returns what its placeholder stands for. */
async function startBus(busName: string, bus: BusProfile, onBus: [string, DeviceProfile][], ctx: Context): Promise<string> {
  const { plant, faults, closers } = ctx;
  switch (bus.type) {
    case 'modbus-tcp': {
      faults.modbus[busName] = new ModbusFaults();
      const server = await startModbusTcpServer({ port: 0, units: modbusUnits(onBus, ctx), faults: faults.modbus[busName] });
      closers.push(() => server.close());
      return String(server.port);
    }
    case 'modbus-rtu': {
      const pty = await openPtyPair(busName);
      closers.push(() => pty.close());
      faults.modbus[busName] = new ModbusFaults();
      const slave = await startModbusRtuSlave({ path: pty.simPath, baudRate: bus.baudRate, units: modbusUnits(onBus, ctx), faults: faults.modbus[busName] });
      closers.push(() => slave.close());
      return pty.devicePath;
    }
    case 'serial': {
      if (onBus.length > 1) throw new Error(`bus "${busName}": the simulator runs one BMS per serial line, the profile puts ${onBus.length} there`);
      const pty = await openPtyPair(busName);
      closers.push(() => pty.close());
      for (const [id, device] of onBus) {
        if (device.kind !== 'bms') continue;
        const bms = await startPylontechBmsSim({ path: pty.simPath, plant, baudRate: bus.baudRate, address: device.address });
        closers.push(() => bms.close());
        faults.bms[id] = bms;
      }
      return pty.devicePath;
    }
    case 'firmata': {
      const pty = await openPtyPair(busName);
      closers.push(() => pty.close());
      const relayPins = new Map(onBus.map(([id, d]) => [firmataPin(id, d as PinRelayProfile), (d as PinRelayProfile).channel]));
      const board = await startFirmataRelayBoard({ path: pty.simPath, plant, relayPins, ...(bus.baudRate ? { baudRate: bus.baudRate } : {}) });
      closers.push(() => board.close());
      faults.firmata[busName] = board;
      return pty.devicePath;
    }
    case 'gpio':
      throw new Error(`bus "${busName}": GPIO pins cannot be simulated; give the simulated board a Firmata bus instead`);
  }
}

/** The register spaces of the Modbus units on one bus: SunSpec devices, and relay boards assembled from their coils. */
function modbusUnits(onBus: [string, DeviceProfile][], { plant, pvViews, clock, faults, closers }: Context): Map<number, RegisterSpace> {
  const units = new Map<number, RegisterSpace>();
  const relayBoards = new Map<number, number[]>();
  const sunspec = (id: string, unitId: number, space: SunSpecSpace) => {
    faults.sunspec[id] = space;
    units.set(unitId, space);
    closers.push(async () => space.close());
  };
  for (const [id, device] of onBus) {
    const common = { serial: id };
    switch (device.kind) {
      case 'pv-inverter':
        sunspec(id, device.unitId, simPvInverter(pvViews.get(id)!, clock, { common }));
        break;
      case 'meter':
        // A meter the profile says is reversed is simulated reversed, so the gateway must correct it.
        sunspec(id, device.unitId, simMeter(plant, { common, ...(device.exportPositive !== undefined ? { exportPositive: device.exportPositive } : {}) }));
        break;
      case 'battery-storage':
        sunspec(id, device.unitId, simBattery(plant, clock, { ratedPowerKw: Math.max(plant.battery.maxChargeKw, plant.battery.maxDischargeKw), common, ...(device.dischargeRateBase ? { dischargeRateBase: device.dischargeRateBase } : {}) }));
        break;
      case 'relay': {
        const { unitId, coil, channel } = device as ModbusRelayProfile;
        const coils = relayBoards.get(unitId) ?? [];
        coils[coil] = channel;
        relayBoards.set(unitId, coils);
        break;
      }
      case 'register-map': {
        const space = new SimRegisterMapDevice({ map: device.registerMap, clock, plant, ...(pvViews.has(id) ? { pv: pvViews.get(id)! } : {}) });
        faults.registerMap[id] = space;
        units.set(device.unitId, space);
        closers.push(async () => space.close());
        break;
      }
      case 'bms':
        break;
    }
  }
  for (const [unitId, coils] of relayBoards) {
    const gap = Array.from(coils.keys()).find((i) => coils[i] === undefined);
    if (gap !== undefined) throw new Error(`relay board unit ${unitId}: coil ${gap} is not wired to a load; the simulated board has coils 0..${coils.length - 1} without gaps`);
    units.set(unitId, createRelayBoardSpace(plant, coils));
  }
  return units;
}

function firmataPin(id: string, device: PinRelayProfile): number {
  const pin = typeof device.pin === 'number' ? device.pin : Number.parseInt(device.pin, 10);
  if (!Number.isInteger(pin)) throw new Error(`device "${id}": a Firmata relay needs a digital pin number, got "${device.pin}"`);
  return pin;
}

/** The world the profile describes: PV (all inverters together) and battery sized by their devices' ratings, a load on every relay channel. */
function plantRatings(devices: DeviceProfile[]): Omit<PlantOptions, 'clock'> {
  const pvRatedPowerKw = devices.reduce((sum, d) => sum + (deviceRoles(d).includes('pv-inverter') ? ratedPvKw(d) : 0), 0);
  const storage = devices.find((d) => deviceRoles(d).includes('battery-storage')) as { capacityKwh: number } | undefined;
  return {
    ...(pvRatedPowerKw > 0 ? { pvRatedPowerKw } : {}),
    ...(storage ? { battery: { capacityKwh: storage.capacityKwh } } : {}),
    relays: devices.flatMap((d) => (d.kind === 'relay' ? [{ channel: d.channel, ratedPowerKw: d.ratedPowerKw }] : [])),
  };
}

/** A PV inverter's rating: required of every device the profile makes a PV inverter (src/config/board.ts). */
function ratedPvKw(device: DeviceProfile): number {
  return (device as { ratedPowerKw: number }).ratedPowerKw;
}

/** The household's inflexible load and PV, and its shiftable requests arriving into the appliance behind its relay. */
function householdWorld(household: SimulatedHousehold, devices: Record<string, DeviceProfile>, ratings: Omit<PlantOptions, 'clock'>): Pick<PlantOptions, 'profile' | 'relays'> {
  const relay = devices[household.shiftableRelay];
  const channel = relay?.kind === 'relay' ? relay.channel : undefined;
  return { profile: household.profile, relays: (ratings.relays ?? []).map((r) => (r.channel === channel ? { ...r, demand: household.relayDemand } : r)) };
}

/** The board must have the relay that serves the requests, and an inverter rated for the household's PV peak. */
function checkHouseholdFits(household: SimulatedHousehold, devices: Record<string, DeviceProfile>, ratings: Omit<PlantOptions, 'clock'>, boardFile: string): void {
  const relay = devices[household.shiftableRelay];
  if (relay?.kind !== 'relay') {
    const relays = Object.entries(devices).filter(([, d]) => d.kind === 'relay').map(([id]) => id);
    throw new Error(`${boardFile}: the simulated household's shiftable load needs relay "${household.shiftableRelay}", the board has ${relays.join(', ') || 'no relay'}`);
  }
  const pvRatedKw = ratings.pvRatedPowerKw ?? 0;
  if (household.pvPeakKw > pvRatedKw) {
    throw new Error(`${boardFile}: the pv-inverter's ratedPowerKw ${pvRatedKw} is below ${household.id}'s PV peak of ${household.pvPeakKw} kW`);
  }
}
