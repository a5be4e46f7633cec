/**
 * The per-day demand charge (tariff.peakDayOfStep, tariff.peakSoFarKw) against the independent
 * cvxopt build (reference_qp.py), and its bookkeeping in the Plan, the cost and the fallback.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createOptimizer, fallbackPlan, planCost, type ProblemInput } from '../../src/optimizer/index.ts';
import { syntheticInput } from '../../src/optimizer/synthetic.ts';
import { referenceSolve } from './reference.ts';

const base = syntheticInput({ stepHours: new Array<number>(8).fill(1), samples: 5, startHour: 18, peakEurPerKw: 0.3 });
const instances: Record<string, ProblemInput> = {
  'two days, nothing reached yet': { ...base, tariff: { ...base.tariff, peakDayOfStep: [0, 0, 0, 0, 0, 0, 1, 1] } },
  'two days, a high peak already reached today': { ...base, tariff: { ...base.tariff, peakDayOfStep: [0, 0, 0, 0, 0, 0, 1, 1], peakSoFarKw: [2.5, 0] } },
  'one day, bonferroni, a peak so far': {
    ...syntheticInput({ stepHours: [0.5, 0.5, 1, 1, 2], samples: 4, startHour: 17, peakEurPerKw: 0.5, method: 'bonferroni' }),
    tariff: { ...syntheticInput({ stepHours: [0.5, 0.5, 1, 1, 2], samples: 4, startHour: 17, peakEurPerKw: 0.5 }).tariff, peakSoFarKw: [1.5] },
  },
};

describe('the per-day demand charge', () => {
  const optimizer = createOptimizer();
  afterAll(() => optimizer.dispose());

  it.each(Object.entries(instances))('matches cvxopt: %s', { timeout: 60_000 }, async (_name, input) => {
    // cvxopt stalls short of its default 1e-11 here ('unknown'); 1e-7 converges (as on the eval fixtures).
    const reference = referenceSolve(input, 1e-7);
    const result = await optimizer.solve(input);
    if (!result.ok) throw new Error(`${result.status}: ${result.message}`);
    const plan = result.plan;
    expect(Math.abs(plan.objectiveEur - reference.objective) / Math.max(1, Math.abs(reference.objective))).toBeLessThan(1e-6);
    const days = 1 + Math.max(0, ...(input.tariff.peakDayOfStep ?? [0]));
    expect(plan.peakImportByDayKw).toHaveLength(days);
    expect(plan.peakImportKw).toBeCloseTo(Math.max(...plan.peakImportByDayKw!), 12);
    plan.peakImportByDayKw!.forEach((peak, d) => expect(peak).toBeGreaterThanOrEqual((input.tariff.peakSoFarKw?.[d] ?? 0) - 1e-9));
    plan.gridImportKw.forEach((g, t) => expect(g).toBeLessThanOrEqual(plan.peakImportByDayKw![input.tariff.peakDayOfStep?.[t] ?? 0]! + 1e-7));
    // The charge is π per day on max(P̄_d, peak so far): the true bill, also when recomputed from the schedules.
    expect(plan.costEur.demandCharge).toBeCloseTo(input.tariff.peakEurPerKw! * plan.peakImportByDayKw!.reduce((s, v) => s + v, 0), 9);
    expect(planCost(input, plan).demandCharge).toBeCloseTo(plan.costEur.demandCharge, 6);
  });

  it('charges the sunk peak whatever is planned, and lets the plan import up to it for free', { timeout: 60_000 }, async () => {
    const fresh = instances['two days, nothing reached yet']!;
    const sunk = instances['two days, a high peak already reached today']!;
    const a = await optimizer.solve(fresh);
    const b = await optimizer.solve(sunk);
    if (!a.ok || !b.ok) throw new Error('solve failed');
    expect(b.plan.peakImportByDayKw![0]).toBeCloseTo(2.5, 9);
    // With 2.5 kW already due, importing up to it costs nothing extra: day 0's import may rise.
    expect(Math.max(...b.plan.gridImportKw.slice(0, 6))).toBeGreaterThanOrEqual(Math.max(...a.plan.gridImportKw.slice(0, 6)) - 1e-7);
  });

  it("bills the meter's peak: a committed P2P purchase raises the planned peak as it raises the metered one (matches cvxopt)", { timeout: 60_000 }, async () => {
    const withPeer = syntheticInput({ stepHours: new Array<number>(8).fill(1), samples: 5, startHour: 18, peakEurPerKw: 0.3, peers: 1 });
    // A 3 kW purchase committed for the evening's second hour: it crosses the meter like grid import.
    const input: ProblemInput = { ...withPeer, peers: withPeer.peers!.map((p) => ({ ...p, committedKw: [null, 3, null, null, null, null, null, null] })) };
    const reference = referenceSolve(input, 1e-7);
    const result = await optimizer.solve(input);
    if (!result.ok) throw new Error(`${result.status}: ${result.message}`);
    const plan = result.plan;
    expect(Math.abs(plan.objectiveEur - reference.objective) / Math.max(1, Math.abs(reference.objective))).toBeLessThan(1e-6);
    const peerId = input.peers![0]!.peerId;
    const meterKw = plan.gridImportKw.map((g, t) => g - plan.gridExportKw[t]! + plan.tradesKw[peerId]![t]!);
    expect(plan.tradesKw[peerId]![1]).toBeCloseTo(3, 9);
    // The planned peak bounds the meter's import in every step, and sits on the highest one (it is minimised).
    meterKw.forEach((m) => expect(m).toBeLessThanOrEqual(plan.peakImportKw! + 1e-7));
    expect(plan.peakImportKw).toBeCloseTo(Math.max(...meterKw, ...plan.gridImportKw), 6);
    expect(Math.max(...meterKw)).toBeGreaterThan(Math.max(...plan.gridImportKw));
  });

  it('re-plans warm when the receding step moves the day boundary, to the cold solve and cvxopt', { timeout: 60_000 }, async () => {
    const HOUR_MS = 3_600_000;
    const at18 = instances['two days, nothing reached yet']!;
    const shifted = syntheticInput({ stepHours: new Array<number>(8).fill(1), samples: 5, startHour: 19, peakEurPerKw: 0.3 });
    // An hour later, midnight is one step nearer: the per-day peak rows hold other columns.
    const at19: ProblemInput = { ...shifted, tariff: { ...shifted.tariff, peakDayOfStep: [0, 0, 0, 0, 0, 1, 1, 1] } };
    const receding = createOptimizer();
    const cold = createOptimizer();
    try {
      const first = await receding.solve(at18, { startMs: 0 });
      const warm = await receding.solve(at19, { startMs: HOUR_MS });
      const fresh = await cold.solve(at19, { startMs: HOUR_MS });
      if (!first.ok || !warm.ok || !fresh.ok) throw new Error('solve failed');
      expect(warm.plan.solver.warmStart).toBe(true);
      expect(fresh.plan.solver.warmStart).toBe(false);
      const reference = referenceSolve(at19, 1e-7);
      expect(Math.abs(warm.plan.objectiveEur - reference.objective) / Math.max(1, Math.abs(reference.objective))).toBeLessThan(1e-6);
      expect(Math.abs(warm.plan.objectiveEur - fresh.plan.objectiveEur)).toBeLessThan(1e-7);
      expect(warm.plan.peakImportByDayKw![0]).toBeCloseTo(fresh.plan.peakImportByDayKw![0]!, 6);
    } finally {
      receding.dispose();
      cold.dispose();
    }
  });

  it('keeps per-day peaks in the fallback plan', () => {
    const input = instances['two days, a high peak already reached today']!;
    const plan = fallbackPlan(input, undefined, 0, 'time-limit');
    expect(plan.peakImportByDayKw).toHaveLength(2);
    expect(plan.peakImportByDayKw![0]).toBeGreaterThanOrEqual(2.5);
    expect(plan.costEur.demandCharge).toBeCloseTo(0.3 * (plan.peakImportByDayKw![0]! + plan.peakImportByDayKw![1]!), 9);
  });
});
