/**
 * Power cuts, simulated honestly: the child process reports the size of every file at each of
 * its fsyncs (what a power cut keeps), is killed at a random instant, and then each file loses a
 * random part of what it had not fsync'd — cut at a random offset, and sometimes a run of zeros
 * where a page never reached the disk although the file's size did.
 */
import { closeSync, openSync, readdirSync, realpathSync, statSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RuntimeStore } from '../../src/runtime/types.ts';
import { openRuntimeStore } from '../../src/storage/store.ts';
import { StoreChild } from './child-handle.ts';
import { TempDirs } from './fixtures.ts';
import { Reported, TEST_RETENTION, sleep } from './reported.ts';

const CUTS = 25;
const MEASUREMENT_SYNC = { everyRecords: 8, everyMs: 60_000 };
const temp = new TempDirs();
let child: StoreChild | undefined;
afterEach(async () => {
  await child?.kill();
  temp.cleanup();
});

/** Every journal under `dir` (the quarantine holds copies, not journals) with its size. */
function journalSizes(dir: string): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isFile() && entry.name.endsWith('.jsonl') && !path.includes('/quarantine/')) sizes.set(path, statSync(path).size);
  }
  return sizes;
}

/** Loses a random part of each file beyond its durable size. */
function cutPower(dir: string, durableBytes: Map<string, number>): void {
  for (const [path, size] of journalSizes(dir)) {
    const durable = durableBytes.get(path) ?? 0;
    expect(size, path).toBeGreaterThanOrEqual(durable);
    const kept = durable + Math.floor(Math.random() * (size - durable + 1));
    truncateSync(path, kept);
    if (kept > durable && Math.random() < 0.5) {
      const from = durable + Math.floor(Math.random() * (kept - durable));
      const fd = openSync(path, 'r+');
      writeSync(fd, Buffer.alloc(1 + Math.floor(Math.random() * (kept - from))), 0, undefined, from);
      closeSync(fd);
    }
  }
}

describe('a store after a power cut', () => {
  it('keeps everything that was fsync-reported and loses at most the measurements pending since the last fsync', async () => {
    const dir = realpathSync(temp.make());
    const options = { retention: TEST_RETENTION, measurementSync: MEASUREMENT_SYNC };
    const reported = new Reported();
    let store: RuntimeStore = openRuntimeStore(dir, options);
    let lostBefore = new Set<number>();
    let lostInAll = 0;
    let fsyncs = 0;
    for (let cut = 0; cut < CUTS; cut++) {
      const firstIds = reported.firstIds(store);
      store.close();
      // What is on disk now counts as durable: the previous cut and reopen already happened to it.
      const durableBytes = journalSizes(dir);
      child = new StoreChild({ mode: 'write', path: dir, options, firstIds, recordFsyncs: true });
      await child.waitForLine('ready');
      await sleep(Math.random() * 150);
      await child.kill();
      for (const line of child.lines.filter((l) => l.startsWith('synced '))) {
        const [, path, size] = line.split(' ') as [string, string, string];
        durableBytes.set(path, Number(size));
        fsyncs++;
      }
      const thisRun = reported.absorb(child.lines);
      cutPower(dir, durableBytes);

      const logs: string[] = [];
      store = openRuntimeStore(dir, { ...options, log: (level, message) => logs.push(`${level} ${message}`) });
      // Only measurements have unsynced lines with more lines after them, so only they can show damage.
      const damage = logs.filter((line) => line.startsWith('warn') && !line.includes('took over the lock'));
      expect(damage.filter((line) => !/^warn \S+\/measurements\/\S+\.jsonl: line/.test(line))).toEqual([]);
      const missing = reported.missing(store);
      expect({ ...missing, measurements: [] }).toEqual({ plans: [], measurements: [], hours: [], errorSamples: [], safetyEvents: [] });
      const lostNow = missing.measurements.filter((id) => !lostBefore.has(id));
      expect(lostNow.filter((id) => !thisRun.measurements.includes(id))).toEqual([]);
      expect(lostNow.length).toBeLessThan(MEASUREMENT_SYNC.everyRecords);
      lostInAll += lostNow.length;
      lostBefore = new Set(missing.measurements);
      reported.expectLedgerHoldsEverything(store);
    }
    store.close();
    expect(fsyncs).toBeGreaterThan(CUTS);
    expect(lostInAll).toBeGreaterThan(0); // the cuts did lose unsynced measurements
  });
});
