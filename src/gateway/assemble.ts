/**
 * Builds the gateway's devices from a board profile: opens each device through the driver
 * registry (driver-registry.ts: SunSpec discovery, register maps, the BMS, relays), probes
 * every device with one reading, pairs the storage inverter with its BMS into one `Battery`,
 * sums several PV inverters into one `PvInverter`, and returns the typed capabilities plus a
 * report of what was found where, or why not. A device that does not answer at start-up is
 * reported and left out; the rest still come up, and the missing one is tried again with
 * back-off (rediscovery.ts) and brought in when it answers.
 * (A BMS that does not answer is the exception: it is part of the battery, which then reads as
 * unavailable until the BMS answers. Nor is PV offered while one of several inverters is
 * missing: their sum would be wrong.)
 */
import type { Battery, GridMeter, LoadRelay, PvInverter } from '../devices/capabilities.ts';
import type { Bms } from '../devices/bms.ts';
import type { Clock } from '../time/clock.ts';
import { deviceRoles, type BoardProfile, type DeviceProfile } from '../config/board.ts';
import { Buses } from './buses.ts';
import { openDevice } from './driver-registry.ts';
import type { OpenedDevice } from './opened-device.ts';
import { rediscover, type RediscoveryBackoff } from './rediscovery.ts';
import { combineBattery } from './combined-battery.ts';
import { poolBatteries } from './battery-pool.ts';
import { combinePvInverters } from './combined-pv.ts';

export interface GatewayOptions {
  clock: Clock;
  /** How often a device missing at start-up is tried again; default 5 s, doubling, at most 5 min. */
  rediscovery?: RediscoveryBackoff;
  /** Told when a device missing so far answers; it is in `gateway` (and so in the loops) by then. */
  onFound?: (report: DeviceReport) => void;
}

export interface DeviceReport {
  id: string;
  kind: DeviceProfile['kind'];
  endpoint: string;
  found: boolean;
  /** What was found (models, first reading) or why the device is missing. */
  detail: string;
}

/** The devices as the loops see them. Fields are filled in as missing devices are found, so read them when used. */
export interface Gateway {
  meter?: GridMeter;
  pv?: PvInverter;
  battery?: Battery;
  /** Ordered by load channel. */
  relays: LoadRelay[];
  report: DeviceReport[];
  close(): Promise<void>;
}

export async function assembleGateway(board: BoardProfile, options: GatewayOptions): Promise<Gateway> {
  const buses = new Buses(board, options.clock);
  const opened = new Map<string, OpenedDevice>();
  const open = async (id: string): Promise<OpenedDevice> => {
    try {
      return await openDevice(id, board.devices[id]!, { buses, clock: options.clock });
    } catch (e) {
      return { probe: { found: false, detail: e instanceof Error ? e.message : String(e) } };
    }
  };
  await Promise.all(Object.keys(board.devices).map(async (id) => opened.set(id, await open(id))));
  const compose = composer(board, buses, options.clock);
  const gateway: Gateway = { relays: [], report: [], close: () => buses.close() };
  Object.assign(gateway, compose(opened));

  const missing = [...opened].filter(([, o]) => !o.probe.found).map(([id]) => id);
  const rediscovery = rediscover({
    ids: missing,
    clock: options.clock,
    ...(options.rediscovery ? { backoff: options.rediscovery } : {}),
    // A device whose driver is kept while it is silent (the BMS) is read again; any other is opened afresh.
    attempt: async (id) => {
      const previous = opened.get(id)!;
      return previous.reprobe ? { ...previous, probe: await previous.reprobe() } : open(id);
    },
    update: (id, next) => {
      opened.set(id, next);
      Object.assign(gateway, compose(opened));
      if (next.probe.found) options.onFound?.(gateway.report.find((r) => r.id === id)!);
    },
  });
  gateway.close = async () => {
    rediscovery.stop();
    await buses.close();
  };
  return gateway;
}

type Composed = Pick<Gateway, 'meter' | 'pv' | 'battery' | 'relays' | 'report'>;

