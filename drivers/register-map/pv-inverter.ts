/**
 * A PV inverter from a register map's `pv-inverter` role. The maps shipped have no active-power
 * limit (docs/register-maps.md), so a limit is refused as not implemented rather than ignored.
 */
import type { PvInverter, PvValues, Reading } from '../../src/devices/capabilities.ts';
import { DeviceError } from '../../src/devices/errors.ts';
import { plausible, readingOf } from '../reading.ts';
import { RegisterMapDevice, type RegisterMapDeviceOptions } from './register-map-device.ts';
import type { PvRole } from './map.ts';

export interface RegisterMapPvInverterOptions extends RegisterMapDeviceOptions {
  ratedPowerKw: number;
}

export class RegisterMapPvInverter extends RegisterMapDevice implements PvInverter {
  readonly ratedPowerKw: number;
  private readonly role: PvRole;

  constructor(options: RegisterMapPvInverterOptions) {
    super(options);
    this.ratedPowerKw = options.ratedPowerKw;
    this.role = this.requiredRole('pv-inverter');
  }

  read(): Promise<Reading<PvValues>> {
    return readingOf(this.clock, this.id, async () => {
      const values = await this.readBindings([this.role.acPowerKw, this.role.energyKwh]);
      const acPowerKw = plausible(this.id, 'AC power (kW)', this.bound(this.role.acPowerKw, values), 2 * this.ratedPowerKw);
      // The map has no operating-state point: producing is what the power says, nothing more.
      const out: PvValues = { acPowerKw, state: acPowerKw > 0 ? 'producing' : 'unknown' };
      if (this.role.energyKwh) out.energyKwh = this.bound(this.role.energyKwh, values);
      return out;
    });
  }

  async setActivePowerLimit(): Promise<void> {
    throw new DeviceError('not-implemented', this.id, `register map ${this.map.name} has no active-power limit`);
  }
}
