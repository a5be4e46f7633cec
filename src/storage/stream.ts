/**
 * One stream of the store (plans, measurements, …): a folder of journal segments, one per
 * period of the records' own timestamps (`2024-06-01.jsonl` holds the records of the period
 * starting that UTC day). Retention deletes whole old segments, oldest first, so it never
 * rewrites data, never stalls an append for longer than an unlink, and a crash in the middle
 * leaves a contiguous run of the newest segments.
 */
import { closeSync, copyFileSync, existsSync, fsyncSync, openSync, readdirSync, unlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { RuntimeLog } from '../runtime/log.ts';
import { Journal, ensureDirectory, fsyncDirectory } from './journal.ts';

export type Retention = { maxAgeMs: number } | { maxRecords: number };

/** 'every-record': fsync'd before append returns. Otherwise fsync'd once this many are pending, or this long after the first pending one. */
export type SyncPolicy = 'every-record' | { everyRecords: number; everyMs: number };

export interface StreamOptions<T> {
  dir: string;
  /** Where a damaged segment's original is kept. */
  quarantineDir: string;
  /** The record's instant (ms): picks its segment, and its age for retention. */
  timeOf(record: T): number;
  segmentMs: number;
  retention: Retention;
  sync: SyncPolicy;
  log: RuntimeLog;
}

interface Segment {
  startMs: number;
  path: string;
  records: number;
  newestMs: number;
}

const SEGMENT_NAME = /^\d{4}-\d{2}-\d{2}\.jsonl$/;
const LAST_INSTANT_MS = Date.UTC(10_000, 0, 1);

export class Stream<T> {
  private current: Journal<T> | null = null;
  private pending = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(
    private readonly options: StreamOptions<T>,
    private readonly segments: Segment[],
  ) {}

  /** Loads every segment (salvaging damaged ones), applies retention, and returns the records kept, oldest first. */
  static open<T>(options: StreamOptions<T>): { stream: Stream<T>; records: T[] } {
    ensureDirectory(options.dir);
    const names = readdirSync(options.dir).filter((name) => SEGMENT_NAME.test(name)).sort();
    const segments: Segment[] = [];
    const recordsBySegment: T[][] = [];
    const stream = new Stream<T>(options, segments);
    for (const [index, name] of names.entries()) {
      const path = join(options.dir, name);
      // Every segment but the newest was fsync'd and closed before the next began: it cannot have a torn line.
      const { journal, records } = stream.openSegment(path, index < names.length - 1);
      segments.push({ startMs: Date.parse(name.slice(0, 10)), path, records: records.length, newestMs: newest(records, options.timeOf) });
      recordsBySegment.push(records);
      if (index === names.length - 1) stream.current = journal;
      else journal.close();
    }
    const dropped = stream.applyRetention();
    return { stream, records: recordsBySegment.slice(dropped).flat() };
  }

  append(record: T): void {
    if (this.closed) throw new Error(`${this.options.dir}: append after close`);
    const atMs = this.options.timeOf(record);
    // Segment names are YYYY-MM-DD: an instant outside years 1970–9999 is a broken clock, not a record to keep.
    if (!(atMs >= 0 && atMs < LAST_INSTANT_MS)) throw new RangeError(`${this.options.dir}: record time ${atMs} is not an instant between 1970 and 9999`);
    const startMs = Math.floor(atMs / this.options.segmentMs) * this.options.segmentMs;
    const last = this.segments.at(-1);
    // A record dated before the current segment (the clock was set back) stays in it: segments only move forward.
    if (last === undefined || startMs > last.startMs) this.startSegment(startMs);
    else if (this.current === null) this.current = this.openSegment(last.path).journal; // a segment start failed (disk full…)
    this.current!.append(record);
    const segment = this.segments.at(-1)!;
    segment.records++;
    segment.newestMs = Math.max(segment.newestMs, atMs);
    this.afterAppend();
  }

  /** Makes pending appends durable, closes the segment; the stream cannot be used after. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimer();
    try {
      if (this.pending > 0) this.current?.sync();
    } finally {
      this.current?.close();
      this.current = null;
    }
  }

  private afterAppend(): void {
    const policy = this.options.sync;
    if (policy === 'every-record') return;
    this.pending++;
    if (this.pending >= policy.everyRecords) this.syncPending();
    else if (this.timer === null) {
      // Wall-clock time on purpose: this bounds how long data sits in the page cache, whatever the gateway clock does.
      this.timer = setTimeout(() => {
        this.timer = null;
        try {
          this.syncPending();
        } catch (error) {
          this.options.log('error', `${this.options.dir}: fsync failed: ${(error as Error).message}`);
        }
      }, policy.everyMs);
      this.timer.unref();
    }
  }

  private syncPending(): void {
    this.clearTimer();
    if (this.pending === 0 || this.current === null) return;
    this.current.sync();
    this.pending = 0;
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private startSegment(startMs: number): void {
    if (this.current !== null) {
      // Older segments are never written again: make the last one durable before moving on.
      this.syncPending();
      this.current.close();
      this.current = null;
    }
    const path = join(this.options.dir, `${new Date(startMs).toISOString().slice(0, 10)}.jsonl`);
    this.current = this.openSegment(path).journal;
    this.segments.push({ startMs, path, records: 0, newestMs: -Infinity });
    this.applyRetention();
  }

  /**
   * Opens one segment. Damage before the last line is salvaged rather than refused, because the
   * gateway must keep controlling its battery with whatever history is intact: the damaged file is
   * copied to quarantine (fsync'd), then the segment is rewritten with its intact records.
   */
  private openSegment(path: string, sealed = false): { journal: Journal<T>; records: T[] } {
    const fsync = this.options.sync === 'every-record';
    const { journal, records, tornTail, damagedLines } = Journal.open<T>(path, { fsync, damaged: 'skip', sealed });
    if (tornTail) this.options.log('info', `${path}: dropped a torn last line (an append cut short by a crash)`);
    if (damagedLines.length > 0) {
      const damage =
        `${path}: line${damagedLines.length > 1 ? 's' : ''} ${damagedLines.join(', ')} damaged (checksum or JSON does not match): ` +
        `${damagedLines.length} record(s) lost, ${records.length} kept`;
      try {
        const copy = this.quarantine(path);
        journal.rewrite(records);
        this.options.log('warn', `${damage}; the damaged file is kept as ${copy}`);
      } catch (error) {
        // Disk full or failing: the file stays as it is (appends go after the damage) and is salvaged again at the next open.
        this.options.log('error', `${damage}; could not quarantine and rewrite it: ${(error as Error).message}`);
      }
    }
    return { journal, records };
  }

  private quarantine(path: string): string {
    ensureDirectory(this.options.quarantineDir);
    const name = `${basename(this.options.dir)}-${basename(path)}`;
    let copy = join(this.options.quarantineDir, name);
    for (let n = 1; existsSync(copy); n++) copy = join(this.options.quarantineDir, `${name}.${n}`);
    copyFileSync(path, copy);
    const fd = openSync(copy, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    fsyncDirectory(this.options.quarantineDir);
    return copy;
  }

  /** Deletes the oldest segments the retention lets go (never the one being written); returns how many. */
  private applyRetention(): number {
    const retention = this.options.retention;
    const newestMs = Math.max(...this.segments.map((s) => s.newestMs));
    let total = this.segments.reduce((n, s) => n + s.records, 0);
    let dropped = 0;
    while (this.segments.length - dropped > 1) {
      const oldest = this.segments[dropped]!;
      const expired = 'maxAgeMs' in retention ? oldest.newestMs < newestMs - retention.maxAgeMs : total - oldest.records >= retention.maxRecords;
      if (!expired) break;
      unlinkSync(oldest.path);
      total -= oldest.records;
      dropped++;
    }
    if (dropped > 0) {
      this.segments.splice(0, dropped);
      fsyncDirectory(this.options.dir);
    }
    return dropped;
  }
}

function newest<T>(records: T[], timeOf: (record: T) => number): number {
  let newestMs = -Infinity;
  for (const record of records) newestMs = Math.max(newestMs, timeOf(record));
  return newestMs;
}
