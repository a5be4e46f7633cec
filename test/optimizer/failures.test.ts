/** Failures come back typed, never thrown; the fallback keeps the devices on a safe plan. */
import { afterAll, describe, expect, it } from 'vitest';
import { createOptimizer, fallbackPlan, type ProblemInput } from '../../src/optimizer/index.ts';
import { syntheticInput } from '../../src/optimizer/synthetic.ts';

const HOUR_MS = 3_600_000;
const hourly = (T: number): number[] => new Array<number>(T).fill(1);

/** Evening load the grid may not carry and the battery cannot cover: no feasible schedule. */
function infeasible(): ProblemInput {
  const input = syntheticInput({ stepHours: hourly(6), samples: 4, startHour: 17, initialEnergyKwh: 2 });
  return { ...input, grid: { maxImportKw: 0.2, maxExportKw: 0 } };
}

describe('a solve that cannot succeed', () => {
  const optimizer = createOptimizer({ solver: 'highs' });
  afterAll(() => optimizer.dispose());

  it('reports an infeasible instance as a typed result, and the safe rule takes over', async () => {
    const input = infeasible();
    const result = await optimizer.solve(input);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.status).toBe('infeasible');
    const plan = fallbackPlan(input, undefined, 0, result.status);
    expect(plan.solver).toMatchObject({ name: 'fallback:safe-rule', status: 'infeasible' });
    expect(plan.chargeKw.every((v) => v === 0) && plan.dischargeKw.every((v) => v === 0)).toBe(true);
    expect(plan.decisionRule.every((v) => v === 0)).toBe(true);
    expect(plan.shiftableKw).toEqual(input.shiftable!.desiredKw);
    expect(plan.energyKwh.every((e) => e === input.initial.energyKwh)).toBe(true);
  });

  it('falls back to the last feasible plan shifted by one step, re-anchored to the measured SoC', async () => {
    const first = syntheticInput({ stepHours: hourly(8), samples: 4, startHour: 16, initialEnergyKwh: 6 });
    const solved = await optimizer.solve(first, { startMs: 0 });
    if (!solved.ok) throw new Error(solved.message);
    const previous = solved.plan;
    // One hour later the battery holds less than planned and the solve fails.
    const next: ProblemInput = { ...infeasible(), initial: { energyKwh: 1.5, deferredKwh: 0 } };
    const failed = await optimizer.solve(next, { startMs: HOUR_MS });
    expect(failed.ok).toBe(false);
    const plan = fallbackPlan(next, previous, HOUR_MS, 'infeasible');
    expect(plan.solver.name).toBe('fallback:shifted-plan');
    expect(plan.energyKwh[0]).toBe(1.5);
    for (const e of plan.energyKwh) {
      expect(e).toBeGreaterThanOrEqual(next.battery.minEnergyKwh - 1e-9);
      expect(e).toBeLessThanOrEqual(next.battery.maxEnergyKwh + 1e-9);
    }
    // Step 0 follows the old plan's step 1 unless that would leave the SoC window.
    const wanted = previous.dischargeKw[1]! - previous.chargeKw[1]!;
    const headroomKw = (1.5 - next.battery.minEnergyKwh) * next.battery.dischargeEfficiency;
    expect(plan.dischargeKw[0]! - plan.chargeKw[0]!).toBeCloseTo(Math.min(wanted, headroomKw), 9);
    expect(plan.decisionRule[0]).toBeCloseTo(previous.decisionRule[1]!, 12);
    // Whatever the battery does not cover, the grid does.
    expect(plan.gridImportKw[0]! - plan.gridExportKw[0]!).toBeCloseTo(next.netLoadForecastKw[0]! + plan.shiftableKw[0]! - (plan.dischargeKw[0]! - plan.chargeKw[0]!), 9);
    expect(Object.values(plan.costEur).reduce((s, v) => s + v, 0)).toBeCloseTo(plan.objectiveEur, 9);
  });

  it('uses the safe rule once the last plan has run out', () => {
    const input = syntheticInput({ stepHours: hourly(4), samples: 3 });
    const old = fallbackPlan(input, undefined, 0);
    expect(fallbackPlan(input, old, 5 * HOUR_MS).solver.name).toBe('fallback:safe-rule');
  });

  it('answers malformed input with a typed error instead of throwing', async () => {
    const input = syntheticInput({ stepHours: hourly(3), samples: 3 });
    const result = await optimizer.solve({ ...input, netLoadForecastKw: [1, Number.NaN, 1] });
    expect(result).toMatchObject({ ok: false, status: 'error' });
    if (!result.ok) expect(result.message).toMatch(/netLoadForecastKw/);
  });

  it.each(['highs', 'scs'] as const)('stops at the time budget with a typed time-limit (%s)', async (solver) => {
    const timed = createOptimizer({ solver, timeBudgetMs: 1 });
    try {
      const result = await timed.solve(syntheticInput({ stepHours: hourly(24), samples: 50 }));
      expect(result).toMatchObject({ ok: false, status: 'time-limit' });
    } finally {
      timed.dispose();
    }
  });
});

