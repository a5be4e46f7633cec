import { afterAll, describe, expect, it } from 'vitest';
import { createOptimizer, type SolveResult } from '../../src/optimizer/index.ts';
import { gatewayHighsGapEur } from '../../src/optimizer/settings.ts';
import { syntheticInput } from '../../src/optimizer/synthetic.ts';
import { createSolverClient } from '../../src/runtime/solver-client.ts';

/** The runtime's case: 15-minute steps, a 7.5 h horizon, 20 samples. */
const runtimeInput = (startHour = 0) => syntheticInput({ stepHours: new Array<number>(30).fill(0.25), samples: 20, radiusKw: 0.05, startHour });

function objective(result: SolveResult): number {
  if (!result.ok) throw new Error(`solve failed: ${result.status} ${result.message}`);
  return result.plan.objectiveEur;
}

describe('solves in a worker thread', () => {
  const client = createSolverClient({ solver: 'highs', timeBudgetMs: 60_000 });
  afterAll(() => client.close());

  it('a solve in the worker gives the same objective as a solve on the main thread (1e-6 relative)', async () => {
    const input = runtimeInput();
    // The worker certifies to the gateway's gap: the main thread's solve too, or the two differ by up to that gap.
    const main = createOptimizer({ solver: 'highs', highsGap: gatewayHighsGapEur });
    const onMain = objective(await main.solve(input, { startMs: 0 }));
    main.dispose();
    const inWorker = await client.solve(input, { startMs: 0 });
    expect(Math.abs(objective(inWorker) - onMain)).toBeLessThanOrEqual(1e-6 * Math.abs(onMain));
    if (inWorker.ok) expect(inWorker.plan.startMs).toBe(0);
  });

  it('keeps the warm start from one receding step to the next', async () => {
    await client.solve(runtimeInput(1), { startMs: 0 });
    const next = await client.solve(runtimeInput(1.25), { startMs: 0 });
    expect(next.ok && next.plan.solver.warmStart).toBe(true);
  });

  it('a crashed worker is replaced and the next solve succeeds', async () => {
    const crashed = client.worker();
    const running = client.solve(runtimeInput(2), { startMs: 0 });
    // Terminate it while it is loading or solving: the solve in progress answers with a typed error.
    setImmediate(() => void crashed.terminate());
    const answer = await running;
    expect(answer).toMatchObject({ ok: false, status: 'error' });
    if (!answer.ok) expect(answer.message).toMatch(/solver worker exited/);
    expect(client.worker()).not.toBe(crashed);
    expect(objective(await client.solve(runtimeInput(2), { startMs: 0 }))).toBeGreaterThan(-Infinity);
    // A worker that dies while idle is replaced too.
    await client.worker().terminate();
    expect((await client.solve(runtimeInput(3), { startMs: 0 })).ok).toBe(true);
  });

  it('a solve past its budget answers time-limit at once, and a worker that finishes within the grace is kept', async () => {
    const tight = createSolverClient({ solver: 'highs', timeBudgetMs: 1, graceMs: 60_000 });
    try {
      const slow = tight.worker();
      const answer = await tight.solve(runtimeInput(), { startMs: 0 });
      expect(answer).toMatchObject({ ok: false, status: 'time-limit' });
      // The next solve waits for the late one to end, on the same worker.
      await tight.solve(runtimeInput(0.25), { startMs: 0 });
      expect(tight.worker()).toBe(slow);
    } finally {
      await tight.close();
    }
  });

  it('a worker still busy when the grace ends is replaced', async () => {
    const tight = createSolverClient({ solver: 'highs', timeBudgetMs: 1, graceMs: 1 });
    try {
      const stuck = tight.worker();
      expect(await tight.solve(syntheticInput({ stepHours: new Array<number>(96).fill(0.25), samples: 50, radiusKw: 0.05 }), { startMs: 0 })).toMatchObject({ ok: false, status: 'time-limit' });
      await new Promise((r) => setTimeout(r, 50));
      expect(tight.worker()).not.toBe(stuck);
    } finally {
      await tight.close();
    }
  });

  it('the main event loop keeps ticking while a big solve runs', async () => {
    const big = syntheticInput({ stepHours: new Array<number>(96).fill(0.25), samples: 50, radiusKw: 0.05 });
    let ticks = 0;
    let solving = true;
    const spin = (): void => {
      ticks++;
      if (solving) setImmediate(spin);
    };
    setImmediate(spin);
    const result = await client.solve(big, { startMs: 0 });
    solving = false;
    expect(result.ok).toBe(true);
    // A (96, 50) solve on this thread would block it for its whole run: a handful of ticks at most.
    expect(ticks).toBeGreaterThan(1000);
  });

  it('answers every call in order, one solve at a time, and none after close', async () => {
    const inputs = [runtimeInput(4), runtimeInput(4.25), runtimeInput(4.5)];
    const results = await Promise.all(inputs.map((input, k) => client.solve(input, { startMs: k })));
    expect(results.map((r) => r.ok && r.plan.startMs)).toEqual([0, 1, 2]);
    const closed = createSolverClient({ solver: 'scs', timeBudgetMs: 60_000 });
    await closed.close();
    expect(await closed.solve(inputs[0]!, { startMs: 0 })).toMatchObject({ ok: false, status: 'error' });
  });
});
