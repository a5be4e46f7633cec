/**
 * A small JSON state file replaced whole (the user's mode, the energy counters, the price cache,
 * the no-loss settlement's day): written to a temporary file, fsync'd and renamed over, so after a
 * crash or a power cut the path names the old complete file or the new one, never a torn one.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeStateFile(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  const temporary = `${file}.tmp`;
  const fd = openSync(temporary, 'w');
  try {
    writeFileSync(fd, JSON.stringify(value));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
}

/** The file's JSON; undefined when it cannot be read (none yet). Throws when it is not JSON. */
export function readStateFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  return JSON.parse(text) as unknown;
}