describe('a start state outside the SoC bounds', () => {
  const optimizer = createOptimizer({ solver: 'highs' });
  afterAll(() => optimizer.dispose());

  it('below E^min (after a BMS recalibration) gives a plan that charges back as fast as it can', async () => {
    const base = syntheticInput({ stepHours: [0.25, 0.25, 0.25, 0.25, 1, 1, 1, 1], samples: 5, startHour: 18, initialEnergyKwh: 0.3 });
    // A live charge limit of 1 kW: E^min is three quarter-hours away.
    const input: ProblemInput = { ...base, battery: { ...base.battery, maxChargeKw: 1 } };
    const result = await optimizer.solve(input);
    if (!result.ok) throw new Error(result.message);
    const { energyKwh, costEur } = result.plan;
    const bat = input.battery;
    // Full charge power until E^min is back, then never below it again.
    let reachKwh = input.initial.energyKwh;
    input.stepHours.forEach((dt, t) => {
      reachKwh = Math.min(bat.minEnergyKwh, reachKwh + dt * bat.chargeEfficiency * bat.maxChargeKw);
      expect(energyKwh[t + 1]).toBeGreaterThanOrEqual(reachKwh - 1e-6);
    });
    expect(energyKwh[energyKwh.length - 1]).toBeGreaterThanOrEqual(bat.minEnergyKwh - 1e-6);
    expect(costEur.socRecovery).toBeGreaterThan(0);
  });

  it('above E^max steers back down', async () => {
    const input = syntheticInput({ stepHours: hourly(6), samples: 5, startHour: 12, initialEnergyKwh: 9.9 });
    const result = await optimizer.solve(input);
    if (!result.ok) throw new Error(result.message);
    expect(result.plan.energyKwh[1]).toBeLessThan(9.9);
    expect(result.plan.energyKwh.slice(2).every((e) => e <= input.battery.maxEnergyKwh + 1e-6)).toBe(true);
  });
});

describe('a receding horizon', () => {
  it.each(['highs', 'scs'] as const)('re-solves each shifted step warm (%s)', async (solver) => {
    const optimizer = createOptimizer({ solver });
    try {
      let energyKwh = 5;
      for (let step = 0; step < 4; step++) {
        const input = syntheticInput({ stepHours: hourly(12), samples: 8, startHour: 6 + step, seed: step + 1, initialEnergyKwh: energyKwh });
        const result = await optimizer.solve(input, { startMs: step * HOUR_MS });
        if (!result.ok) throw new Error(`${step}: ${result.message}`);
        expect(result.plan.startMs).toBe(step * HOUR_MS);
        expect(result.plan.solver.warmStart).toBe(step > 0);
        energyKwh = result.plan.energyKwh[1]!;
      }
    } finally {
      optimizer.dispose();
    }
  });
});
