import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, truncateSync, writeSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';

/** A line before the last one is damaged: data that was fsync'd is gone, so nothing is guessed. */
export class JournalCorruptError extends Error {
  constructor(readonly path: string, readonly lineNumber: number, detail: string) {
    super(`${path}:${lineNumber}: ${detail}; the journal is damaged before its last line, refusing to load it`);
    this.name = 'JournalCorruptError';
  }
}

/**
 * Append-only journal of JSON lines, each `{"crc32":"<hex of the record's JSON>","record":…}`,
 * fsync'd before `append` returns unless opened with `fsync: false` (then a process crash
 * loses nothing, a power cut may lose the newest lines). A crash can only tear the last line (a write that did not
 * finish): loading drops such a line and truncates it away, so the next append starts clean.
 * Any other bad line is corruption and stops the load.
 */
export class Journal<T> {
  private constructor(
    readonly path: string,
    private fd: number,
    private lines: number,
    private readonly fsync: boolean,
  ) {}

  static open<T>(path: string, options: { fsync?: boolean } = {}): { journal: Journal<T>; records: T[]; tornTail: boolean } {
    mkdirSync(dirname(path), { recursive: true });
    const records: T[] = [];
    let goodBytes = 0;
    let tornTail = false;
    if (existsSync(path)) {
      const text = readFileSync(path);
      let start = 0;
      let lineNumber = 0;
      while (start < text.length) {
        lineNumber++;
        const end = text.indexOf(0x0a, start);
        const line = text.subarray(start, end === -1 ? text.length : end).toString('utf8');
        const record = end === -1 ? undefined : parseLine<T>(line);
        if (record === undefined) {
          const isLast = end === -1 || end === text.length - 1;
          if (!isLast) throw new JournalCorruptError(path, lineNumber, 'checksum or JSON does not match');
          tornTail = true;
          break;
        }
        records.push(record);
        start = end + 1;
        goodBytes = start;
      }
      if (goodBytes < text.length) truncateSync(path, goodBytes);
    }
    const journal = new Journal<T>(path, openSync(path, 'a'), records.length, options.fsync ?? true);
    return { journal, records, tornTail };
  }

  get lineCount(): number {
    return this.lines;
  }

  append(record: T): void {
    writeSync(this.fd, formatLine(record));
    if (this.fsync) fsyncSync(this.fd);
    this.lines++;
  }

  /** Replaces the whole journal atomically (write, fsync, rename): for compaction. */
  rewrite(records: T[]): void {
    const temporary = `${this.path}.tmp`;
    const fd = openSync(temporary, 'w');
    try {
      writeSync(fd, records.map(formatLine).join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    closeSync(this.fd);
    renameSync(temporary, this.path);
    const dirFd = openSync(dirname(this.path), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    this.fd = openSync(this.path, 'a');
    this.lines = records.length;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
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
