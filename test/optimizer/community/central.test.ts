/**
 * The central community model against an independent cvxopt build of the same problem
 * (community_reference.py: household QPs from reference_qp.py, community terms written from
 * formulation §8), and the properties the community terms must have.
 */
import { describe, expect, it } from 'vitest';
import { solveCommunityCentral, type CommunityProblem } from '../../../src/optimizer/community/index.ts';
import { createOptimizer } from '../../../src/optimizer/index.ts';
import { syntheticCommunity } from './instances.ts';
import { communityReference } from './reference.ts';

const relativeGap = (a: number, b: number): number => Math.abs(a - b) / Math.max(1, Math.abs(b));

const cases: Record<string, CommunityProblem> = {
  '3 households, T = 6, two days, peak so far on day 0, no chance family': syntheticCommunity({ households: 3, steps: 6, samples: 3, startHour: 16, chance: false, peakSoFarKw: [2.5, 0] }),
  '3 households, T = 6, two days, with the community chance family': syntheticCommunity({ households: 3, steps: 6, samples: 3, startHour: 16, chance: true, peakSoFarKw: [0, 0] }),
  '2 households, T = 8, chance family and a peak so far': syntheticCommunity({ households: 2, steps: 8, samples: 4, startHour: 3, chance: true, peakSoFarKw: [1.2, 0] }),
};

describe('the central community model', () => {
  it.each(Object.entries(cases))('matches cvxopt on an independent build: %s', { timeout: 120_000 }, async (_name, problem) => {
    const reference = communityReference(problem);
    const result = await solveCommunityCentral(problem);
    if (!result.ok) throw new Error(`central failed: ${result.status} ${result.message}`);
    expect(relativeGap(result.objectiveEur, reference.objective)).toBeLessThan(1e-5);
    // The community peak per day is the larger of the sunk peak and the coincident scheduled import.
    result.communityPeakByDayKw.forEach((peak, d) => {
      expect(peak).toBeGreaterThanOrEqual(problem.terms.peakSoFarKw[d]! - 1e-9);
      expect(peak).toBeCloseTo(reference.peakKw[d]!, 3);
    });
    const T = problem.terms.dayOfStep.length;
    for (let t = 0; t < T; t++) {
      const net = result.plans.reduce((s, p) => s + p.gridImportKw[t]! - p.gridExportKw[t]!, 0);
      expect(net).toBeLessThanOrEqual(result.communityPeakByDayKw[problem.terms.dayOfStep[t]!]! + 1e-7);
    }
    // The objective is the households' own objectives plus the community charge.
    const charge = problem.terms.peakChargeEurPerKwDay * result.communityPeakByDayKw.reduce((s, v) => s + v, 0);
    expect(result.objectiveEur).toBeCloseTo(result.plans.reduce((s, p) => s + p.objectiveEur, 0) + charge, 9);
    // The coupling price is ≥ 0 and sums, over Δt, to the community charge's marginal: π^C per day
    // whose peak exceeds what was already reached (complementary slackness of P̄^C_d ≥ peakSoFar_d).
    result.couplingPriceEurPerKwh.forEach((price) => expect(price).toBeGreaterThanOrEqual(-1e-7));
  });

  it('without community charge and chance family is the households planning alone', { timeout: 60_000 }, async () => {
    const problem = syntheticCommunity({ households: 2, steps: 6, samples: 3, startHour: 16, chance: false, peakSoFarKw: [0, 0] });
    problem.terms.peakChargeEurPerKwDay = 0;
    const result = await solveCommunityCentral(problem);
    if (!result.ok) throw new Error(result.message);
    const optimizer = createOptimizer();
    try {
      let alone = 0;
      for (const input of problem.households) {
        const r = await optimizer.solve(input);
        if (!r.ok) throw new Error(r.message);
        alone += r.plan.objectiveEur;
      }
      expect(result.objectiveEur).toBeCloseTo(alone, 7);
    } finally {
      optimizer.dispose();
    }
  });

  it('reports a malformed community as a typed error, without throwing', async () => {
    const problem = syntheticCommunity({ households: 2, steps: 6, samples: 3, startHour: 16, chance: true, peakSoFarKw: [0, 0] });
    const bad: CommunityProblem = { ...problem, terms: { ...problem.terms, dayOfStep: [0, 0] } };
    const result = await solveCommunityCentral(bad);
    expect(result.ok).toBe(false);
    expect(result.status).toBe('error');
    expect(result.message).toMatch(/dayOfStep/);
  });
});
