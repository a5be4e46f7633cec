/**
 * What store-child.ts processes reported as durable across all their runs, and the checks a
 * reopened store must pass against it.
 */
import { expect } from 'vitest';
import { Ledger } from '../../src/market/ledger.ts';
import type { RuntimeStore } from '../../src/runtime/types.ts';
import type { StoreRetention } from '../../src/storage/store.ts';
import { SELF_ID } from './child-handle.ts';
import { DAY_MS, STEP_MS, STREAMS, storedIds, type StreamName } from './fixtures.ts';

/** Small enough that segments are deleted all the time during a test. */
export const TEST_RETENTION: StoreRetention = { plans: 12, measurementDays: 2, hourDays: 60, errorSampleDays: 60, safetyEventDays: 2 };

export class Reported {
  readonly ids = Object.fromEntries(STREAMS.map((s) => [s, [] as number[]])) as Record<StreamName, number[]>;
  readonly accepted = new Set<string>();
  readonly committed = new Set<string>();
  private nextTrade = 0;

  /** Takes in one run's output; returns the ids that run reported, per stream. */
  absorb(lines: string[]): Record<StreamName, number[]> {
    const thisRun = Object.fromEntries(STREAMS.map((s) => [s, [] as number[]])) as Record<StreamName, number[]>;
    for (const line of lines) {
      const [kind, value] = line.split(' ') as [string, string];
      if ((STREAMS as string[]).includes(kind)) {
        this.ids[kind as StreamName].push(Number(value));
        thisRun[kind as StreamName].push(Number(value));
      } else if (kind === 'accepted') this.accepted.add(value);
      else if (kind === 'committed') this.committed.add(value);
      if (kind === 'accepted' || kind === 'committed') this.nextTrade = Math.max(this.nextTrade, Number(value.slice(1)) + 1);
    }
    return thisRun;
  }

  /** First ids for the next run: after everything reported or stored, so an id is never used twice. */
  firstIds(store: RuntimeStore): Record<StreamName | 'trades', number> {
    const stored = storedIds(store);
    const next = (s: StreamName) => Math.max(maxOf(this.ids[s]), maxOf(stored[s])) + 1;
    // A trade written but not reported before the kill gets its id again: harmless, the ledger is idempotent by trade id.
    return { plans: next('plans'), measurements: next('measurements'), hours: next('hours'), errorSamples: next('errorSamples'), safetyEvents: next('safetyEvents'), trades: this.nextTrade };
  }

  /**
   * Reported ids the retention obliges the store to hold but it does not: the newest
   * `plans` plans, and the records no older than their retention before the newest stored one.
   */
  missing(store: RuntimeStore): Record<StreamName, number[]> {
    const stored = storedIds(store);
    const days = { measurements: TEST_RETENTION.measurementDays, hours: TEST_RETENTION.hourDays, errorSamples: TEST_RETENTION.errorSampleDays, safetyEvents: TEST_RETENTION.safetyEventDays };
    return Object.fromEntries(
      STREAMS.map((stream) => {
        const present = new Set(stored[stream]);
        const newest = maxOf(stored[stream]);
        const oldestKept = stream === 'plans' ? newest - TEST_RETENTION.plans + 1 : newest - (days[stream] * DAY_MS) / STEP_MS[stream];
        return [stream, this.ids[stream].filter((id) => id >= oldestKept && !present.has(id))];
      }),
    ) as Record<StreamName, number[]>;
  }

  /** Every trade reported committed is committed in the market's ledger; every acceptance is there. */
  expectLedgerHoldsEverything(store: RuntimeStore): void {
    const ledger = Ledger.open(store.marketDir, SELF_ID);
    try {
      const states = new Map(ledger.entriesList().map((e) => [e.trade.tradeId, e.state]));
      expect([...this.committed].filter((id) => states.get(id) !== 'committed')).toEqual([]);
      expect([...this.accepted].filter((id) => states.get(id) === undefined || states.get(id) === 'aborted')).toEqual([]);
    } finally {
      ledger.close();
    }
  }
}

const maxOf = (ids: number[]) => ids.reduce((a, b) => Math.max(a, b), -1);

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
