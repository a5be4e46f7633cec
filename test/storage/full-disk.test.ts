/**
 * The store on a full SD card: a real 64 KiB tmpfs filled to the last byte. Mounting needs root
 * (CI runs as root); without it the test fails and says so rather than pretending.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeLog } from '../../src/runtime/log.ts';
import type { RuntimeStore } from '../../src/runtime/types.ts';
import { openRuntimeStore } from '../../src/storage/store.ts';
import { plan, storedIds } from './fixtures.ts';

let mountPoint = '';
const stores: RuntimeStore[] = [];

beforeAll(() => {
  mountPoint = mkdtempSync(join(tmpdir(), 'pe-full-card-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mountPoint], { stdio: 'pipe' });
  } catch (error) {
    throw new Error(`this test mounts a 64 KiB tmpfs as a full SD card, which needs root: ${(error as Error).message}`);
  }
});
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
  for (const name of readdirSync(mountPoint)) rmSync(join(mountPoint, name), { recursive: true, force: true });
});
afterAll(() => {
  execFileSync('umount', [mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

function open(dir: string): { store: RuntimeStore; logs: string[] } {
  const logs: string[] = [];
  const log: RuntimeLog = (level, message) => logs.push(`${level} ${message}`);
  const store = openRuntimeStore(dir, { log });
  stores.push(store);
  return { store, logs };
}

/** Writes a file until the card has not one byte left; returns its path (delete it to free the space). */
function fillCard(): string {
  const filler = join(mountPoint, 'filler');
  const chunk = Buffer.alloc(512, 0x55);
  try {
    for (;;) appendFileSync(filler, chunk);
  } catch (error) {
    expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
  }
  for (const size of [256, 64, 16, 4, 1]) {
    try {
      for (;;) appendFileSync(filler, chunk.subarray(0, size));
    } catch {
      // full at this granularity; try a smaller piece
    }
  }
  return filler;
}

describe('the store on a full SD card (a 64 KiB tmpfs)', () => {
  it('cannot open while the card is full, says why naming the lock file, leaves no empty LOCK behind, and opens at once when space is freed', () => {
    const dir = join(mountPoint, 'store');
    mkdirSync(dir);
    const first = open(dir).store;
    for (const id of [0, 1, 2]) first.appendPlan(plan(id));
    first.close();
    stores.splice(0);

    const filler = fillCard();
    expect(() => openRuntimeStore(dir)).toThrow(`${join(dir, 'LOCK')}: cannot create the lock: ENOSPC`);
    expect(existsSync(join(dir, 'LOCK'))).toBe(false);

    unlinkSync(filler);
    const { store, logs } = open(dir);
    expect(storedIds(store).plans).toEqual([0, 1, 2]);
    expect(logs).toEqual([]);
  });

  it('an append on the full card throws and leaves no trace, and the store reopens with every acknowledged record', () => {
    const dir = join(mountPoint, 'store');
    mkdirSync(dir);
    const { store } = open(dir);
    const acknowledged: number[] = [];
    for (const id of [0, 1, 2]) {
      store.appendPlan(plan(id));
      acknowledged.push(id);
    }
    const filler = fillCard();
    expect(() => store.appendPlan(plan(3))).toThrow(/ENOSPC/);
    unlinkSync(filler);
    store.close();
    stores.splice(0);
    const { store: reopened, logs } = open(dir);
    expect(storedIds(reopened).plans).toEqual(acknowledged);
    expect(logs).toEqual([]);
  });
});
