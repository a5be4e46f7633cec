/**
 * Shiftable deadlines are cumulative (recedingProblemInput): known demand must be served by the end
 * of its deadline step, at any time before it. A per-step minimum at the deadline would forbid
 * serving early and could make a day with a long request window infeasible.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { battery, grid } from '../../src/data/assets.ts';
import { createOptimizer } from '../../src/optimizer/index.ts';
import { recedingProblemInput, type RecedingKnowledge } from '../../src/optimizer/receding-input.ts';

const steps = 8;
const optimizer = createOptimizer();
afterAll(() => optimizer.dispose());

function knowledge(overrides: Partial<RecedingKnowledge['shiftable']>, buyEurPerKwh: number[]): RecedingKnowledge {
  return {
    stepHours: new Array<number>(steps).fill(1),
    netLoadForecastKw: new Array<number>(steps).fill(0.5),
    errorSamplesKw: null,
    tariff: {
      buyEurPerKwh,
      sellEurPerKwh: new Array<number>(steps).fill(0.08),
      realtimeBuyEurPerKwh: buyEurPerKwh.map((p) => p + 0.1),
      realtimeSellEurPerKwh: new Array<number>(steps).fill(0.04),
    },
    // An empty battery that cannot move energy in time: the grid serves the shiftable load.
    battery: { ...battery, maxChargeKw: 0, maxDischargeKw: 0 },
    grid,
    energyKwh: battery.minEnergyKwh,
    shiftable: { deferredKwh: 0, desiredKw: new Array<number>(steps).fill(0), dueKwh: new Array<number>(steps).fill(0), maxDeferredKwh: 1, ...overrides },
    chance: { radiusKw: 0, method: 'joint', epsilon: {} },
    weights: { batteryWearEurPerKw2h: 0.005, deferralEurPerKwh2: 0.01, scheduleDeviationEurPerKw2: 0 },
  };
}

describe('shiftable deadlines', () => {
  it('requests known ahead whose window holds more than S^max still have a plan: serving early is allowed', async () => {
    // 0.75 kWh requested in each of steps 0..3, each due 4 steps later; S^max = 1 kWh. Serving each
    // exactly at its deadline would defer 3 kWh at once; serving as requested is always possible.
    const desiredKw = [0.75, 0.75, 0.75, 0.75, 0, 0, 0, 0];
    const dueKwh = [0, 0, 0, 0, 0.75, 0.75, 0.75, 0.75];
    const input = recedingProblemInput(knowledge({ desiredKw, dueKwh }, new Array<number>(steps).fill(0.3)));
    const result = await optimizer.solve(input);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.plan.shiftableKw.reduce((a, b) => a + b, 0)).toBeCloseTo(3, 6);
    for (const s of result.plan.deferredKwh) expect(s).toBeLessThanOrEqual(1 + 1e-6);
  });

  it('a cheap hour before the deadline is used for the deferred demand, not the deadline hour', async () => {
    const buy = [0.4, 0.4, 0.1, 0.4, 0.4, 0.4, 0.4, 0.4];
    const input = recedingProblemInput(knowledge({ deferredKwh: 2, dueKwh: [0, 0, 0, 0, 2, 0, 0, 0], maxDeferredKwh: 5 }, buy));
    const result = await optimizer.solve(input);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.plan.shiftableKw[2]).toBeGreaterThan(1.9);
    expect(result.plan.shiftableKw[4]).toBeLessThan(0.1);
  });

  it('demand is never served before it is requested, and all of it is served by the end of its deadline step', async () => {
    const desiredKw = [0, 1, 0, 2, 0, 0, 0, 0];
    // The requests of steps 1 and 3 are due in steps 4 and 6; the price falls at the end.
    const buy = [0.1, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.05];
    const input = recedingProblemInput(knowledge({ desiredKw, dueKwh: [0, 0, 0, 0, 1, 0, 2, 0], maxDeferredKwh: 5 }, buy));
    const result = await optimizer.solve(input);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const cumulative = (values: number[], t: number) => values.slice(0, t + 1).reduce((a, b) => a + b, 0);
    for (let t = 0; t < steps; t++) expect(cumulative(result.plan.shiftableKw, t)).toBeLessThanOrEqual(cumulative(desiredKw, t) + 1e-6);
    expect(cumulative(result.plan.shiftableKw, 4)).toBeGreaterThanOrEqual(1 - 1e-6);
    expect(cumulative(result.plan.shiftableKw, 6)).toBeGreaterThanOrEqual(3 - 1e-6);
    // Nothing waits for the cheap last hour: it lies beyond both deadlines.
    expect(result.plan.shiftableKw[7]).toBeLessThan(1e-6);
  });
});
