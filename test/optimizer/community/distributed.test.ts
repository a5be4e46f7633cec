/**
 * The ADMM sharing solution against the central joint optimum (itself checked against cvxopt in
 * central.test.ts): objective within 1 % in at most 50 rounds, and coordination that actually
 * moves the households' plans apart when planning alone makes their peaks coincide.
 */
import { describe, expect, it } from 'vitest';
import { solveCommunityCentral, solveCommunityDistributed, type CommunityProblem } from '../../../src/optimizer/community/index.ts';
import { createOptimizer, type Plan } from '../../../src/optimizer/index.ts';
import { coincidentCommunity, realCommunity, syntheticCommunity } from './instances.ts';

const gap = (distributed: number, central: number): number => (distributed - central) / Math.abs(central);

async function both(problem: CommunityProblem) {
  const central = await solveCommunityCentral(problem);
  if (!central.ok) throw new Error(`central: ${central.status} ${central.message}`);
  const distributed = await solveCommunityDistributed(problem);
  if (!distributed.ok) throw new Error(`distributed: ${distributed.status} ${distributed.message}`);
  return { central, distributed };
}

async function alonePlans(problem: CommunityProblem): Promise<Plan[]> {
  const optimizer = createOptimizer();
  try {
    const plans: Plan[] = [];
    for (const input of problem.households) {
      const result = await optimizer.solve(input);
      if (!result.ok) throw new Error(result.message);
      plans.push(result.plan);
    }
    return plans;
  } finally {
    optimizer.dispose();
  }
}

const netOf = (plans: Plan[], t: number): number => plans.reduce((s, p) => s + p.gridImportKw[t]! - p.gridExportKw[t]!, 0);

describe('the distributed (ADMM sharing) community solution', () => {
  it('spreads the charging that coincides when every household plans alone, as the central optimum does', { timeout: 120_000 }, async () => {
    const problem = coincidentCommunity(3);
    const alone = await alonePlans(problem);
    const T = problem.terms.dayOfStep.length;
    const aloneCoincidentKw = Math.max(...Array.from({ length: T }, (_, t) => netOf(alone, t)));
    const sumOfAlonePeaksKw = alone.reduce((s, p) => s + Math.max(0, ...p.gridImportKw), 0);
    const { central, distributed } = await both(problem);
    for (const result of [central, distributed]) {
      expect(result.communityPeakByDayKw[0]!).toBeLessThanOrEqual(sumOfAlonePeaksKw);
      // Alone, the batteries charge together (13 kW at one step); coordinated, the peak is a fraction of it.
      expect(result.communityPeakByDayKw[0]!).toBeLessThan(0.5 * aloneCoincidentKw);
      for (let t = 0; t < T; t++) expect(netOf(result.plans, t)).toBeLessThanOrEqual(result.communityPeakByDayKw[0]! + 0.02);
    }
    expect(gap(distributed.objectiveEur, central.objectiveEur)).toBeLessThan(0.01);
    expect(distributed.rounds).toBeLessThanOrEqual(50);
    // The central optimum is never worse than the alone plans with their coincident peak charged.
    expect(central.objectiveEur).toBeLessThanOrEqual(alone.reduce((s, p) => s + p.objectiveEur, 0) + aloneCoincidentKw + 1e-9);
  });

  it('is within 1 % of the central optimum with the community chance family and a sunk peak', { timeout: 180_000 }, async () => {
    const problem = syntheticCommunity({ households: 3, steps: 8, samples: 4, startHour: 14, chance: true, peakSoFarKw: [1.5, 0] });
    const { central, distributed } = await both(problem);
    expect(distributed.converged).toBe(true);
    expect(distributed.rounds).toBeLessThanOrEqual(50);
    expect(gap(distributed.objectiveEur, central.objectiveEur)).toBeLessThan(0.01);
    // A feasible point of the same problem cannot beat its optimum (beyond the solvers' tolerances).
    expect(gap(distributed.objectiveEur, central.objectiveEur)).toBeGreaterThan(-1e-6);
    // Its prices approach the central duals (EUR/kWh).
    distributed.couplingPriceEurPerKwh.forEach((price, t) => expect(Math.abs(price - central.couplingPriceEurPerKwh[t]!)).toBeLessThan(0.02));
  });

  it('is within 1 % of the central optimum on the four real households (T = 24, I = 20), community charge only', { timeout: 300_000 }, async () => {
    const { central, distributed } = await both(realCommunity(false));
    expect(distributed.rounds).toBeLessThanOrEqual(50);
    expect(gap(distributed.objectiveEur, central.objectiveEur)).toBeLessThan(0.01);
  });

  it('reports a malformed community as a typed error, without throwing', async () => {
    const problem = coincidentCommunity(2);
    const result = await solveCommunityDistributed({ ...problem, households: [problem.households[0]!, { ...problem.households[1]!, stepHours: [1, 1] }] });
    expect(result.ok).toBe(false);
    expect(result.status).toBe('error');
    expect(result.message).toMatch(/stepHours/);
  });
});
