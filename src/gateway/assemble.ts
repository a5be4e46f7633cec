/**
 * Builds the gateway's devices from a board profile: opens each device through the driver
 * registry (driver-registry.ts: SunSpec discovery, register maps, the BMS, relays), probes
 * every device with one reading, pairs the storage inverter with its BMS into one `Battery`,
 * sums several PV inverters into one `PvInverter`, and returns the typed capabilities plus a
 * report of what was found where, or why not. A device that does not answer at start-up is
 * reported and left out; the rest still come up.
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

export async function assembleGateway(board: BoardProfile, options: GatewayOptions): Promise<Gateway> {
  const buses = new Buses(board, options.clock);
  const report = new Map<string, DeviceReport>();
  const gateway: Gateway = { relays: [], report: [], close: () => buses.close() };
  const relays: { channel: number; relay: LoadRelay }[] = [];
  const pvs = new Map<string, PvInverter>();
  let storage: { id: string; inverter: Battery } | undefined;
  let bms: { id: string; bms: Bms } | undefined;

  await Promise.all(
    Object.entries(board.devices).map(async ([id, device]) => {
      let opened: OpenedDevice;
      try {
        opened = await openDevice(id, device, { buses, clock: options.clock });
      } catch (e) {
        opened = { probe: { found: false, detail: e instanceof Error ? e.message : String(e) } };
      }
      report.set(id, { id, kind: device.kind, endpoint: buses.endpoint(device.bus), ...opened.probe });
      // The BMS is kept even when silent: the battery it belongs to reads unavailable until it answers.
      if (opened.bms) bms = { id, bms: opened.bms };
      if (!opened.probe.found) return;
      if (opened.pv) pvs.set(id, opened.pv);
      if (opened.meter) gateway.meter = opened.meter;
      if (opened.battery) storage = { id, inverter: opened.battery };
      if (opened.relay) relays.push(opened.relay);
    }),
  );

  const amend = (id: string, more: string) => report.set(id, { ...report.get(id)!, detail: `${report.get(id)!.detail}; ${more}` });
  if (storage && bms) {
    gateway.battery = combineBattery({ id: storage.id, inverter: storage.inverter, bms: bms.bms, clock: options.clock });
    if (!report.get(bms.id)!.found) amend(bms.id, `battery "${storage.id}" is built anyway and reads unavailable until the BMS answers`);
  } else if (storage) gateway.battery = storage.inverter;
  else if (bms) amend(bms.id, 'no storage inverter to pair it with, so no battery is offered');
  const pvIds = Object.keys(board.devices).filter((id) => deviceRoles(board.devices[id]!).includes('pv-inverter'));
  const missingPv = pvIds.filter((id) => !pvs.has(id));
  if (missingPv.length === 0 && pvIds.length > 0) gateway.pv = pvIds.length === 1 ? pvs.get(pvIds[0]!) : combinePvInverters(pvIds.map((id) => pvs.get(id)!));
  else for (const id of pvs.keys()) amend(id, `PV is the sum of ${pvIds.join(', ')}, and ${missingPv.join(', ')} did not answer, so no PV is offered`);
  gateway.relays = relays.sort((a, b) => a.channel - b.channel).map((r) => r.relay);
  gateway.report = Object.keys(board.devices).map((id) => report.get(id)!);
  return gateway;
}
