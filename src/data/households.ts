/**
 * Loads the shared real data (../shared/data, see its README): hourly household load/PV and
 * day-ahead prices, as dense hourly series on UTC hours (timestamps mark the interval start).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DataFormatError, hourCell, numberCell, parseCsv, type CsvTable } from './csv.ts';
import { packageRoot } from '../package/paths.ts';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/** The data folder a fresh checkout expects beside the repository. */
export const defaultDataDir = resolve(packageRoot, '../shared/data');

export const householdIds = ['residential1', 'residential2', 'residential4', 'residential6'] as const;

const buildingSuffix = '_hourly.csv';

export interface HouseholdSeries {
  id: string;
  file: string;
  startMs: number;
  /** Total household load (kW); NaN where not available. */
  loadKw: Float64Array;
  /** PV generation (kW); all 0 for a household without PV (no column or an all-empty one), NaN where not available. */
  pvKw: Float64Array;
  /** Dishwasher + washing machine (kW), NaN where not available; null if the file has no such columns. */
  applianceKw: Float64Array | null;
  /** Row carries a `copy_suspect` flag: gap-fill copied from another day, never scored. */
  copySuspect: Uint8Array;
}

export interface PriceSeries {
  file: string;
  startMs: number;
  dayAheadEurPerMwh: Float64Array;
}

function checkContiguous(table: CsvTable, times: number[]): void {
  for (let i = 1; i < times.length; i++) {
    if (times[i] !== times[i - 1]! + HOUR_MS) {
      throw new DataFormatError(table.file, table.rows[i]!.line, 'timestamp',
        `expected ${new Date(times[i - 1]! + HOUR_MS).toISOString()} (one row per hour, no gaps)`);
    }
  }
}

function nonNegative(table: CsvTable, value: number | null, line: number, column: string): number {
  if (value === null) return NaN;
  if (value < 0) throw new DataFormatError(table.file, line, column, `negative power ${value} kW`);
  return value;
}

export function parseHousehold(id: string, file: string, text: string): HouseholdSeries {
  const table = parseCsv(file, text, ['timestamp', 'load_kw', 'flags']);
  const hasPv = table.columns.includes('pv_kw');
  const hasAppliances = table.columns.includes('dishwasher_kw') && table.columns.includes('washing_machine_kw');
  const n = table.rows.length;
  if (n === 0) throw new DataFormatError(file, 2, undefined, 'no data rows');
  const times: number[] = [];
  const loadKw = new Float64Array(n);
  const pvKw = new Float64Array(n);
  const applianceKw = hasAppliances ? new Float64Array(n) : null;
  const copySuspect = new Uint8Array(n);
  table.rows.forEach((row, i) => {
    times.push(hourCell(table, row, 'timestamp'));
    loadKw[i] = nonNegative(table, numberCell(table, row, 'load_kw'), row.line, 'load_kw');
    pvKw[i] = hasPv ? nonNegative(table, numberCell(table, row, 'pv_kw'), row.line, 'pv_kw') : 0;
    if (applianceKw) {
      const dish = nonNegative(table, numberCell(table, row, 'dishwasher_kw'), row.line, 'dishwasher_kw');
      const wash = nonNegative(table, numberCell(table, row, 'washing_machine_kw'), row.line, 'washing_machine_kw');
      applianceKw[i] = dish + wash;
    }
    copySuspect[i] = row.get('flags').split(';').some((token) => token.startsWith('copy_suspect')) ? 1 : 0;
  });
  checkContiguous(table, times);
  // A consumer's file may carry an empty pv_kw column (residential2): no PV meter means no PV, not "unknown".
  if (pvKw.every(Number.isNaN)) pvKw.fill(0);
  return { id, file, startMs: times[0]!, loadKw, pvKw, applianceKw, copySuspect };
}

/**
 * `allowGaps`: hours the file skips (and empty price cells) become NaN instead of an error, for a
 * gateway's own price file, which may miss a day; rows must still be in time order.
 */
