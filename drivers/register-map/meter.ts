/** A grid meter from a register map's `meter` role: import-positive power, energy counters. */
import type { GridMeter, MeterValues, Reading } from '../../src/devices/capabilities.ts';
import { plausible, readingOf } from '../reading.ts';
import { RegisterMapDevice, type RegisterMapDeviceOptions } from './register-map-device.ts';
import type { MeterRole } from './map.ts';

export interface RegisterMapMeterOptions extends RegisterMapDeviceOptions {
  /** A reading beyond this is garbage (a house connection cannot carry it). Default 100 kW. */
  maxPlausibleKw?: number;
}

export class RegisterMapMeter extends RegisterMapDevice implements GridMeter {
  private readonly role: MeterRole;
  private readonly maxPlausibleKw: number;

  constructor(options: RegisterMapMeterOptions) {
    super(options);
    this.role = this.requiredRole('meter');
    this.maxPlausibleKw = options.maxPlausibleKw ?? 100;
  }

  read(): Promise<Reading<MeterValues>> {
    return readingOf(this.clock, this.id, async () => {
      const { netImportKw, importedEnergyKwh, exportedEnergyKwh } = this.role;
      const values = await this.readBindings([netImportKw, importedEnergyKwh, exportedEnergyKwh]);
      const out: MeterValues = { netImportKw: plausible(this.id, 'net import (kW)', this.bound(netImportKw, values), this.maxPlausibleKw) };
      if (importedEnergyKwh) out.importedEnergyKwh = this.bound(importedEnergyKwh, values);
      if (exportedEnergyKwh) out.exportedEnergyKwh = this.bound(exportedEnergyKwh, values);
      return out;
    });
  }
}
