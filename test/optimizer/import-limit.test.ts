/**
 * The import family may protect the connection instead of the billed peak (formulation §4: "or
 * G^imp in place of P̄"). Then the margin for forecast errors no longer raises the billed peak:
 * checked against the independent cvxopt build, and against the default on the same instance.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createOptimizer } from '../../src/optimizer/index.ts';
import { syntheticInput } from '../../src/optimizer/synthetic.ts';
import type { ProblemInput } from '../../src/optimizer/types.ts';
import { referenceSolve } from './reference.ts';

const optimizer = createOptimizer();
afterAll(() => optimizer.dispose());

// An evening with a demand charge and a wide Wasserstein ball: the margin is large.
const base = syntheticInput({ stepHours: new Array<number>(6).fill(1), samples: 5, startHour: 16, peakEurPerKw: 0.5, radiusKw: 0.3 });
const connection: ProblemInput = { ...base, chance: { ...base.chance, importLimit: 'connection' } };

describe('the import family on the connection', () => {
  it('matches cvxopt on an independent build', async () => {
    const reference = referenceSolve(connection, 1e-9);
    const result = await optimizer.solve(connection);
    if (!result.ok) throw new Error(`${result.status} ${result.message}`);
    expect(Math.abs(result.plan.objectiveEur - reference.objective) / Math.max(1, Math.abs(reference.objective))).toBeLessThan(1e-6);
  }, 60_000);

  it('leaves the billed peak to the nominal schedule, while on the billed peak the margin raises it', async () => {
    const onPeak = await optimizer.solve(base);
    const onConnection = await optimizer.solve(connection);
    if (!onPeak.ok || !onConnection.ok) throw new Error('a solve failed');
    const nominalPeakKw = (p: typeof onPeak.plan) => Math.max(...p.gridImportKw);
    expect(onConnection.plan.peakImportKw).toBeCloseTo(nominalPeakKw(onConnection.plan), 4);
    expect(onPeak.plan.peakImportKw!).toBeGreaterThan(nominalPeakKw(onPeak.plan) + 0.05);
  }, 60_000);
});
