/**
 * Simulated SunSpec grid meter (model 203 wye three-phase, or 201 single-phase), bound to the
 * plant's grid connection point. Load reference: W > 0 while importing, as SunSpec meters report;
 * with `exportPositive` it is the meter installed or configured the other way round, as some
 * vendors ship them: W > 0 while exporting, and the two energy counters swapped.
 */
import type { PlantView } from '../plant/plant-view.ts';
import { fitScale, setCounterWh, setMeasured, setRaws } from './sim-values.ts';
import { SunSpecSpace, type CommonInfo, type SimModel } from './sunspec-space.ts';

export interface MeterModelsOptions {
  /** 3 → model 203 (default), 1 → model 201. */
  phases?: 1 | 3;
  /** Largest power the meter is built for (sets W_SF). Default 30 kW. */
  maxPowerKw?: number;
  /** Counts export as positive (generator reference). Default false. */
  exportPositive?: boolean;
}

export interface SimMeterOptions extends MeterModelsOptions {
  baseAddress?: number;
  common?: Partial<CommonInfo>;
}

function meterModels(plant: PlantView, options: MeterModelsOptions = {}): SimModel[] {
  const phases = options.phases === 1 ? ['A'] : ['A', 'B', 'C'];
  const maxW = (options.maxPowerKw ?? 30) * 1000;
  const sign = options.exportPositive ? -1 : 1;
  return [
    {
      id: options.phases === 1 ? 201 : 203,
      init(b) {
        setRaws(b, { W_SF: fitScale(maxW, 0), A_SF: fitScale(maxW / 200, -2), V_SF: -1, Hz_SF: -2, TotWh_SF: 0, Evt: 0 });
      },
      refresh(b) {
        const w = sign * plant.meterNetImportKw() * 1000;
        const v = plant.gridVoltageV();
        setMeasured(b, 'W', w);
        setMeasured(b, 'A', w / v);
        setMeasured(b, 'PhV', v);
        setMeasured(b, 'Hz', plant.gridFrequencyHz());
        for (const ph of phases) {
          setMeasured(b, `Wph${ph}`, w / phases.length);
          setMeasured(b, `Aph${ph}`, w / v / phases.length);
          setMeasured(b, `PhVph${ph}`, v);
        }
        setCounterWh(b, sign === 1 ? 'TotWhImp' : 'TotWhExp', plant.meterImportedEnergyKwh());
        setCounterWh(b, sign === 1 ? 'TotWhExp' : 'TotWhImp', plant.meterExportedEnergyKwh());
      },
    },
  ];
}

export function simMeter(plant: PlantView, options: SimMeterOptions = {}): SunSpecSpace {
  return new SunSpecSpace({
    baseAddress: options.baseAddress,
    common: { manufacturer: 'prosumer-edge sim', model: options.phases === 1 ? 'METER-1P' : 'METER-3P', serial: 'MTR0001', ...options.common },
    models: meterModels(plant, options),
  });
}
