/**
 * The no-loss settlement's state in the market's folder (`no-loss-state.json`, docs/market-loop.md):
 * the shadow's battery and queue, the command it holds, what its fallback follows of its last plan,
 * its peak today, and the day's accounted hours — what a restarted gateway needs to settle the day
 * it was running in and to let its shadow go on. It is rewritten whole (src/storage/state-file.ts)
 * after each hour the shadow plans and each hour measured, and holds at most one day's hours and
 * one plan's schedule: about 9.5 kB and 80 B a plan step (12 kB at 24 steps).
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { readStateFile, writeStateFile } from '../storage/state-file.ts';
import type { ShadowHour, ShadowState } from './shadow.ts';
import type { HourRecord } from './types.ts';

const HOUR_MS = 3_600_000;
const VERSION = 1;

/** What the day's bill needs of a measured hour: all that is kept of it. */
const METERED = ['hourStartMs', 'importKwh', 'exportKwh', 'batteryDischargeKwh', 'batteryChargeKwh', 'buyEurPerKwh', 'sellEurPerKwh', 'tradeKwh', 'tradeCostEur'] as const;
export type MeteredRecord = Pick<HourRecord, (typeof METERED)[number]>;

/** An hour of the day, measured and accounted with the shadow's. */
export interface AccountedHour {
  record: MeteredRecord;
  shadow: ShadowHour;
}

export interface NoLossState {
  shadow: ShadowState;
  /** The day being accounted: its accounted hours in order (those that were not are left out). */
  day: { dayMs: number; hours: AccountedHour[] };
}

export function accountedHour(record: HourRecord, shadow: ShadowHour): AccountedHour {
  return { record: Object.fromEntries(METERED.map((key) => [key, record[key]])) as MeteredRecord, shadow };
}

export function writeNoLossState(file: string, state: NoLossState): void {
  writeStateFile(file, { version: VERSION, ...state });
}

/** The state kept in `file`, undefined when there is none; throws, saying why, when it is damaged or of another version. */
export function readNoLossState(file: string): NoLossState | undefined {
  const kept = readStateFile(file);
  if (kept === undefined) return undefined;
  validate ??= new Ajv({ strict: true }).compile(SCHEMA);
  if (!validate(kept)) {
    const error = validate.errors?.[0];
    throw new Error(`${error?.instancePath || '/'} ${error?.message ?? 'is invalid'}`);
  }
  const { shadow, day } = kept as NoLossState;
  const hoursOfDay = day.hours.map(({ record }) => (record.hourStartMs - day.dayMs) / HOUR_MS);
  const inOrder = day.hours.every(({ record, shadow: alone }, i) => alone.hourStartMs === record.hourStartMs && Number.isInteger(hoursOfDay[i]) && hoursOfDay[i]! >= 0 && hoursOfDay[i]! < 24 && (i === 0 || hoursOfDay[i]! > hoursOfDay[i - 1]!));
  if (!inOrder) throw new Error('/day/hours are not hours of its day in order');
  const previous = shadow.previous;
  if (previous && ![previous.chargeKw, previous.dischargeKw, previous.shiftableKw, previous.decisionRule].every((steps) => steps.length === previous.stepHours.length)) {
    throw new Error('/shadow/previous has schedules of other lengths than its steps');
  }
  return { shadow, day };
}

let validate: ValidateFunction | undefined;

const instant = { type: 'integer' };
const number = { type: 'number' };
const numbers = { type: 'array', items: number };
const object = (properties: Record<string, object>, optional: string[] = []) => ({
  type: 'object',
  properties,
  required: Object.keys(properties).filter((key) => !optional.includes(key)),
  additionalProperties: false,
});
const command = object(
  Object.fromEntries(['netLoadForecastKw', 'scheduledGridKw', 'batteryKw', 'decisionRule', 'shiftableKw', 'plannedPeakKw', 'plannedEnergyNextKwh', 'peakGuardKw'].map((key) => [key, number])),
  ['peakGuardKw'],
);
const SCHEMA = object({
  version: { const: VERSION },
  shadow: object({
    plant: object({ energyKwh: number, queue: { type: 'array', items: object({ energyKwh: number, deadlineMs: instant }) } }),
    held: object({ hourStartMs: instant, command }),
    previous: { anyOf: [{ type: 'null' }, object({ startMs: instant, stepHours: numbers, chargeKw: numbers, dischargeKw: numbers, shiftableKw: numbers, decisionRule: numbers })] },
    today: object({ dayMs: instant, peakKw: number }),
  }),
  day: object({
    dayMs: { type: 'integer', multipleOf: 24 * HOUR_MS },
    hours: {
      type: 'array',
      maxItems: 24,
      items: object({
        record: object(Object.fromEntries(METERED.map((key) => [key, key === 'hourStartMs' ? instant : number]))),
        shadow: object({ hourStartMs: instant, gridKw: number, batteryKw: number }),
      }),
    },
  }),
});
