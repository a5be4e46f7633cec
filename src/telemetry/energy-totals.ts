/**
 * The Energy dashboard's counters (docs/telemetry.md): grid import and export, PV production,
 * battery charged and discharged, in kWh since the gateway first ran, summed from its hour
 * records. Home Assistant's `total_increasing` reads any drop as a meter reset, so the totals
 * must never go down: they live in their own small file (the store forgets hour records after
 * 400 days), each hour is counted once (by its start, in order), and on start the hours the store
 * holds beyond the file's last one are added, so a crash between the two writes loses nothing.
 */
import type { HourRecord } from '../records/types.ts';
import type { RuntimeLog } from '../runtime/log.ts';
import { readStateFile, writeStateFile } from '../storage/state-file.ts';

/** What `<topicPrefix>/<gatewayId>/energy` carries. */
export interface EnergyTotals {
  gridImportKwh: number;
  gridExportKwh: number;
  pvKwh: number;
  batteryChargeKwh: number;
  batteryDischargeKwh: number;
  /** Start of the last hour counted (ms), null before the first. */
  throughHourStartMs: number | null;
}

const ZERO: EnergyTotals = { gridImportKwh: 0, gridExportKwh: 0, pvKwh: 0, batteryChargeKwh: 0, batteryDischargeKwh: 0, throughHourStartMs: null };
const COUNTERS = ['gridImportKwh', 'gridExportKwh', 'pvKwh', 'batteryChargeKwh', 'batteryDischargeKwh'] as const;

export class EnergyCounters {
  private current: EnergyTotals;

  /** `storedHours`: the store's hour records, oldest first. */
  constructor(private readonly stateFile: string, storedHours: readonly HourRecord[], log: RuntimeLog) {
    this.current = load(stateFile, log);
    const before = this.current.throughHourStartMs;
    for (const record of storedHours) this.count(record);
    if (this.current.throughHourStartMs !== before) this.save();
  }

  totals(): EnergyTotals {
    return { ...this.current };
  }

  /** Counts an hour that just closed (an hour already counted is ignored) and keeps the totals. */
  add(record: HourRecord): EnergyTotals {
    if (this.count(record)) this.save();
    return this.totals();
  }

  private count(record: HourRecord): boolean {
    if (this.current.throughHourStartMs !== null && record.hourStartMs <= this.current.throughHourStartMs) return false;
    const add = (kwh: number) => (Number.isFinite(kwh) && kwh > 0 ? kwh : 0);
    this.current = {
      gridImportKwh: this.current.gridImportKwh + add(record.importKwh),
      gridExportKwh: this.current.gridExportKwh + add(record.exportKwh),
      pvKwh: this.current.pvKwh + add(record.pvKwh),
      batteryChargeKwh: this.current.batteryChargeKwh + add(record.batteryChargeKwh),
      batteryDischargeKwh: this.current.batteryDischargeKwh + add(record.batteryDischargeKwh),
      throughHourStartMs: record.hourStartMs,
    };
    return true;
  }

  private save(): void {
    writeStateFile(this.stateFile, this.current);
  }
}

function load(file: string, log: RuntimeLog): EnergyTotals {
  try {
    const kept = readStateFile(file) as Partial<EnergyTotals> | undefined;
    if (kept === undefined) return { ...ZERO };
    for (const counter of COUNTERS) {
      if (typeof kept[counter] !== 'number' || !(kept[counter] >= 0)) throw new Error(`${counter} must be a non-negative number of kWh, got ${JSON.stringify(kept[counter])}`);
    }
    if (kept.throughHourStartMs !== null && !Number.isInteger(kept.throughHourStartMs)) throw new Error('throughHourStartMs must be an hour start (ms) or null');
    return { ...ZERO, ...kept };
  } catch (error) {
    // Counting again from the store's hours may show Home Assistant a lower total: it takes that as a meter reset and goes on.
    log('warn', `telemetry: the energy counters in ${file} are damaged (${(error as Error).message}); counting again from the stored hours`);
    return { ...ZERO };
  }
}
