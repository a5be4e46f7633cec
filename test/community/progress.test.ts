import { afterEach, describe, expect, it, vi } from 'vitest';
import { communityProgress } from '../../src/community/progress.ts';

const startMs = Date.parse('2016-06-30T23:00:00Z');
const endMs = startMs + 26 * 3_600_000;
const at = (fraction: number) => startMs + fraction * (endMs - startMs);

describe('the community progress bar', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes a line at every 10 % when the output is not a terminal, with the ETA at the run speed', () => {
    const lines: string[] = [];
    const bar = communityProgress({ write: (t) => lines.push(t) }, startMs, endMs, 1800);
    bar.update(null, 0, 4);
    for (let i = 0; i <= 100; i++) bar.update(at(i / 100), 4, 4);
    bar.done();
    expect(lines).toHaveLength(11);
    expect(lines.every((l) => l.endsWith('\n'))).toBe(true);
    expect(lines[0]).toMatch(/0\.0 % starting · 0\/4 gateways reporting/);
    expect(lines[1]).toMatch(/\[##\.+\]\s+10\.0 % 2016-07-01 01:36 · 4\/4 gateways reporting .* ETA 0m47s/);
  });

  it('rewrites one line on a terminal, at most every 200 ms and never wider than the terminal, and ends it when done', () => {
    vi.useFakeTimers();
    const writes: string[] = [];
    const bar = communityProgress({ write: (t) => writes.push(t), isTTY: true, columns: 60 }, startMs, endMs, 1800);
    bar.update(at(0.1), 4, 4);
    bar.update(at(0.2), 4, 4);
    vi.advanceTimersByTime(250);
    bar.update(at(0.3), 3, 4);
    bar.done();
    expect(writes).toHaveLength(3);
    expect(writes.slice(0, 2).every((w) => w.startsWith('\r') && !w.includes('\n') && w.length === 60)).toBe(true);
    expect(writes[1]).toMatch(/30\.0 %/);
    expect(writes[2]).toBe('\n');
  });
});
