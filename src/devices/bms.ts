/**
 * What a battery management system reports. A serial BMS driver implements `Bms`; the
 * gateway combines it with the storage inverter into one `Battery`, taking SoC and the live
 * charge/discharge limits from the BMS, which knows the cells.
 */
import type { Device, Reading } from './capabilities.ts';

export interface BmsValues {
  socFraction: number;
  packVoltageV: number;
  /** + discharge, − charge (A). */
  packCurrentA: number;
  cellVoltagesV: number[];
  temperaturesC: number[];
  /** Active protection/alarm flags by name (e.g. "cellOverVoltage"); empty when none. */
  protections: string[];
  /** Live limits (kW ≥ 0), from the BMS's current limits × pack voltage. */
  maxChargeKw: number;
  maxDischargeKw: number;
  remainingCapacityAh?: number;
  fullCapacityAh?: number;
}

export interface Bms extends Device {
  read(): Promise<Reading<BmsValues>>;
}
