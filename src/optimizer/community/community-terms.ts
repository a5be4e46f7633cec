/**
 * The community terms of formulation §8 as model rows, shared by the central model (where the
 * aggregates are sums of household columns) and the ADMM coordinator (where they are columns of
 * its own): per-day peak P̄^C_d ≥ S_t and ≥ peakSoFar_d at π^C each, and the joint worst-case CVaR
 * block of the `communityImport` family (§4: τ, λ, σ_i; the caller bounds λ ≥ |a_{r,j}|).
 */
import { Builder, DEFAULT_MODEL_OPTIONS, floorSamples, type Block } from '../model.ts';
import type { CommunityTerms, CoordinatorTerms } from './types.ts';

/** constant + Σ coef·x[col]. */
export interface Affine {
  constant: number;
  terms: [number, number][];
}

export interface CommunityBlocks {
  /** P̄^C_d per day; rows P̄^C_{d(t)} ≥ S_t per step. */
  peak: Block;
  peakRows: Block;
  /** The community CVaR block, with the chance family only. */
  cvar?: { tau: Block; lambda: Block; sigma: Block; budgetRow: Block; sampleRows: Block };
}

/**
 * Joint samples floored at the household model's 1 W, keeping the sign, I × N × T: the same numbers
 * the households' coupling columns see.
 */
export function floorJointSamples(terms: CommunityTerms): number[][][] {
  return (terms.chance?.jointSamplesKw ?? []).map((sample) => floorSamples(sample, DEFAULT_MODEL_OPTIONS.sampleFloorKw));
}

/**
 * `net(t)` is S_t = Σ_n n_{n,t}; `deviation(t, i)` is Y_{t,i} = Σ_n (1 − β_{n,t}) ξ̂ⁱ_{n,t}. The peak
 * variable has no upper bound: the community charge is the only thing that limits it.
 */
export function addCommunityTerms(b: Builder, terms: CoordinatorTerms, net: (t: number) => Affine, deviation: (t: number, i: number) => Affine): CommunityBlocks {
  const T = terms.dayOfStep.length;
  const days = 1 + Math.max(0, ...terms.dayOfStep);
  const peak = b.vars('community:peak', days, 1, 'none', (d) => terms.peakSoFarKw[d]!, () => Infinity);
  for (let d = 0; d < days; d++) b.linear(peak.start + d, 'demandCharge', terms.peakChargeEurPerKwDay);

  // P̄^C_{d(t)} − S_t ≥ 0
  let r = b.beginRows();
  for (let t = 0; t < T; t++) {
    const s = net(t);
    b.row(s.constant, Infinity, [[peak.start + terms.dayOfStep[t]!, 1], ...s.terms.map(([c, v]): [number, number] => [c, -v])]);
  }
  const peakRows = b.endRows('community:peakRows', r, T, 1, 'outer');
  const chance = terms.chance;
  if (!chance) return { peak, peakRows };

  const I = chance.sampleCount;
  const tau = b.vars('communityImport:tau', 1, 1, 'none', () => -Infinity, () => Infinity);
  // |a_{r,(n,t)}| = 1 − β_{n,t} ≤ 1, so λ ≤ 1 cuts nothing off.
  const lambda = b.vars('communityImport:lambda', 1, 1, 'none', () => 0, () => 1);
  const sigma = b.vars('communityImport:sigma', I, 1, 'none', () => 0, () => Infinity);
  // ε τ + ρ λ + (1/I) Σ σ_i ≤ 0
  r = b.beginRows();
  b.row(-Infinity, 0, [[tau.start, chance.epsilon], [lambda.start, chance.radiusKw], ...Array.from({ length: I }, (_, i): [number, number] => [sigma.start + i, 1 / I])]);
  const budgetRow = b.endRows('communityImport:budget', r, 1, 1, 'none');
  // σ_i ≥ Y_{t,i} − (P̄^C_{d(t)} − S_t) − τ   ⇔   σ_i + τ + P̄ − S_t − Y_{t,i} ≥ 0
  r = b.beginRows();
  for (let t = 0; t < T; t++) {
    const s = net(t);
    for (let i = 0; i < I; i++) {
      const y = deviation(t, i);
      b.row(s.constant + y.constant, Infinity, [
        [sigma.start + i, 1],
        [tau.start, 1],
        [peak.start + terms.dayOfStep[t]!, 1],
        ...[...s.terms, ...y.terms].map(([c, v]): [number, number] => [c, -v]),
      ]);
    }
  }
  const sampleRows = b.endRows('communityImport:samples', r, T, I, 'outer');
  return { peak, peakRows, cvar: { tau, lambda, sigma, budgetRow, sampleRows } };
}
