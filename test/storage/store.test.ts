import { appendFileSync, existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RuntimeLog } from '../../src/runtime/log.ts';
import type { RuntimeStore } from '../../src/runtime/types.ts';
import { Journal, JournalCorruptError } from '../../src/storage/journal.ts';
import { DEFAULT_RETENTION, StoreLockedError, openRuntimeStore, type RuntimeStoreOptions } from '../../src/storage/store.ts';
import { StoreChild } from './child-handle.ts';
import { DAY_MS, STEP_MS, TempDirs, errorSample, hour, measurement, plan, recordFsyncs, safetyEvent, storedIds } from './fixtures.ts';

const temp = new TempDirs();
const stores: RuntimeStore[] = [];
const children: StoreChild[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) store.close();
  for (const child of children.splice(0)) await child.kill();
  temp.cleanup();
});

function open(dir: string, options: RuntimeStoreOptions = {}): { store: RuntimeStore; logs: string[] } {
  const logs: string[] = [];
  const log: RuntimeLog = (level, message) => logs.push(`${level} ${message}`);
  const store = openRuntimeStore(dir, { log, ...options });
  stores.push(store);
  return { store, logs };
}

function reopen(store: RuntimeStore, dir: string, options: RuntimeStoreOptions = {}) {
  store.close();
  return open(dir, options);
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** Bit rot in the last line: one digit of its record changes, the line stays well-formed JSON, its checksum no longer matches. */
function flipLastDigitOfLastLine(text: string): string {
  const lastLineStart = text.lastIndexOf('\n', text.length - 2) + 1;
  const at = text.slice(lastLineStart).search(/\d[^\d]*$/) + lastLineStart;
  return text.slice(0, at) + (text[at] === '7' ? '8' : '7') + text.slice(at + 1);
}

describe('the runtime store', () => {
  it('reads back every stream after a reopen, oldest first, and gives the market its own folder', () => {
    const dir = temp.make();
    const { store } = open(dir);
    for (const id of range(0, 30)) {
      store.appendPlan(plan(id));
      store.appendMeasurement(measurement(id));
      store.appendHour(hour(id));
      store.appendErrorSample(errorSample(id));
      store.appendSafetyEvent(safetyEvent(id));
    }
    const { store: reopened, logs } = reopen(store, dir);
    expect(storedIds(reopened)).toEqual({ plans: range(0, 30), measurements: range(0, 30), hours: range(0, 30), errorSamples: range(0, 30), safetyEvents: range(0, 30) });
    expect(reopened.plans()[7]).toEqual(plan(7));
    expect(reopened.measurements()[7]).toEqual(measurement(7));
    expect(reopened.marketDir).toBe(join(dir, 'market'));
    expect(existsSync(reopened.marketDir)).toBe(true);
    expect(logs).toEqual([]);
  });

  it('fsyncs plans, hours, error samples and safety events before append returns', () => {
    const dir = temp.make();
    const { store } = open(dir);
    const synced: string[] = [];
    const stop = recordFsyncs((path) => synced.push(path));
    try {
      store.appendPlan(plan(1));
      store.appendHour(hour(1));
      store.appendErrorSample(errorSample(1));
      store.appendSafetyEvent(safetyEvent(1));
    } finally {
      stop();
    }
    const folders = synced.filter((path) => path.endsWith('.jsonl')).map((path) => path.split('/').at(-2));
    for (const folder of ['plans', 'hours', 'error-samples', 'safety-events']) expect(folders).toContain(folder);
  });

  it('fsyncs measurements once the configured number are pending, and a lone one after the configured time', async () => {
    const dir = temp.make();
    const { store } = open(dir, { measurementSync: { everyRecords: 5, everyMs: 100 } });
    const linesAtFsync: number[] = [];
    const stop = recordFsyncs((path) => {
      if (path.includes('/measurements/')) linesAtFsync.push(readFileSync(path, 'utf8').split('\n').length - 1);
    });
    try {
      for (const id of range(0, 11)) store.appendMeasurement(measurement(id));
      expect(linesAtFsync).toEqual([5, 10]);
      await expect.poll(() => linesAtFsync, { timeout: 5_000 }).toEqual([5, 10, 11]);
    } finally {
      stop();
    }
  });

  it('keeps each stream within its retention, deleting whole days, oldest first', () => {
    const dir = temp.make();
    const retention = { measurementDays: 3, safetyEventDays: 2, hourDays: 60, errorSampleDays: 60, plans: 10 };
    const { store } = open(dir, { retention });
    for (const id of range(0, 200)) {
      store.appendPlan(plan(id));
      store.appendMeasurement(measurement(id));
      store.appendHour(hour(id));
      store.appendErrorSample(errorSample(id));
      store.appendSafetyEvent(safetyEvent(id));
    }
    const { store: reopened } = reopen(store, dir, { retention });
    const ids = storedIds(reopened);
    // Measurements come every hour: the 3 days before the newest are kept, and the rest of the oldest kept day.
    const newestMeasurementMs = 199 * STEP_MS.measurements;
    expect(ids.measurements.at(-1)).toBe(199);
    expect(ids.measurements[0]! * STEP_MS.measurements).toBeGreaterThan(newestMeasurementMs - 4 * DAY_MS);
    expect(ids.measurements[0]! * STEP_MS.measurements).toBeLessThanOrEqual(newestMeasurementMs - 3 * DAY_MS);
    expect(ids.measurements).toEqual(range(ids.measurements[0]!, 200));
    // Plans (4 a day): the newest 10, plus what else is in the oldest kept day.
    expect(ids.plans).toEqual(range(ids.plans[0]!, 200));
    expect(ids.plans.length).toBeGreaterThanOrEqual(10);
    expect(ids.plans.length).toBeLessThan(10 + 4);
    expect(ids.safetyEvents.length).toBeGreaterThanOrEqual(2 * 4);
    expect(ids.safetyEvents.length).toBeLessThan(3 * 4 + 1);
    expect(ids.hours.length).toBeGreaterThanOrEqual(60 / 5);
    expect(ids.hours.length).toBeLessThanOrEqual(90 / 5 + 1);
    expect(readdirSync(join(dir, 'measurements'))).toHaveLength(4);
  });

  it('applies a shorter retention when opened with one, and the defaults keep a month of measurements', () => {
    const dir = temp.make();
    const { store } = open(dir);
    for (const id of range(0, 24 * 40)) store.appendMeasurement(measurement(id));
    const { store: defaults } = reopen(store, dir);
    const days = (ids: number[]) => ((ids.at(-1)! - ids[0]!) * STEP_MS.measurements) / DAY_MS;
    expect(days(storedIds(defaults).measurements)).toBeGreaterThanOrEqual(DEFAULT_RETENTION.measurementDays);
    expect(days(storedIds(defaults).measurements)).toBeLessThan(DEFAULT_RETENTION.measurementDays + 1);
    const { store: shorter } = reopen(defaults, dir, { retention: { measurementDays: 7 } });
    expect(days(storedIds(shorter).measurements)).toBeLessThan(8);
  });

  it('keeps appending to the current day when the clock is set back, and reads back in append order', () => {
    const dir = temp.make();
    const { store } = open(dir);
    for (const id of [48, 49, 30, 50]) store.appendMeasurement(measurement(id));
    const { store: reopened } = reopen(store, dir);
    expect(storedIds(reopened).measurements).toEqual([48, 49, 30, 50]);
    expect(readdirSync(join(dir, 'measurements'))).toEqual(['2024-06-03.jsonl']);
  });

  it('refuses a record dated outside 1970–9999 (a broken clock) instead of writing a segment it could not name', () => {
    const { store } = open(temp.make());
    expect(() => store.appendMeasurement({ ...measurement(1), atMs: Number.NaN })).toThrow(RangeError);
    expect(() => store.appendSafetyEvent({ ...safetyEvent(1), atMs: -1 })).toThrow(RangeError);
    store.appendMeasurement(measurement(1));
    expect(storedIds(reopen(store, store.marketDir.replace(/\/market$/, '')).store).measurements).toEqual([1]);
  });

  it('drops a torn last line (an append cut by a crash), says so, and appends cleanly after it', () => {
    const dir = temp.make();
    const { store } = open(dir);
    store.appendPlan(plan(1));
    store.close();
    const [segment] = readdirSync(join(dir, 'plans'));
    appendFileSync(join(dir, 'plans', segment!), '{"crc32":"1234abcd","record":{"startMs":');
    const { store: reopened, logs } = open(dir);
    expect(storedIds(reopened).plans).toEqual([1]);
    expect(logs).toEqual([expect.stringMatching(/^info .*plans\/2024-06-01\.jsonl: dropped a torn last line/)]);
    reopened.appendPlan(plan(2));
    const { store: again, logs: quiet } = reopen(reopened, dir);
    expect(storedIds(again).plans).toEqual([1, 2]);
    expect(quiet).toEqual([]);
  });

  it('opens with a file damaged before its last line: intact records kept, the original quarantined, a warning naming file and lines', () => {
    const dir = temp.make();
    const { store } = open(dir);
    for (const id of range(0, 30)) store.appendMeasurement(measurement(id));
    for (const id of range(0, 3)) store.appendPlan(plan(id));
    store.close();
    const segment = join(dir, 'measurements', '2024-06-01.jsonl');
    const lines = readFileSync(segment, 'utf8').split('\n');
    lines[1] = lines[1]!.replace('"gridKw":1.25', '"gridKw":9.25'); // bit rot: the checksum no longer matches
    lines[3] = 'garbage';
    const damaged = lines.join('\n');
    writeFileSync(segment, damaged);

    const { store: reopened, logs } = open(dir);
    expect(storedIds(reopened).measurements).toEqual([0, 2, ...range(4, 30)]);
    expect(storedIds(reopened).plans).toEqual([0, 1, 2]);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/^warn .*measurements\/2024-06-01\.jsonl: lines 2, 4 damaged .*: 2 record\(s\) lost, 22 kept; the damaged file is kept as .*quarantine\/measurements-2024-06-01\.jsonl$/);
    expect(readFileSync(join(dir, 'quarantine', 'measurements-2024-06-01.jsonl'), 'utf8')).toBe(damaged);

    reopened.appendMeasurement(measurement(30));
    const { store: again, logs: quiet } = reopen(reopened, dir);
    expect(storedIds(again).measurements).toEqual([0, 2, ...range(4, 31)]);
    expect(quiet).toEqual([]);
  });

  it('quarantines and reports a flipped byte in the last line of a closed segment: a segment that is never appended to again cannot be torn', () => {
    const dir = temp.make();
    const { store } = open(dir);
    for (const id of range(0, 30)) store.appendMeasurement(measurement(id)); // 2024-06-01 holds ids 0–23, 2024-06-02 ids 24–29
    store.close();
    const closed = join(dir, 'measurements', '2024-06-01.jsonl');
    const intact = readFileSync(closed, 'utf8');
    const damaged = flipLastDigitOfLastLine(intact);
    writeFileSync(closed, damaged);

    const { store: reopened, logs } = open(dir);
    expect(storedIds(reopened).measurements).toEqual([...range(0, 23), ...range(24, 30)]);
    expect(logs).toEqual([expect.stringMatching(/^warn .*measurements\/2024-06-01\.jsonl: line 24 damaged .*: 1 record\(s\) lost, 23 kept; the damaged file is kept as .*quarantine\/measurements-2024-06-01\.jsonl$/)]);
    expect(readFileSync(join(dir, 'quarantine', 'measurements-2024-06-01.jsonl'), 'utf8')).toBe(damaged);
  });

  it('quarantines a closed segment whose last line was cut short, too: only the segment being written can have a torn line', () => {
    const dir = temp.make();
    const { store } = open(dir);
    for (const id of range(0, 30)) store.appendMeasurement(measurement(id));
    store.close();
    const closed = join(dir, 'measurements', '2024-06-01.jsonl');
    writeFileSync(closed, readFileSync(closed, 'utf8').slice(0, -40));
    const { store: reopened, logs } = open(dir);
    expect(storedIds(reopened).measurements).toEqual([...range(0, 23), ...range(24, 30)]);
    expect(logs).toEqual([expect.stringMatching(/^warn .*2024-06-01\.jsonl: line 24 damaged/)]);
  });

  it('quarantines and reports a complete last line whose checksum fails in the segment being written (bit rot, not a torn append)', () => {
    const dir = temp.make();
    const { store } = open(dir);
    for (const id of range(0, 3)) store.appendPlan(plan(id));
    store.close();
    const segment = join(dir, 'plans', '2024-06-01.jsonl');
    writeFileSync(segment, flipLastDigitOfLastLine(readFileSync(segment, 'utf8')));
    const { store: reopened, logs } = open(dir);
    expect(storedIds(reopened).plans).toEqual([0, 1]);
    expect(logs).toEqual([expect.stringMatching(/^warn .*plans\/2024-06-01\.jsonl: line 3 damaged .*quarantine\/plans-2024-06-01\.jsonl$/)]);
  });

  it('a journal that refuses damage (the market ledger) refuses a flipped byte in its last line instead of dropping it as torn', () => {
    const path = join(temp.make(), 'ledger.jsonl');
    const { journal } = Journal.open<{ n: number }>(path);
    journal.append({ n: 1 });
    journal.append({ n: 23 });
    journal.close();
    writeFileSync(path, flipLastDigitOfLastLine(readFileSync(path, 'utf8')));
    expect(() => Journal.open(path)).toThrow(JournalCorruptError);
    expect(() => Journal.open(path)).toThrow(`${path}:2: checksum does not match`);
  });

  it('removes what a rewrite interrupted before its rename left behind, and keeps the journal it was replacing', () => {
    const path = join(temp.make(), 'j.jsonl');
    const { journal } = Journal.open<{ n: number }>(path);
    journal.append({ n: 1 });
    journal.close();
    writeFileSync(`${path}.tmp`, '{"crc32":"00000000","record":{"n":2}}\n{"crc');
    const reopened = Journal.open<{ n: number }>(path);
    reopened.journal.close();
    expect(reopened.records).toEqual([{ n: 1 }]);
    expect(existsSync(`${path}.tmp`)).toBe(false);
  });
});