/**
 * What the opened devices make: the meter, PV (several inverters summed, only while all answer),
 * the battery (storage inverter + BMS), the relays, and the report. The same combination is kept
 * while its parts are the same objects, so a device found later does not reset the others' state.
 */
function composer(board: BoardProfile, buses: Buses, clock: Clock): (opened: Map<string, OpenedDevice>) => Composed {
  let combined: { inverter: Battery; bms: Bms; battery: Battery } | undefined;
  let pooled: { parts: Battery[]; battery: Battery } | undefined;
  const storageIds = Object.keys(board.devices).filter((id) => deviceRoles(board.devices[id]!).includes('battery-storage'));
  let summed: { parts: PvInverter[]; pv: PvInverter } | undefined;
  const pvIds = Object.keys(board.devices).filter((id) => deviceRoles(board.devices[id]!).includes('pv-inverter'));

  return (opened) => {
    const report = new Map<string, DeviceReport>();
    const out: Composed = { relays: [], report: [] };
    const relays: { channel: number; relay: LoadRelay }[] = [];
    const pvs = new Map<string, PvInverter>();
    const storages = new Map<string, Battery>();
    let bms: { id: string; bms: Bms } | undefined;
    for (const [id, device] of Object.entries(board.devices)) {
      const o = opened.get(id)!;
      report.set(id, { id, kind: device.kind, endpoint: buses.endpoint(device.bus), ...o.probe });
      // The BMS is kept even when silent: the battery it belongs to reads unavailable until it answers.
      if (o.bms) bms = { id, bms: o.bms };
      if (!o.probe.found) continue;
      if (o.pv) pvs.set(id, o.pv);
      if (o.meter) out.meter = o.meter;
      if (o.battery) storages.set(id, o.battery);
      if (o.relay) relays.push(o.relay);
    }

    const amend = (id: string, more: string) => report.set(id, { ...report.get(id)!, detail: `${report.get(id)!.detail}; ${more}` });
    const storage = storageIds.length === 1 && storages.has(storageIds[0]!) ? { id: storageIds[0]!, inverter: storages.get(storageIds[0]!)! } : undefined;
    const missingStorage = storageIds.filter((id) => !storages.has(id));
    if (storageIds.length > 1 && missingStorage.length === 0) {
      // Several storage inverters are one pool (the board allows no BMS with them).
      const parts = storageIds.map((id) => storages.get(id)!);
      if (!pooled || pooled.parts.some((p, i) => p !== parts[i])) pooled = { parts, battery: poolBatteries(parts) };
      out.battery = pooled.battery;
    } else if (storageIds.length > 1) {
      for (const id of storages.keys()) amend(id, `the battery is the pool of ${storageIds.join(', ')}, and ${missingStorage.join(', ')} did not answer, so no battery is offered`);
    } else if (storage && bms) {
      if (combined?.inverter !== storage.inverter || combined.bms !== bms.bms) combined = { inverter: storage.inverter, bms: bms.bms, battery: combineBattery({ id: storage.id, inverter: storage.inverter, bms: bms.bms, clock }) };
      out.battery = combined.battery;
      if (!report.get(bms.id)!.found) amend(bms.id, `battery "${storage.id}" is built anyway and reads unavailable until the BMS answers`);
    } else if (storage) out.battery = storage.inverter;
    else if (bms) amend(bms.id, 'no storage inverter to pair it with, so no battery is offered');
    const missingPv = pvIds.filter((id) => !pvs.has(id));
    if (missingPv.length === 0 && pvIds.length === 1) out.pv = pvs.get(pvIds[0]!);
    else if (missingPv.length === 0 && pvIds.length > 1) {
      const parts = pvIds.map((id) => pvs.get(id)!);
      if (!summed || summed.parts.some((p, i) => p !== parts[i])) summed = { parts, pv: combinePvInverters(parts) };
      out.pv = summed.pv;
    } else for (const id of pvs.keys()) amend(id, `PV is the sum of ${pvIds.join(', ')}, and ${missingPv.join(', ')} did not answer, so no PV is offered`);
    out.relays = relays.sort((a, b) => a.channel - b.channel).map((r) => r.relay);
    out.report = Object.keys(board.devices).map((id) => report.get(id)!);
    return out;
  };
}
