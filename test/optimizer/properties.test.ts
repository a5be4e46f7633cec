/** Properties every optimal plan has, on random small instances. */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createOptimizer, type ProblemInput } from '../../src/optimizer/index.ts';
import { syntheticInput } from '../../src/optimizer/synthetic.ts';

const instance = fc
  .record({
    stepHours: fc.array(fc.constantFrom(0.25, 0.5, 1, 2), { minLength: 2, maxLength: 6 }),
    samples: fc.integer({ min: 2, max: 6 }),
    startHour: fc.integer({ min: 0, max: 23 }),
    seed: fc.integer({ min: 1, max: 1_000_000 }),
    peers: fc.integer({ min: 0, max: 2 }),
    method: fc.constantFrom('joint' as const, 'bonferroni' as const),
    // Large radii with Bonferroni (ε/R per row) can make short horizons genuinely infeasible.
    radiusKw: fc.constantFrom(0, 0.02, 0.05),
    initialEnergyKwh: fc.double({ min: 2, max: 9, noNaN: true }),
    shiftable: fc.boolean(),
  })
  .map((o): ProblemInput => syntheticInput(o));

describe('an optimal plan on a random instance', () => {
  const optimizer = createOptimizer({ solver: 'highs' });
  afterAll(() => optimizer.dispose());

  it('keeps SoC in bounds, respects commitments, β ∈ [0, 1], balances every step and splits its cost exactly', async () => {
    await fc.assert(
      fc.asyncProperty(instance, async (input) => {
        const result = await optimizer.solve(input);
        if (!result.ok) throw new Error(`${result.status}: ${result.message}`);
        const plan = result.plan;
        const bat = input.battery;
        // HiGHS is exact to 1e-6 here; if its cutting planes ever stalled, SCS's first-order
        // solution (tolerance 1e-5) is what the plan carries, so its rows hold to about 1e-4.
        const tol = plan.solver.name.includes('scs') ? 1e-4 : 1e-6;
        const digits = plan.solver.name.includes('scs') ? 3 : 6;
        for (const e of plan.energyKwh.slice(1)) {
          expect(e).toBeGreaterThanOrEqual(bat.minEnergyKwh - tol);
          expect(e).toBeLessThanOrEqual(bat.maxEnergyKwh + tol);
        }
        for (const beta of plan.decisionRule) {
          expect(beta).toBeGreaterThanOrEqual(-tol);
          expect(beta).toBeLessThanOrEqual(1 + tol);
        }
        for (const peer of input.peers ?? []) {
          peer.committedKw?.forEach((committed, t) => {
            if (committed !== null) expect(plan.tradesKw[peer.peerId]![t]).toBeCloseTo(committed, 9);
          });
        }
        input.stepHours.forEach((_, t) => {
          const traded = Object.values(plan.tradesKw).reduce((s, x) => s + x[t]!, 0);
          const supplied = plan.gridImportKw[t]! - plan.gridExportKw[t]! + plan.dischargeKw[t]! - plan.chargeKw[t]! + traded;
          expect(supplied).toBeCloseTo(input.netLoadForecastKw[t]! + plan.shiftableKw[t]!, digits);
        });
        const split = Object.values(plan.costEur).reduce((s, v) => s + v, 0);
        expect(split).toBeCloseTo(plan.objectiveEur, 9);
        for (const cvar of Object.values(plan.worstCaseCvar)) expect(cvar).toBeLessThanOrEqual(10 * tol);
      }),
      { numRuns: 12, seed: 20261121 },
    );
  });
});