describe('the store lock', () => {
  it('refuses a second open while the store is open, and allows it after close', () => {
    const dir = temp.make();
    const { store } = open(dir);
    expect(() => openRuntimeStore(dir)).toThrow(StoreLockedError);
    expect(() => openRuntimeStore(dir)).toThrow(`is in use by process ${process.pid}`);
    store.close();
    open(dir);
  });

  it('refuses to open a store another running process holds, and takes it over once that process is killed', async () => {
    const dir = temp.make();
    const holder = new StoreChild({ mode: 'hold', path: dir });
    children.push(holder);
    await holder.waitForLine('open');
    expect(() => openRuntimeStore(dir)).toThrow(`is in use by process ${holder.pid}`);
    await holder.kill();
    const { logs } = open(dir);
    expect(logs).toEqual([`warn ${dir}: took over the lock of process ${holder.pid}, which is not running any more`]);
  });

  it('treats a lock from an earlier boot as stale even though its pid is running now', () => {
    const dir = temp.make();
    writeFileSync(join(dir, 'LOCK'), JSON.stringify({ pid: process.ppid, bootId: 'an-earlier-boot', startTicks: null }));
    const { logs } = open(dir);
    expect(logs).toEqual([`warn ${dir}: took over the lock of process ${process.ppid}, which is not running any more`]);
  });

  it('treats a lock whose pid now belongs to a younger process as stale', () => {
    const dir = temp.make();
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    writeFileSync(join(dir, 'LOCK'), JSON.stringify({ pid: process.pid, bootId, startTicks: '1' }));
    const { logs } = open(dir);
    expect(logs).toHaveLength(1);
  });

  it('treats a lock whose holder is a zombie (killed, not yet reaped by its parent) as stale', async () => {
    const dir = temp.make();
    // Python forks a child that exits at once and never reaps it: a zombie. (Not `sh -c 'sleep 0 & …; exec sleep 30'`:
    // dash reaps a child that exits before the shell reaches `exec`, which a loaded machine made happen, and the pid was gone.)
    const parent = spawn('/usr/bin/python3', ['-c', 'import os, time\npid = os.fork()\nif pid == 0: os._exit(0)\nprint(pid, flush=True)\ntime.sleep(30)'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const zombiePid = Number((await once(parent.stdout!, 'data'))[0].toString().trim());
      const stat = () => readFileSync(`/proc/${zombiePid}/stat`, 'utf8');
      await expect.poll(() => stat().slice(stat().lastIndexOf(')') + 2).split(' ')[0]).toBe('Z');
      const startTicks = stat().slice(stat().lastIndexOf(')') + 2).split(' ')[19];
      const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      writeFileSync(join(dir, 'LOCK'), JSON.stringify({ pid: zombiePid, bootId, startTicks }));
      const { logs } = open(dir);
      expect(logs).toEqual([`warn ${dir}: took over the lock of process ${zombiePid}, which is not running any more`]);
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('treats an empty lock file as being written right now, and as stale once it is old', () => {
    const dir = temp.make();
    writeFileSync(join(dir, 'LOCK'), '');
    expect(() => openRuntimeStore(dir)).toThrow('is being locked by another process right now');
    const minuteAgo = new Date(Date.now() - 60_000);
    utimesSync(join(dir, 'LOCK'), minuteAgo, minuteAgo);
    open(dir);
  });
});
