/** What a device driver of the registry (driver-registry.ts) is given and gives back. */
import type { Battery, GridMeter, LoadRelay, PvInverter, Reading } from '../devices/capabilities.ts';
import type { Bms } from '../devices/bms.ts';
import type { Clock } from '../time/clock.ts';
import type { DeviceProfile } from '../config/board.ts';
import type { Buses } from './buses.ts';

export type Probe = { found: boolean; detail: string };

/** What an opened device offers the gateway, and how its first reading went. */
export interface OpenedDevice {
  probe: Probe;
  meter?: GridMeter;
  pv?: PvInverter;
  battery?: Battery;
  bms?: Bms;
  relay?: { channel: number; relay: LoadRelay };
  /** For a driver that is kept while its device is silent (the BMS): a new probe through it, instead of opening it again. */
  reprobe?: () => Promise<Probe>;
}

export interface OpenContext {
  buses: Buses;
  clock: Clock;
}

export type DeviceDriver<P extends DeviceProfile> = (id: string, device: P, ctx: OpenContext) => Promise<OpenedDevice>;

export function probeOf<T>(reading: Reading<T>, describe: (value: T) => string): Probe {
  return reading.ok ? { found: true, detail: describe(reading.value) } : { found: false, detail: reading.error.message };
}
