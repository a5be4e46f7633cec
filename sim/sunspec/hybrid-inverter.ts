/**
 * A hybrid (PV + battery) inverter as such devices present themselves: one Modbus unit whose
 * SunSpec chain holds the PV models and the storage models together (common, 103, 123, 124,
 * 802 — or 701/704 instead of 103/123 after a "firmware update"). The grid meter is a separate
 * unit, as on real installations where the meter hangs off the inverter's meter bus.
 */
import type { Clock } from '../../src/time/clock.ts';
import type { PlantView } from '../plant/plant-view.ts';
import { batteryModels, type BatteryModelsOptions } from './battery.ts';
import { pvInverterModels, type PvModelsOptions } from './pv-inverter.ts';
import { SunSpecSpace, type CommonInfo, type SimModel } from './sunspec-space.ts';

export interface SimHybridInverterOptions extends PvModelsOptions, BatteryModelsOptions {
  baseAddress?: number;
  common?: Partial<CommonInfo>;
}

export function hybridInverterModels(plant: PlantView, clock: Clock, options: PvModelsOptions & BatteryModelsOptions = {}): SimModel[] {
  return [...pvInverterModels(plant, clock, options), ...batteryModels(plant, clock, options)];
}

export function simHybridInverter(plant: PlantView, clock: Clock, options: SimHybridInverterOptions = {}): SunSpecSpace {
  return new SunSpecSpace({
    baseAddress: options.baseAddress,
    common: { manufacturer: 'prosumer-edge sim', model: 'HYBRID-3P', serial: 'HYB0001', ...options.common },
    models: hybridInverterModels(plant, clock, options),
  });
}