export function parsePrices(file: string, text: string, options: { allowGaps?: boolean } = {}): PriceSeries {
  const table = parseCsv(file, text, ['timestamp', 'price_eur_per_mwh']);
  const times: number[] = [];
  const values: number[] = [];
  table.rows.forEach((row) => {
    times.push(hourCell(table, row, 'timestamp'));
    const price = numberCell(table, row, 'price_eur_per_mwh');
    if (price === null && !options.allowGaps) throw new DataFormatError(file, row.line, 'price_eur_per_mwh', 'empty price');
    values.push(price ?? NaN);
  });
  if (times.length === 0) throw new DataFormatError(file, 2, undefined, 'no data rows');
  if (!options.allowGaps) {
    checkContiguous(table, times);
    return { file, startMs: times[0]!, dayAheadEurPerMwh: Float64Array.from(values) };
  }
  const startMs = times[0]!;
  const dayAheadEurPerMwh = new Float64Array((times[times.length - 1]! - startMs) / HOUR_MS + 1).fill(NaN);
  times.forEach((t, i) => {
    if (i > 0 && t <= times[i - 1]!) throw new DataFormatError(file, table.rows[i]!.line, 'timestamp', 'rows must be in increasing time order');
    dayAheadEurPerMwh[(t - startMs) / HOUR_MS] = values[i]!;
  });
  return { file, startMs, dayAheadEurPerMwh };
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${path}: ${(error as Error).message} (set the data folder with --data)`);
  }
}

export async function loadHousehold(dataDir: string, id: string): Promise<HouseholdSeries> {
  const file = join(dataDir, 'buildings', `${id}${buildingSuffix}`);
  return parseHousehold(id, file, await readText(file));
}

/** Every building of a data folder: the `<id>_hourly.csv` files in its `buildings/`, by id. */
export async function discoverHouseholds(dataDir: string): Promise<string[]> {
  const folder = join(dataDir, 'buildings');
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (error) {
    throw new Error(`cannot read ${folder}: ${(error as Error).message} (set the data folder with --data)`);
  }
  const ids = names.filter((n) => n.endsWith(buildingSuffix)).map((n) => n.slice(0, -buildingSuffix.length)).sort();
  if (ids.length === 0) throw new Error(`${folder}: no building file (<id>${buildingSuffix})`);
  return ids;
}

/** The price file named, or else the only CSV file in the data folder's `prices/`. */
export async function loadPrices(dataDir: string, file?: string): Promise<PriceSeries> {
  if (file === undefined) {
    const folder = join(dataDir, 'prices');
    let names: string[];
    try {
      names = (await readdir(folder)).filter((n) => n.endsWith('.csv')).sort();
    } catch (error) {
      throw new Error(`cannot read ${folder}: ${(error as Error).message} (set the data folder with --data, or the file with --prices)`);
    }
    if (names.length !== 1) throw new Error(`${folder}: ${names.length === 0 ? 'no price file (*.csv)' : `${names.length} price files (${names.join(', ')}): name one with --prices`}`);
    file = join(folder, names[0]!);
  }
  return parsePrices(file, await readText(file));
}

/** One row of the data folder's `buildings/buildings.csv`: the columns a run may use. */
export interface BuildingMetadata {
  file: string;
  line: number;
  batteryCapacityKwh: number | null;
  batteryPowerKw: number | null;
  /** Round trip. */
  batteryEfficiency: number | null;
}

/** `buildings/buildings.csv` by building id; empty when the folder has none. */
export async function loadBuildingMetadata(dataDir: string): Promise<Map<string, BuildingMetadata>> {
  const file = join(dataDir, 'buildings', 'buildings.csv');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return new Map();
  }
  const table = parseCsv(file, text, ['building_id'], { quoted: true });
  const cell = (row: (typeof table.rows)[number], column: string): number | null => (table.columns.includes(column) ? numberCell(table, row, column) : null);
  return new Map(table.rows.map((row) => [row.get('building_id').trim(), {
    file,
    line: row.line,
    batteryCapacityKwh: cell(row, 'battery_capacity_kwh'),
    batteryPowerKw: cell(row, 'battery_nominal_power_kw'),
    batteryEfficiency: cell(row, 'battery_efficiency'),
  }]));
}

/** Value of an hourly series at an absolute instant; NaN outside the series. */
export function valueAt(series: ArrayLike<number>, startMs: number, timeMs: number): number {
  const i = (timeMs - startMs) / HOUR_MS;
  return i >= 0 && i < series.length ? series[i]! : NaN;
}

/**
 * Time-weighted mean of an hourly quantity over each of consecutive steps from `startMs`
 * (`stepHours` long each): a step inside one hour gets that hour's value, a longer or unaligned
 * step the mean over the hours it overlaps. `valueAtHour` is asked for whole-hour instants only.
 */
export function hourlyMeans(valueAtHour: (hourStartMs: number) => number, startMs: number, stepHours: readonly number[]): number[] {
  const means: number[] = [];
  let fromMs = startMs;
  for (const hours of stepHours) {
    const toMs = fromMs + hours * HOUR_MS;
    let mean = 0;
    // Weights as fractions of the step, so a step that is exactly one hour returns the value itself.
    for (let h = Math.floor(fromMs / HOUR_MS) * HOUR_MS; h < toMs; h += HOUR_MS) {
      mean += valueAtHour(h) * ((Math.min(toMs, h + HOUR_MS) - Math.max(fromMs, h)) / (toMs - fromMs));
    }
    means.push(mean);
    fromMs = toMs;
  }
  return means;
}
