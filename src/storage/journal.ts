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
   * A damaged line: 'refuse' (default) throws JournalCorruptError; 'skip' loads every intact line
   * and lists the damaged ones in `damagedLines`. The damaged bytes stay in the file, so an owner
   * that skips must `rewrite` the journal (after keeping a copy).
   */
  damaged?: 'refuse' | 'skip';
  /**
   * The journal was closed for good (a store segment that is never appended to again, and was
   * fsync'd before the next one began): its last line cannot be torn, so a bad one is damage.
   */
  sealed?: boolean;
}

/**
 * Append-only journal of JSON lines, each `{"crc32":"<hex of the record's JSON>","record":…}`,
 * fsync'd before `append` returns unless opened with `fsync: false` (then a process crash
 * loses nothing, a power cut may lose the lines after the last `sync()`). A crash can only tear
 * the last line (a write that did not finish): loading drops such a line and truncates it away,
 * so the next append starts clean. A torn line is a prefix of a line (or a prefix with zeros a
 * power cut left): it never is complete JSON ending in a newline. A last line that is, but whose
 * checksum fails, is bit rot, not a tear; it is damage like any other bad line (see
 * `JournalOptions.damaged`), as is any bad last line of a `sealed` journal.
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
        const line = end === -1 ? { kind: 'unparseable' as const } : parseLine<T>(text.toString('utf8', start, end));
        if (line.kind === 'record') {
          records.push(line.record);
        } else {
          const isLast = end === -1 || end === text.length - 1;
          if (isLast && line.kind === 'unparseable' && !options.sealed) {
            tornTail = true;
            break;
          }
          if (options.damaged !== 'skip') throw new JournalCorruptError(path, lineNumber, line.kind === 'bad-checksum' ? 'checksum does not match' : 'checksum or JSON does not match');
          damagedLines.push(lineNumber);
        }
        start = end === -1 ? text.length : end + 1;
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

/** A write the kernel takes only in part (the disk filled up) is continued, so the real cause (ENOSPC, EIO) is what throws. */
function writeFully(fd: number, content: Buffer, path: string): void {
  for (let offset = 0; offset < content.length; ) {
    const written = writeSync(fd, content, offset);
    if (written === 0) throw new Error(`${path}: short write (${offset} of ${content.length} bytes)`);
    offset += written;
  }
}

function temporaryOf(path: string): string {
  return `${path}.tmp`;
}

function formatLine(record: unknown): string {
  const json = JSON.stringify(record);
  return `{"crc32":"${checksum(json)}","record":${json}}\n`;
}

type ParsedLine<T> = { kind: 'record'; record: T } | { kind: 'bad-checksum' } | { kind: 'unparseable' };

function parseLine<T>(line: string): ParsedLine<T> {
  let parsed: { crc32?: unknown; record?: unknown };
  try {
    parsed = JSON.parse(line) as typeof parsed;
  } catch {
    return { kind: 'unparseable' };
  }
  if (parsed === null || typeof parsed !== 'object' || parsed.record === undefined || typeof parsed.crc32 !== 'string') return { kind: 'unparseable' };
  if (parsed.crc32 !== checksum(JSON.stringify(parsed.record))) return { kind: 'bad-checksum' };
  return { kind: 'record', record: parsed.record as T };
}

function checksum(text: string): string {
  return crc32(Buffer.from(text, 'utf8')).toString(16).padStart(8, '0');
}
