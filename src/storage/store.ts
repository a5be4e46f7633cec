/**
 * The gateway's crash-safe store (docs/storage.md): one segmented, CRC-checked JSON-lines
 * journal per stream under `dir`, a lock so only one process uses it, and `dir/market` for the
 * market's own ledger journal.
 */
import { join } from 'node:path';
import type { Plan } from '../optimizer/types.ts';
import type { RuntimeLog } from '../runtime/log.ts';
import type { HourRecord, Measurement, RuntimeStore, SafetyEvent } from '../records/types.ts';
import { ensureDirectory } from './journal.ts';
import { lockStore } from './lock.ts';
import { Stream, type Retention, type SyncPolicy } from './stream.ts';

export { StoreLockedError } from './lock.ts';

const DAY_MS = 86_400_000;

export interface StoreRetention {
  /** Measurements older than this before the newest one are deleted (days). */
  measurementDays: number;
  hourDays: number;
  errorSampleDays: number;
  safetyEventDays: number;
  /** Plans kept: the newest this many, plus the rest of the oldest kept day. */
  plans: number;
}

/**
 * A month of downsampled measurements (the status page's history), a year and a month of hours
 * and error samples (the forecast-error store picks samples from the same time of year), three
 * months of safety events, a week of plans at 15-minute steps.
 */
export const DEFAULT_RETENTION: StoreRetention = { measurementDays: 31, hourDays: 400, errorSampleDays: 400, safetyEventDays: 92, plans: 672 };

/** Measurements are fsync'd once 10 are pending or 5 s after the first pending one, whichever comes first. */
export const DEFAULT_MEASUREMENT_SYNC = { everyRecords: 10, everyMs: 5_000 };

export interface RuntimeStoreOptions {
  retention?: Partial<StoreRetention>;
  measurementSync?: { everyRecords: number; everyMs: number };
  /** Torn tails (info), salvaged damage (warn), a stale lock taken over (warn). Default: stderr. */
  log?: RuntimeLog;
}

export type ErrorSample = { issuedAtMs: number; errorsKw: number[] };

/**
 * Opens (creating if needed) the store in `dir`. Throws StoreLockedError while another live
 * process has it open; a damaged file never stops it from opening (its intact records are
 * kept, the original is quarantined and a warning logged).
 */
export function openRuntimeStore(dir: string, options: RuntimeStoreOptions = {}): RuntimeStore {
  const log = options.log ?? ((level, message) => process.stderr.write(`store ${level} ${message}\n`));
  const retention = { ...DEFAULT_RETENTION, ...options.retention };
  const measurementSync = options.measurementSync ?? DEFAULT_MEASUREMENT_SYNC;
  ensureDirectory(dir);
  const lock = lockStore(dir);
  if (lock.staleHolder !== null) log('warn', `${dir}: took over the lock of process ${lock.staleHolder.pid}, which is not running any more`);
  const opened: Stream<never>[] = [];
  const open = <T>(folder: string, timeOf: (record: T) => number, segmentDays: number, kept: Retention, sync: SyncPolicy = 'every-record') => {
    const result = Stream.open<T>({ dir: join(dir, folder), quarantineDir: join(dir, 'quarantine'), timeOf, segmentMs: segmentDays * DAY_MS, retention: kept, sync, log });
    opened.push(result.stream as Stream<never>);
    return result;
  };
  try {
    const plans = open<Plan>('plans', (p) => p.startMs, 1, { maxRecords: retention.plans });
    const measurements = open<Measurement>('measurements', (m) => m.atMs, 1, { maxAgeMs: retention.measurementDays * DAY_MS }, measurementSync);
    const hours = open<HourRecord>('hours', (h) => h.hourStartMs, 30, { maxAgeMs: retention.hourDays * DAY_MS });
    const errorSamples = open<ErrorSample>('error-samples', (s) => s.issuedAtMs, 30, { maxAgeMs: retention.errorSampleDays * DAY_MS });
    const safetyEvents = open<SafetyEvent>('safety-events', (e) => e.atMs, 1, { maxAgeMs: retention.safetyEventDays * DAY_MS });
    const marketDir = join(dir, 'market');
    ensureDirectory(marketDir);
    let closed = false;
    return {
      appendPlan: (plan) => plans.stream.append(plan),
      appendMeasurement: (measurement) => measurements.stream.append(measurement),
      appendHour: (record) => hours.stream.append(record),
      appendErrorSample: (sample) => errorSamples.stream.append(sample),
      appendSafetyEvent: (event) => safetyEvents.stream.append(event),
      plans: () => plans.records,
      measurements: () => measurements.records,
      hours: () => hours.records,
      errorSamples: () => errorSamples.records,
      safetyEvents: () => safetyEvents.records,
      marketDir,
      close: () => {
        if (closed) return;
        closed = true;
        try {
          closeAll(opened);
        } finally {
          lock.release();
        }
      },
    };
  } catch (error) {
    try {
      closeAll(opened);
    } finally {
      lock.release();
    }
    throw error;
  }
}

/** Closes every stream even if one fails (its error is rethrown after). */
function closeAll(streams: Stream<never>[]): void {
  let failure: unknown;
  for (const stream of streams) {
    try {
      stream.close();
    } catch (error) {
      failure ??= error;
    }
  }
  if (failure !== undefined) throw failure;
}
