/**
 * The CVaR reformulation checked by Monte Carlo: the plan is solved on I samples, then judged on
 * samples the model never saw, drawn from the same forecast-error process.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { chanceRows, createOptimizer, rowExcess, type ChanceFamily, type Plan, type ProblemInput } from '../../src/optimizer/index.ts';
import { syntheticInput } from '../../src/optimizer/synthetic.ts';

const IN_SAMPLE = 20;
const HELD_OUT = 4000;
const EPSILON = 0.1;
const FAMILIES: ChanceFamily[] = ['import', 'socMin', 'socMax'];

/** Evening peak with an import limit the forecast alone nearly reaches, a small battery left. */
function instance(radiusKw: number, method: ProblemInput['chance']['method'] = 'joint'): { input: ProblemInput; heldOut: number[][] } {
  const all = syntheticInput({
    stepHours: new Array<number>(8).fill(1),
    samples: IN_SAMPLE + HELD_OUT,
    startHour: 16,
    radiusKw,
    method,
    epsilon: { import: EPSILON, socMin: EPSILON, socMax: EPSILON },
    initialEnergyKwh: 3,
    seed: 7,
  });
  const input: ProblemInput = { ...all, errorSamplesKw: all.errorSamplesKw.slice(0, IN_SAMPLE), grid: { maxImportKw: 2.6, maxExportKw: 8 } };
  return { input, heldOut: all.errorSamplesKw.slice(IN_SAMPLE) };
}

/** Fraction of trajectories on which some row of the family exceeds its limit by more than `slackKw`. */
function violationRate(input: ProblemInput, plan: Plan, family: ChanceFamily, samples: number[][], slackKw = 1e-9): number {
  const rows = chanceRows(input, plan, family);
  return samples.filter((xi) => rowExcess(rows, xi).some((v) => v > slackKw)).length / samples.length;
}

describe('the worst-case CVaR chance constraints', () => {
  const optimizer = createOptimizer({ solver: 'highs' });
  afterAll(() => optimizer.dispose());

  it.each([
    ['joint', 0.3],
    ['bonferroni', 0.02],
  ] as const)('(%s) with a large Wasserstein radius hold out of sample: violation frequency ≤ ε for every family', async (method, radiusKw) => {
    // Bonferroni spends ε/R per row, so a smaller radius already makes it conservative.
    const { input, heldOut } = instance(radiusKw, method);
    const result = await optimizer.solve(input);
    if (!result.ok) throw new Error(result.message);
    for (const family of FAMILIES) {
      expect(result.plan.worstCaseCvar[family]!, family).toBeLessThanOrEqual(1e-6);
      expect(violationRate(input, result.plan, family, heldOut), family).toBeLessThanOrEqual(EPSILON);
    }
  });

  it('with ρ = 0 behave as sample-average approximation: the in-sample CVaR is tight and in-sample violations stay within ε', async () => {
    const { input, heldOut } = instance(0);
    const result = await optimizer.solve(input);
    if (!result.ok) throw new Error(result.message);
    const plan = result.plan;
    // Cheap real-time cover makes the battery take the deviations (β ≈ 1), so the SoC families
    // are the ones that bind: their in-sample worst-case CVaR is exactly 0.
    for (const family of ['socMin', 'socMax'] as const) expect(Math.abs(plan.worstCaseCvar[family]!), family).toBeLessThan(1e-6);
    // CVaR_ε = 0 lets a few in-sample trajectories cross the limit, never more than ε of them.
    const inSample = violationRate(input, plan, 'socMax', input.errorSamplesKw);
    expect(inSample).toBeGreaterThan(0);
    expect(inSample).toBeLessThanOrEqual(EPSILON);
    // Out of sample SAA is optimistic: it violates more often than the robust plan does.
    const robust = await optimizer.solve(instance(0.3).input);
    if (!robust.ok) throw new Error(robust.message);
    expect(violationRate(input, plan, 'socMax', heldOut)).toBeGreaterThan(violationRate(input, robust.plan, 'socMax', heldOut));
  });

  it('cost more as the radius grows (the price of robustness)', async () => {
    const objectives: number[] = [];
    for (const radiusKw of [0, 0.1, 0.3]) {
      const result = await optimizer.solve(instance(radiusKw).input);
      if (!result.ok) throw new Error(result.message);
      objectives.push(result.plan.objectiveEur);
    }
    expect(objectives[1]!).toBeGreaterThan(objectives[0]!);
    expect(objectives[2]!).toBeGreaterThan(objectives[1]!);
  });
});
