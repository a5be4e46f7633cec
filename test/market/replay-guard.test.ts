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

  it('stays bounded while the gateway runs: a member sending every 5 s for weeks never fills its bound', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pe-replay-'));
    dirs.push(dir);
    const clock = new ManualClock(1_000_000);
    const guard = ReplayGuard.open(dir, clock, 30_000);
    // Twenty days of one message every 5 s, each living 60 s (the live guard's reports): 12 live at a
    // time, and 345 600 in all, seven times the per-sender bound of 50 000.
    const messages = (20 * 24 * 3600) / 5;
    let most = 0;
    for (let n = 0; n < messages; n++) {
      guard.remember('alice', `m${n}`, clock.nowMs() + 60_000);
      most = Math.max(most, guard.liveIds('alice'));
      clock.advance(5_000);
    }
    // Expired ids are kept only until the next prune: at most twice the live ones and 1000 more.
    expect(most).toBeLessThanOrEqual(2 * 19 + 1001);
    expect(guard.has('alice', `m${messages - 1}`)).toBe(true);
    expect(guard.has('alice', 'm0')).toBe(false);
    guard.close();
    expect(readFileSync(join(dir, 'replay.jsonl'), 'utf8').trim().split('\n').length).toBeLessThanOrEqual(2 * 19 + 1001);
  });
});
