/**
 * The prosumer assets of ../shared/docs/evaluation.md, the same for every household, and how
 * each household's shiftable demand is derived from its data.
 */
import type { BatteryParams } from '../optimizer/types.ts';
import { DataFormatError } from './csv.ts';
import type { BuildingMetadata, HouseholdSeries } from './households.ts';

export const battery: BatteryParams = {
  capacityKwh: 10,
  minEnergyKwh: 1,
  maxEnergyKwh: 10,
  maxChargeKw: 5,
  maxDischargeKw: 5,
  chargeEfficiency: 0.95,
  dischargeEfficiency: 0.95,
};
export const initialEnergyKwh = 5;

/**
 * A building's own battery where its metadata row gives capacity, nominal power and round-trip
 * efficiency, else the scenario's. The SoC window keeps the scenario's shape (the lowest 10 %
 * reserved), and the round trip splits evenly: η^c = η^d = √η.
 */
export function batteryOf(metadata: BuildingMetadata | undefined): { battery: BatteryParams; source: string } {
  const m = metadata;
  if (!m || m.batteryCapacityKwh === null || m.batteryPowerKw === null || m.batteryEfficiency === null) {
    return { battery, source: 'scenario default (10 kWh, 5 kW, 0.95 each way)' };
  }
  const check = (ok: boolean, column: string, expected: string, value: number) => {
    if (!ok) throw new DataFormatError(m.file, m.line, column, `expected ${expected}, got ${value}`);
  };
  check(m.batteryCapacityKwh > 0, 'battery_capacity_kwh', 'a capacity > 0 kWh', m.batteryCapacityKwh);
  check(m.batteryPowerKw > 0, 'battery_nominal_power_kw', 'a power > 0 kW', m.batteryPowerKw);
  check(m.batteryEfficiency > 0 && m.batteryEfficiency <= 1, 'battery_efficiency', 'a round-trip efficiency in (0, 1]', m.batteryEfficiency);
  const oneWay = Math.sqrt(m.batteryEfficiency);
  const own: BatteryParams = {
    capacityKwh: m.batteryCapacityKwh,
    minEnergyKwh: 0.1 * m.batteryCapacityKwh,
    maxEnergyKwh: m.batteryCapacityKwh,
    maxChargeKw: m.batteryPowerKw,
    maxDischargeKw: m.batteryPowerKw,
    chargeEfficiency: oneWay,
    dischargeEfficiency: oneWay,
  };
  return { battery: own, source: `${m.file}:${m.line} (${m.batteryCapacityKwh} kWh, ${m.batteryPowerKw} kW, round trip ${m.batteryEfficiency})` };
}
export const grid = { maxImportKw: 11, maxExportKw: 11 };

export interface ShiftableRule {
  kind: 'appliances' | 'share-of-load';
  /** How many hours after it was requested a shiftable demand may be served at the latest. */
  maxDelayHours: number;
  /** Shiftable demand requested in each hour (kW), aligned with the household series. */
  requestKw: Float64Array;
}

const loadShare = 0.2;

/**
 * Appliance sub-meters (dishwasher + washing machine) are shiftable up to 6 h where the file has
 * them (an hour with a missing sub-meter reading requests nothing, so no energy is invented);
 * elsewhere 20 % of each hour's load, up to 4 h.
 */
export function shiftableRule(household: HouseholdSeries): ShiftableRule {
  const n = household.loadKw.length;
  const requestKw = new Float64Array(n);
  if (household.applianceKw) {
    for (let i = 0; i < n; i++) {
      const a = household.applianceKw[i]!;
      const load = household.loadKw[i]!;
      // A sub-meter can read above the load it sits behind (meter timing); never shift more than the load.
      requestKw[i] = Number.isNaN(a) || Number.isNaN(load) ? 0 : Math.min(a, load);
    }
    return { kind: 'appliances', maxDelayHours: 6, requestKw };
  }
  for (let i = 0; i < n; i++) {
    const load = household.loadKw[i]!;
    requestKw[i] = Number.isNaN(load) ? 0 : loadShare * load;
  }
  return { kind: 'share-of-load', maxDelayHours: 4, requestKw };
}
