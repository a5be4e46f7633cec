/** What the register-map meter, PV inverter and battery share: the client, the clock, health. */
import type { DeviceHealth } from '../../src/devices/capabilities.ts';
import { DeviceError } from '../../src/devices/errors.ts';
import type { Clock } from '../../src/time/clock.ts';
import type { ModbusBus } from '../modbus/bus.ts';
import { RegisterMapClient } from './client.ts';
import type { Binding, MapRole, RegisterMap } from './map.ts';

export interface RegisterMapDeviceOptions {
  /** Stable name from the board profile. */
  id: string;
  bus: ModbusBus;
  unitId: number;
  clock: Clock;
  map: RegisterMap;
}

export abstract class RegisterMapDevice {
  readonly id: string;
  protected readonly client: RegisterMapClient;
  protected readonly clock: Clock;
  protected readonly map: RegisterMap;

  constructor(private readonly options: RegisterMapDeviceOptions) {
    this.id = options.id;
    this.clock = options.clock;
    this.map = options.map;
    this.client = new RegisterMapClient({ bus: options.bus, unitId: options.unitId, map: options.map, device: options.id });
  }

  health(): DeviceHealth {
    return this.options.bus.health(this.options.unitId);
  }

  /** The bus is shared and belongs to whoever opened it. */
  async close(): Promise<void> {}

  protected requiredRole<R extends MapRole>(role: R): NonNullable<RegisterMap[R]> {
    const section = this.map[role];
    if (!section) throw new Error(`register map ${this.map.name} (${this.map.file}) has no ${role} section`);
    return section as NonNullable<RegisterMap[R]>;
  }

  /** Reads every point the bindings need in one pass. */
  protected readBindings(bindings: readonly (Binding | undefined)[]): Promise<Map<string, number>> {
    return this.client.read([...new Set(bindings.flatMap((b) => (b ? RegisterMapClient.pointsOf(b) : [])))]);
  }

  protected bound(binding: Binding, values: Map<string, number>): number {
    const v = RegisterMapClient.bound(binding, values, this.map);
    if (!Number.isFinite(v)) throw new DeviceError('garbage', this.id, `${binding.point} reads ${v}`);
    return v;
  }
}
