/** What the SunSpec inverter, meter and battery drivers share: the client, the clock, health. */
import type { DeviceHealth } from '../../src/devices/capabilities.ts';
import type { Clock } from '../../src/time/clock.ts';
import type { ModbusBus } from '../modbus/bus.ts';
import { SunSpecClient } from './client.ts';

export interface SunSpecDeviceOptions {
  /** Stable name from the configuration, e.g. "pv" or "meter". */
  id: string;
  bus: ModbusBus;
  unitId: number;
  clock: Clock;
}

export abstract class SunSpecDevice {
  readonly id: string;
  protected readonly client: SunSpecClient;
  protected readonly clock: Clock;

  constructor(private readonly options: SunSpecDeviceOptions) {
    this.id = options.id;
    this.clock = options.clock;
    this.client = new SunSpecClient({ bus: options.bus, unitId: options.unitId, device: options.id });
  }

  health(): DeviceHealth {
    return this.options.bus.health(this.options.unitId);
  }

  /** The bus is shared (several units on one RS-485 line) and belongs to whoever opened it. */
  async close(): Promise<void> {}
}
