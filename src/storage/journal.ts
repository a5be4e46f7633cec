import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { crc32 } from 'node:zlib';

/** A line before the last one is damaged: data that was fsync'd is gone, so nothing is guessed. */
export class JournalCorruptError extends Error {
  constructor(readonly path: string, readonly lineNumber: number, detail: string) {
    super(`${path}:${lineNumber}: ${detail}; the journal is damaged before its last line, refusing to load it`);
    this.name = 'JournalCorruptError';
  }
}

export interface JournalOptions {
  /** false: `append` does not fsync, the owner calls `sync()` when it must be durable (default true). */
  fsync?: boolean;
  /**
   * A damaged line before the last one: 'refuse' (default) throws JournalCorruptError; 'skip' loads
   * every intact line and lists the damaged ones in `damagedLines`. The damaged bytes stay in the
   * file, so an owner that skips must `rewrite` the journal (after keeping a copy).
   */
  damaged?: 'refuse' | 'skip';
}

/**
 * Append-only journal of JSON lines, each `{"crc32":"<hex of the record's JSON>","record":…}`,
 * fsync'd before `append` returns unless opened with `fsync: false` (then a process crash
 * loses nothing, a power cut may lose the lines after the last `sync()`). A crash can only tear the last line (a write that did not
 * finish): loading drops such a line and truncates it away, so the next append starts clean.
 * Any other bad line is damage (see `JournalOptions.damaged`).
 */
export class Journal<T> {
  private constructor(
    readonly path: string,
    private fd: number,
    private lines: number,
    private bytes: number,
    private readonly fsync: boolean,
  ) {}

  static open<T>(path: string, options: JournalOptions = {}): { journal: Journal<T>; records: T[]; tornTail: boolean; damagedLines: number[] } {
    ensureDirectory(dirname(path));
    // Left by a rewrite that did not reach its rename: the journal itself is still the old, complete one.
    rmSync(temporaryOf(path), { force: true });
    const records: T[] = [];
    const damagedLines: number[] = [];
    let goodBytes = 0;
    let tornTail = false;
    const existed = existsSync(path);
    if (existed) {
      const text = readFileSync(path);
      let start = 0;
      let lineNumber = 0;
      while (start < text.length) {
        lineNumber++;
        const end = text.indexOf(0x0a, start);
        const record = end === -1 ? undefined : parseLine<T>(text.toString('utf8', start, end));
        if (record === undefined) {
          const isLast = end === -1 || end === text.length - 1;
          if (isLast) {
            tornTail = true;
            break;
          }
          if (options.damaged !== 'skip') throw new JournalCorruptError(path, lineNumber, 'checksum or JSON does not match');
          damagedLines.push(lineNumber);
        } else {
          records.push(record);
        }
        start = end + 1;
        goodBytes = start;
      }
      if (goodBytes < text.length) truncateSync(path, goodBytes);
    }
    const fd = openSync(path, 'a');
    // A new file survives a power cut only once its directory entry is on disk.
    if (!existed) fsyncDirectory(dirname(path));
    const journal = new Journal<T>(path, fd, records.length + damagedLines.length, goodBytes, options.fsync ?? true);
    return { journal, records, tornTail, damagedLines };
  }

  get lineCount(): number {
    return this.lines;
  }

  append(record: T): void {
    const line = Buffer.from(formatLine(record), 'utf8');
    try {
      writeFully(this.fd, line, this.path);
      if (this.fsync) fsyncSync(this.fd);
    } catch (error) {
      // A partly written line (disk full, I/O error) would sit before the next append's line and
      // read as damage at the next open: cut it off, so a failed append leaves no trace.
      try {
        ftruncateSync(this.fd, this.bytes);
      } catch {
        // The append's own error is the one worth reporting.
      }
      throw error;
    }
    this.bytes += line.length;
    this.lines++;
  }

  /** Makes every appended line durable (for a journal opened with `fsync: false`). */
  sync(): void {
    fsyncSync(this.fd);
  }

  /**
   * Replaces the whole journal (write a temporary file, fsync, rename over, fsync the directory):
   * at every instant the path names either the old complete journal or the new one.
   */
  rewrite(records: T[]): void {
    const temporary = temporaryOf(this.path);
    const content = Buffer.from(records.map(formatLine).join(''), 'utf8');
    const fd = openSync(temporary, 'w');
    try {
      writeFully(fd, content, temporary);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, this.path);
    closeSync(this.fd);
    this.fd = openSync(this.path, 'a');
    this.lines = records.length;
    this.bytes = content.length;
    fsyncDirectory(dirname(this.path));
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** Makes the directory's entries (files created, renamed or removed in it) durable. */
export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** mkdir -p whose new directories survive a power cut (each new entry's parent is fsync'd). */
export function ensureDirectory(dir: string): void {
  const absolute = resolve(dir);
  const firstCreated = mkdirSync(absolute, { recursive: true });
  if (firstCreated === undefined) return;
  for (let created = absolute; ; created = dirname(created)) {
    fsyncDirectory(dirname(created));
    if (created === firstCreated) break;
  }
}

function writeFully(fd: number, content: Buffer, path: string): void {
  const written = writeSync(fd, content);
  if (written !== content.length) throw new Error(`${path}: short write (${written} of ${content.length} bytes)`);
}

function temporaryOf(path: string): string {
  return `${path}.tmp`;
}

function formatLine(record: unknown): string {
  const json = JSON.stringify(record);
  return `{"crc32":"${checksum(json)}","record":${json}}\n`;
}

function parseLine<T>(line: string): T | undefined {
  try {
    const parsed = JSON.parse(line) as { crc32?: unknown; record?: unknown };
    if (parsed.record === undefined || parsed.crc32 !== checksum(JSON.stringify(parsed.record))) return undefined;
    return parsed.record as T;
  } catch {
    return undefined;
  }
}

function checksum(text: string): string {
  return crc32(Buffer.from(text, 'utf8')).toString(16).padStart(8, '0');
}
