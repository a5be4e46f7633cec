/**
 * Grid meter over SunSpec 201–204. SunSpec meters follow the load (consumer) reference:
 * W > 0 while the site imports from the grid, W < 0 while it exports, so W maps to
 * netImportKw without a sign change; a meter installed the other way round is configured
 * with `exportPositive`.
 */
import type { GridMeter, MeterValues, Reading } from '../../src/devices/capabilities.ts';
import { DeviceError } from '../../src/devices/errors.ts';
import { plausible, readingOf } from '../reading.ts';
import { SunSpecDevice, type SunSpecDeviceOptions } from './sunspec-device.ts';

const METER_MODELS = [203, 204, 202, 201] as const;

export interface SunSpecGridMeterOptions extends SunSpecDeviceOptions {
  /** A reading beyond this is garbage (a house connection cannot carry it). Default 100 kW. */
  maxPlausibleKw?: number;
  /** The meter counts export as positive W (mounted or configured reversed). */
  exportPositive?: boolean;
}

export class SunSpecGridMeter extends SunSpecDevice implements GridMeter {
  private readonly maxPlausibleKw: number;
  private readonly sign: 1 | -1;

  constructor(options: SunSpecGridMeterOptions) {
    super(options);
    this.maxPlausibleKw = options.maxPlausibleKw ?? 100;
    this.sign = options.exportPositive ? -1 : 1;
  }

  read(): Promise<Reading<MeterValues>> {
    return readingOf(this.clock, this.id, async () => {
      const blocks = await this.client.readModels([...METER_MODELS]);
      const meter = METER_MODELS.map((id) => blocks.get(id)).find((b) => b !== undefined);
      if (!meter) throw new DeviceError('discovery', this.id, `no meter model (${METER_MODELS.join('/')})`);
      const netImportKw = plausible(this.id, 'net import (kW)', (this.sign * meter.required('W')) / 1000, this.maxPlausibleKw);
      const imported = meter.value(this.sign === 1 ? 'TotWhImp' : 'TotWhExp');
      const exported = meter.value(this.sign === 1 ? 'TotWhExp' : 'TotWhImp');
      const values: MeterValues = { netImportKw };
      if (imported !== undefined) values.importedEnergyKwh = imported / 1000;
      if (exported !== undefined) values.exportedEnergyKwh = exported / 1000;
      return values;
    });
  }
}
