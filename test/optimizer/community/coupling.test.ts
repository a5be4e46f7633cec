/**
 * The household model's community coupling terms (ProblemInput.community: price and proximal on n,
 * on the chance contributions y = (1 − β)ξ̂ and on κ ≥ 1 − β) against cvxopt (reference_qp.py writes
 * them on g⁺ − g⁻ and β directly), and their bookkeeping: in the optimum, not in the Plan's cost.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createOptimizer, planCost, type Plan, type ProblemInput } from '../../../src/optimizer/index.ts';
import { syntheticInput } from '../../../src/optimizer/synthetic.ts';
import { referenceSolve } from '../reference.ts';

const T = 6;
const base = syntheticInput({ stepHours: new Array<number>(T).fill(1), samples: 4, startHour: 16, seed: 3 });
const jointSamples = [0, 1, 2].map((i) => Array.from({ length: T }, (_, t) => 0.2 * Math.sin(1 + i + t) + (t === 2 ? 0.0004 : 0)));
const coupled: ProblemInput = {
  ...base,
  community: {
    netPriceEurPerKwh: [0.05, 0.2, -0.03, 0.1, 0, 0.3],
    proximalWeightEurPerKw2: 0.4,
    netTargetKw: [0.5, 1, 0, -0.5, 1.5, 2],
    deviationShare: {
      samplesKw: jointSamples,
      proximalWeightEurPerKw2: 0.3,
      priceEurPerKw: jointSamples.map((row) => row.map((_, t) => 0.02 * (t - 2))),
      targetKw: jointSamples.map((row) => row.map((v) => 0.5 * v)),
      lipschitz: { priceEur: 0.05, target: 0.7, proximalWeightEur: 2 },
    },
  },
};

/** The coupling terms evaluated from a plan, κ at its partial minimum (it appears nowhere else). */
function couplingCost(input: ProblemInput, plan: Plan): number {
  const c = input.community!;
  const floor = (v: number): number => (Math.abs(v) >= 1e-3 ? v : v < 0 ? -1e-3 : 1e-3);
  let cost = 0;
  plan.stepHours.forEach((h, t) => {
    const n = plan.gridImportKw[t]! - plan.gridExportKw[t]! + Object.values(plan.tradesKw).reduce((sum, x) => sum + x[t]!, 0);
    cost += h * c.netPriceEurPerKwh[t]! * n + (c.proximalWeightEurPerKw2 / 2) * (n - c.netTargetKw[t]!) ** 2;
  });
  const share = c.deviationShare;
  if (!share) return cost;
  share.samplesKw.forEach((row, i) =>
    row.forEach((xi, t) => {
      const y = (1 - plan.decisionRule[t]!) * floor(xi);
      cost += share.priceEurPerKw[i]![t]! * y + (share.proximalWeightEurPerKw2 / 2) * (y - share.targetKw[i]![t]!) ** 2;
    }),
  );
  const l = share.lipschitz!;
  const kappa = Math.min(1, Math.max(...plan.decisionRule.map((b) => 1 - b), l.target - l.priceEur / l.proximalWeightEur));
  return cost + l.priceEur * kappa + (l.proximalWeightEur / 2) * (kappa - l.target) ** 2;
}

describe('the community coupling terms of a household step', () => {
  const optimizer = createOptimizer();
  afterAll(() => optimizer.dispose());

  it('match cvxopt, and stay out of the Plan cost', { timeout: 60_000 }, async () => {
    const reference = referenceSolve(coupled, 1e-7);
    const result = await optimizer.solve(coupled);
    if (!result.ok) throw new Error(`${result.status}: ${result.message}`);
    const plan = result.plan;
    const total = plan.objectiveEur + couplingCost(coupled, plan);
    expect(Math.abs(total - reference.objective) / Math.max(1, Math.abs(reference.objective))).toBeLessThan(1e-6);
    // The Plan's cost is the household's own: the same split as planCost recomputes from the schedules.
    const own = planCost(coupled, plan);
    expect(plan.objectiveEur).toBeCloseTo(Object.values(own).reduce((a, b) => a + b, 0), 6);
  });

  it('price and pull the metered net import: grid exchange plus committed P2P trades, as cvxopt writes them', { timeout: 60_000 }, async () => {
    const withTrades: ProblemInput = {
      ...base,
      peers: [
        { peerId: 'seller', priceEurPerKwh: new Array<number>(T).fill(0.2), maxKw: 3, committedKw: [0, 1.5, 0, null, 2, 0] },
        { peerId: 'buyer', priceEurPerKwh: new Array<number>(T).fill(0.15), maxKw: 3, committedKw: [-1, 0, 0, 0, 0, -0.5] },
      ],
      community: { netPriceEurPerKwh: [0.05, 0.2, -0.03, 0.1, 0, 0.3], proximalWeightEurPerKw2: 0.4, netTargetKw: [0.5, 1, 0, -0.5, 1.5, 2] },
    };
    const reference = referenceSolve(withTrades, 1e-7);
    const result = await optimizer.solve(withTrades);
    if (!result.ok) throw new Error(`${result.status}: ${result.message}`);
    const total = result.plan.objectiveEur + couplingCost(withTrades, result.plan);
    expect(Math.abs(total - reference.objective) / Math.max(1, Math.abs(reference.objective))).toBeLessThan(1e-6);
    expect(result.plan.tradesKw.seller![1]).toBeCloseTo(1.5, 9);
  });

  it('with zero prices and weights leaves the plan as without coupling', { timeout: 60_000 }, async () => {
    const zero: ProblemInput = {
      ...base,
      community: { netPriceEurPerKwh: new Array<number>(T).fill(0), proximalWeightEurPerKw2: 0, netTargetKw: new Array<number>(T).fill(0) },
    };
    const a = await optimizer.solve(base);
    const b = await optimizer.solve(zero);
    if (!a.ok || !b.ok) throw new Error('solve failed');
    expect(b.plan.objectiveEur).toBeCloseTo(a.plan.objectiveEur, 7);
  });
});
