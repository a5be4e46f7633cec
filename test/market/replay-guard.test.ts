import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/time/clock.ts';
import { ReplayGuard } from '../../src/market/replay-guard.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('the replay window', () => {
  it('remembers a handled message across a restart, and forgets it once it could only be expired', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pe-replay-'));
    dirs.push(dir);
    const clock = new ManualClock(1_000_000);
    const guard = ReplayGuard.open(dir, clock, 30_000);
    guard.remember('alice', 'm1', 1_060_000);
    guard.remember('alice', 'm2', 2_000_000);
    guard.close();

    const restarted = ReplayGuard.open(dir, clock, 30_000);
    expect(restarted.has('alice', 'm1')).toBe(true);
    expect(restarted.has('bob', 'm1')).toBe(false);

    clock.advance(60_000 + 30_001); // m1's expiry plus the skew bound has passed
    restarted.prune();
    expect(restarted.has('alice', 'm1')).toBe(false);
    expect(restarted.has('alice', 'm2')).toBe(true);
    restarted.close();
    expect(readFileSync(join(dir, 'replay.jsonl'), 'utf8').trim().split('\n')).toHaveLength(1);
  });
});
