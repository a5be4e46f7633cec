/**
 * A gateway's store killed with SIGKILL at random instants, 50 times: a real child process
 * appends to every stream and commits P2P trades in the market ledger, reporting each item
 * after its append returned; after every kill the store is reopened and checked.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RuntimeStore } from '../../src/runtime/types.ts';
import { openRuntimeStore } from '../../src/storage/store.ts';
import { StoreChild } from './child-handle.ts';
import { STREAMS, TempDirs, hour, measurement, plan, storedIds } from './fixtures.ts';
import { Reported, TEST_RETENTION, sleep } from './reported.ts';

const KILLS = 50;
const temp = new TempDirs();
let child: StoreChild | undefined;
afterEach(async () => {
  await child?.kill();
  temp.cleanup();
});

describe('a store killed with SIGKILL', () => {
  it('always reopens, with every reported plan, hour, sample, safety event and trade, at most the last measurement lost, and keeps working', async () => {
    const dir = temp.make();
    const options = { retention: TEST_RETENTION };
    const reported = new Reported();
    let store: RuntimeStore = openRuntimeStore(dir, options);
    let killedBeforeReady = 0;
    let startupMs = 300;
    for (let run = 0; run < KILLS; run++) {
      const firstIds = reported.firstIds(store);
      store.close();
      const startedAt = performance.now();
      child = new StoreChild({ mode: 'write', path: dir, options, firstIds });
      // Most kills land while appending; every fifth at any instant before the child is ready (loading, opening).
      if (run % 5 === 4) await sleep(Math.random() * startupMs);
      else {
        await child.waitForLine('ready');
        startupMs = performance.now() - startedAt;
        await sleep(Math.random() * 150);
      }
      await child.kill();
      if (!child.lines.includes('ready')) killedBeforeReady++;
      const lastMeasurement = reported.absorb(child.lines).measurements.at(-1);

      const logs: string[] = [];
      store = openRuntimeStore(dir, { ...options, log: (level, message) => logs.push(`${level} ${message}`) });
      expect(logs.filter((line) => !/took over the lock|torn last line/.test(line))).toEqual([]);
      const stored = storedIds(store);
      for (const stream of STREAMS) {
        // Nothing that was appended is lost to a process crash, so ids have no holes.
        const ids = stored[stream];
        expect(ids, stream).toEqual(ids.map((_, i) => ids[0]! + i));
      }
      const missing = reported.missing(store);
      expect({ ...missing, measurements: [] }).toEqual({ plans: [], measurements: [], hours: [], errorSamples: [], safetyEvents: [] });
      expect(missing.measurements.filter((id) => id !== lastMeasurement)).toEqual([]);
      reported.expectLedgerHoldsEverything(store);
    }
    expect(reported.ids.plans.length).toBeGreaterThan(KILLS);
    expect(reported.committed.size).toBeGreaterThan(KILLS);
    expect(killedBeforeReady).toBeGreaterThan(0);

    const next = reported.firstIds(store);
    store.appendPlan(plan(next.plans));
    store.appendMeasurement(measurement(next.measurements));
    store.appendHour(hour(next.hours));
    const before = storedIds(store);
    store.close();
    store = openRuntimeStore(dir, options);
    const after = storedIds(store);
    store.close();
    expect(after.plans.at(-1)).toBe(before.plans.at(-1)! + 1);
    expect(after.measurements.at(-1)).toBe(before.measurements.at(-1)! + 1);
    expect(after.hours.at(-1)).toBe(before.hours.at(-1)! + 1);
  });
});
