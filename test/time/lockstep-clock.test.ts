/**
 * Lock-step time (src/time/lockstep-clock.ts): clocks of several "processes" on one barrier, linked
 * as an IPC channel would link them (each message delivered on a later turn of the event loop).
 */
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { LockstepBarrier, LockstepClock } from '../../src/time/lockstep-clock.ts';

const later = () => new Promise<void>((resolve) => setTimeout(resolve, 5));

/** `n` clocks on one barrier from `startMs`, never past `untilMs`. */
function community(n: number, startMs: number, untilMs = Infinity): { clocks: LockstepClock[]; barrier: LockstepBarrier } {
  const barrier = new LockstepBarrier(startMs, untilMs);
  const clocks = Array.from({ length: n }, (_, k) => new LockstepClock(startMs, barrier.link(`p${k}`)));
  return { clocks, barrier };
}

describe('lock-step time', () => {
  it('jumps to the earliest instant any process waits for, once every process waits', async () => {
    const { clocks } = community(2, 0);
    const woke: string[] = [];
    void clocks[0]!.sleep(30).then(() => woke.push(`a@${clocks[0]!.nowMs()}`));
    void clocks[1]!.sleep(10).then(() => woke.push(`b@${clocks[1]!.nowMs()}`));
    await later();
    // Neither has ended its start-up: time stands still.
    expect(woke).toEqual([]);
    clocks[0]!.started();
    await later();
    expect(woke).toEqual([]);
    clocks[1]!.started();
    await later();
    expect(woke).toEqual(['b@10', 'a@30']);
    expect(clocks[0]!.nowMs()).toBe(30);
  });

  it('stands still while any process holds work, however long it takes in wall time', async () => {
    const { clocks } = community(2, 1_000);
    for (const c of clocks) c.started();
    let release: () => void = () => undefined;
    const slow = clocks[0]!.hold(new Promise<void>((resolve) => (release = resolve)));
    const woke = clocks[1]!.sleep(1);
    void clocks[0]!.sleep(5);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(clocks[1]!.nowMs()).toBe(1_000);
    release();
    await slow;
    expect(await woke).toBe(true);
    expect(clocks[1]!.nowMs()).toBe(1_001);
  });

  it('runs a periodic loop in two processes to the same instants whatever their wall-time speed', async () => {
    const { clocks } = community(2, 0, 100);
    const ticks: string[][] = [[], []];
    const loop = async (k: number, periodMs: number, workWallMs: number) => {
      const clock = clocks[k]!;
      const run = (async () => {
        for (;;) {
          await clock.hold(new Promise((resolve) => setTimeout(resolve, workWallMs)));
          ticks[k]!.push(String(clock.nowMs()));
          if (clock.nowMs() + periodMs >= 100 || !(await clock.sleep(periodMs))) return;
        }
      })();
      clock.started();
      return run;
    };
    await Promise.all([loop(0, 20, 1), loop(1, 30, 7)]);
    expect(ticks).toEqual([
      ['0', '20', '40', '60', '80'],
      ['0', '30', '60', '90'],
    ]);
  });

  it('never passes the end of the run: what waits beyond it waits in vain', async () => {
    const { clocks, barrier } = community(1, 0, 50);
    const clock = clocks[0]!;
    clock.started();
    expect(await clock.sleep(40)).toBe(true);
    const beyond = clock.sleep(20);
    let woke = false;
    void beyond.then(() => (woke = true));
    await later();
    expect(woke).toBe(false);
    expect(barrier.currentMs).toBe(40);
  });

  it('goes on without a process that has left', async () => {
    const { clocks, barrier } = community(2, 0);
    clocks[0]!.started();
    // p1 never ends its start-up (a process that died); once it leaves, p0's time moves.
    const woke = clocks[0]!.sleep(10);
    await later();
    expect(clocks[0]!.nowMs()).toBe(0);
    barrier.leave('p1');
    expect(await woke).toBe(true);
  });
});

describe('lock-step sleeps on one signal for a long run', () => {
  it('leave no abort listener behind once they have ended', async () => {
    const { clocks } = community(1, 0);
    const clock = clocks[0]!;
    clock.started();
    const stop = new AbortController();
    for (let k = 0; k < 50; k++) expect(await clock.sleep(10, stop.signal)).toBe(true);
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(0);
  });
});
