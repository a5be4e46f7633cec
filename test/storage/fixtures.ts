/**
 * Records for the store tests, each carrying an integer id in its timestamp, so a test can tell
 * which appends survived; a temporary-folder helper; and an fsync recorder.
 */
import fs, { mkdtempSync, rmSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TradeTerms } from '../../src/market/ledger.ts';
import type { Plan } from '../../src/optimizer/types.ts';
import type { HourRecord, Measurement, SafetyEvent } from '../../src/runtime/types.ts';
import type { ErrorSample } from '../../src/storage/store.ts';

export const T0_MS = Date.UTC(2024, 5, 1);
export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
const STEPS = 24;

/** Spacing of consecutive ids in time, per stream: large enough that segments roll over and retention works within a short test. */
export const STEP_MS = {
  plans: 6 * HOUR_MS,
  measurements: HOUR_MS,
  hours: 5 * DAY_MS,
  errorSamples: 5 * DAY_MS,
  safetyEvents: 6 * HOUR_MS,
} as const;
export type StreamName = keyof typeof STEP_MS;
export const STREAMS = Object.keys(STEP_MS) as StreamName[];

const at = (stream: StreamName, id: number) => T0_MS + id * STEP_MS[stream];
export const idOf = (stream: StreamName, atMs: number) => Math.round((atMs - T0_MS) / STEP_MS[stream]);

const series = (id: number, scale: number) => Array.from({ length: STEPS }, (_, k) => Math.round(scale * Math.sin(id + k) * 1000) / 1000);

export function plan(id: number): Plan {
  return {
    startMs: at('plans', id),
    stepHours: Array(STEPS).fill(1),
    gridImportKw: series(id, 3),
    gridExportKw: series(id + 1, 2),
    chargeKw: series(id + 2, 2.5),
    dischargeKw: series(id + 3, 2.5),
    shiftableKw: series(id + 4, 1),
    decisionRule: series(id + 5, 1),
    energyKwh: [...series(id + 6, 5), 5],
    deferredKwh: [...series(id + 7, 1), 0],
    tradesKw: { bea: series(id + 8, 1) },
    costEur: { energy: 1.2, p2p: -0.1, realtime: 0.05, batteryWear: 0.02, deferral: 0, scheduleDeviation: 0, demandCharge: 0.3, terminalValue: -0.4, socRecovery: 0 },
    objectiveEur: 1.07,
    worstCaseCvar: { import: -0.2 },
    marginalValueEurPerKwh: series(id + 9, 0.3),
    solver: { name: 'highs', status: 'optimal', solveMs: 12, iterations: 40, warmStart: true },
  };
}

export function measurement(id: number): Measurement {
  return {
    atMs: at('measurements', id),
    gridKw: 1.25,
    pvKw: id % 7 === 0 ? null : 2.5,
    batteryKw: -0.75,
    socFraction: 0.5,
    energyKwh: 5,
    maxChargeKw: 3,
    maxDischargeKw: 3,
    netLoadKw: 0.5,
    relaysOn: [id % 2 === 0, false],
  };
}

export function hour(id: number): HourRecord {
  return {
    hourStartMs: at('hours', id),
    importKwh: 1.5,
    exportKwh: 0.25,
    peakImportKw: 3.2,
    pvKwh: 2,
    batteryDischargeKwh: 0.5,
    batteryChargeKwh: 0.4,
    shiftableRequestedKwh: 1,
    shiftableServedKwh: 1,
    scheduledGridKw: 1.1,
    buyEurPerKwh: 0.3,
    sellEurPerKwh: 0.08,
    realtimeBuyEurPerKwh: 0.35,
    realtimeSellEurPerKwh: 0.06,
    tradeKwh: -0.5,
    tradeCostEur: -0.1,
    trades: [{ tradeId: 't1', peerId: 'gw-b', energyKwh: -0.5, priceEurPerKwh: 0.2 }],
    socMinFraction: 0.4,
    socMaxFraction: 0.6,
    violations: [],
    safeIterations: 0,
    iterations: 720,
  };
}

export function errorSample(id: number): ErrorSample {
  return { issuedAtMs: at('errorSamples', id), errorsKw: series(id, 0.8) };
}

export function safetyEvent(id: number): SafetyEvent {
  return { atMs: at('safetyEvents', id), reason: 'bms-limit', action: 'clip', detail: `charge limited to ${id % 5} kW` };
}

export function trade(id: number, selfId: string): TradeTerms {
  const selfSells = id % 2 === 0;
  return {
    tradeId: `t${id}`,
    offerId: `o${id}`,
    seller: selfSells ? selfId : 'bea',
    buyer: selfSells ? 'bea' : selfId,
    slotStartMs: T0_MS + id * HOUR_MS,
    slotMinutes: 60,
    powerKw: 1.5,
    priceEurPerKwh: 0.2,
  };
}

/** The ids of what a store holds, per stream. */
export function storedIds(store: { plans(): Plan[]; measurements(): Measurement[]; hours(): HourRecord[]; errorSamples(): ErrorSample[]; safetyEvents(): SafetyEvent[] }): Record<StreamName, number[]> {
  return {
    plans: store.plans().map((p) => idOf('plans', p.startMs)),
    measurements: store.measurements().map((m) => idOf('measurements', m.atMs)),
    hours: store.hours().map((h) => idOf('hours', h.hourStartMs)),
    errorSamples: store.errorSamples().map((s) => idOf('errorSamples', s.issuedAtMs)),
    safetyEvents: store.safetyEvents().map((e) => idOf('safetyEvents', e.atMs)),
  };
}

export class TempDirs {
  private readonly dirs: string[] = [];
  make(): string {
    const dir = mkdtempSync(join(tmpdir(), 'pe-store-'));
    this.dirs.push(dir);
    return dir;
  }
  cleanup(): void {
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Calls `onSync(path, size)` after every fsync of a regular file in this process, until the
 * returned function is called: the size at an fsync is how much of the file a power cut keeps.
 */
export function recordFsyncs(onSync: (path: string, sizeBytes: number) => void): () => void {
  const original = fs.fsyncSync;
  fs.fsyncSync = (fd: number) => {
    original(fd);
    const stat = fs.fstatSync(fd);
    if (stat.isFile()) onSync(fs.readlinkSync(`/proc/self/fd/${fd}`), stat.size);
  };
  syncBuiltinESMExports();
  return () => {
    fs.fsyncSync = original;
    syncBuiltinESMExports();
  };
}

export interface RewriteRecord {
  id: number;
  text: string;
}

/** Two overlapping sets of records, about 1 MB of journal each, that a rewrite alternates between. */
export function rewriteSets(): [RewriteRecord[], RewriteRecord[]] {
  const records = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => ({ id: from + i, text: `record ${from + i} `.padEnd(48, '.') }));
  return [records(0, 12_000), records(6_000, 18_000)];
}
