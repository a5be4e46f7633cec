/**
 * The ADMM coordinator of the sharing problem: the community terms on the aggregates only.
 *
 *   z-update:  min  π^C Σ_d P̄^C_d + Σ_k (ρ_k/2N)(z_k − V_k)² + (Nρ_κ/2)(λ − Λ)²   over the community rows,
 *
 * z = the coupling sums [S_t; Y_{t,i}] (laid out as [n_0..n_{T−1}, y_{0,0}..y_{0,T−1}, y_{1,0}, ..]: y by
 * joint sample i, then step t), V = Σ_n x̂_n + N u (Boyd et al.
 * 2011 §7.3 in sum form: z = N z̄; x̂ the relaxed contributions), Λ = mean_n(κ̂_n + u_κ,n) (λ is a consensus variable: every
 * household holds a copy κ_n ≥ max_t(1 − β_{n,t})). Solved by a persistent HiGHS instance: the
 * pattern is the same every round, so only numbers change and the simplex basis carries over.
 *
 * `evaluate` is the same model with the aggregates fixed to what the households actually planned
 * and no proximal terms: the cheapest community peaks their plans need, i.e. the community charge
 * of a feasible point (an LP).
 */
import type { AdapterResult, SolverAdapter } from '../adapter.ts';
import { createHighsAdapter } from '../highs-adapter.ts';
import { Builder, type Block, type QpModel } from '../model.ts';
import { createScsAdapter } from '../scs-adapter.ts';
import type { SolveStatus } from '../types.ts';
import { addCommunityTerms, type CommunityBlocks } from './community-terms.ts';
import type { CoordinatorTerms, HouseholdLimits } from './types.ts';

export interface CoordinatorOutcome {
  ok: boolean;
  status: SolveStatus;
  message: string;
  /** z (the coupling sums) and λ. */
  aggregate: number[];
  lipschitz: number;
  peakByDayKw: number[];
  /** π^C Σ_d P̄^C_d (EUR). */
  chargeEur: number;
}

export interface Coordinator {
  /** Coupling vector length: T, or T·(1 + I) with the chance family. */
  readonly length: number;
  /** ρ per coupling entry (EUR/kW²) and ρ_κ of the λ consensus. */
  zUpdate(target: number[], lipschitzTarget: number, penaltyByEntry: number[], lipschitzPenalty: number, budgetMs: number): Promise<CoordinatorOutcome>;
  evaluate(aggregate: number[], lipschitz: number, budgetMs: number): Promise<CoordinatorOutcome>;
  dispose(): void;
}

interface Built {
  model: QpModel;
  aggregate: Block;
  community: CommunityBlocks;
}

/** The coordinator of the households whose `limits` are given (in the order of the contributions). */
export function createCoordinator(terms: CoordinatorTerms, limits: readonly HouseholdLimits[]): Coordinator {
  const N = limits.length;
  const T = terms.dayOfStep.length;
  const I = terms.chance?.sampleCount ?? 0;
  const length = T * (1 + I);
  // Physical ranges of the sums (finite, so the HiGHS cutting planes start bounded).
  const lower = new Array<number>(length);
  const upper = new Array<number>(length);
  for (let t = 0; t < T; t++) {
    lower[t] = -limits.reduce((s, h) => s + h.maxExportKw, 0);
    upper[t] = limits.reduce((s, h) => s + h.maxImportKw, 0);
  }
  // Without a household's sample ranges: |y_{n,t,i}| ≤ |ξ̂ⁱ_{n,t}|, and a net-load error beyond the
  // connection's full swing is not credible; should a sample pass it, the bound only slows the
  // z-update's pursuit of Σx (the households' plans are their own).
  for (let k = 0; k < T * I; k++) {
    lower[T + k] = limits.reduce((s, h) => s + (h.deviationRangeKw?.lower[k] ?? -(h.maxImportKw + h.maxExportKw)), 0);
    upper[T + k] = limits.reduce((s, h) => s + (h.deviationRangeKw?.upper[k] ?? h.maxImportKw + h.maxExportKw), 0);
  }

  const build = (bounds: (k: number) => [number, number], proximal?: { target: number[]; lipschitzTarget: number; penalty: number[]; lipschitzPenalty: number }, lipschitz?: number): Built => {
    const b = new Builder();
    const aggregate = b.vars('aggregate', 1 + I, T, 'inner', (k) => bounds(k)[0], (k) => bounds(k)[1]);
    const community = addCommunityTerms(
      b,
      terms,
      (t) => ({ constant: 0, terms: [[aggregate.start + t, 1]] }),
      (t, i) => ({ constant: 0, terms: [[aggregate.start + T + i * T + t, 1]] }),
    );
    const lambda = community.cvar?.lambda.start;
    if (proximal) {
      const { target, penalty } = proximal;
      for (let k = 0; k < length; k++) {
        // (ρ_k/2N)(z − V)² = (ρ_k/2N) z² − (ρ_k/N) V z + (ρ_k/2N) V²
        const rho = penalty[k]!;
        b.quadratic(aggregate.start + k, 'coordination', rho / N);
        b.linear(aggregate.start + k, 'coordination', (-rho / N) * target[k]!);
        b.offsetByTerm.coordination += (rho / (2 * N)) * target[k]! ** 2;
      }
      if (lambda !== undefined && terms.chance!.radiusKw > 0) {
        const rho = proximal.lipschitzPenalty;
        b.quadratic(lambda, 'coordination', N * rho);
        b.linear(lambda, 'coordination', -N * rho * proximal.lipschitzTarget);
        b.offsetByTerm.coordination += ((N * rho) / 2) * proximal.lipschitzTarget ** 2;
      }
    }
    if (lambda !== undefined && lipschitz !== undefined) {
      b.colLower[lambda] = lipschitz;
      b.colUpper[lambda] = lipschitz;
    }
    return { model: { ...b.finish(), cvar: {}, samplesKw: [] }, aggregate, community };
  };

  // A z-update is one step of an iteration that stops at a residual of ~0.01 kW: a certified gap of
  // 1e-7 is ample, and the warm point (last round's z) makes the range grid nearly useless.
  const proximalSolver: SolverAdapter = createHighsAdapter({ rescue: createScsAdapter(), relativeGap: 1e-7, absoluteGap: 1e-7, initialGridPoints: 2 });
  const evaluationSolver: SolverAdapter = createHighsAdapter({ rescue: createScsAdapter() });
  let last: { x: Float64Array; rowDual: Float64Array; colDual: Float64Array } | undefined;

  const outcome = (built: Built, result: AdapterResult, label: string): CoordinatorOutcome => {
    if (result.status !== 'optimal' || !result.x) {
      return { ok: false, status: result.status === 'optimal' ? 'numerical' : result.status, message: `${label}: ${result.message}`, aggregate: [], lipschitz: NaN, peakByDayKw: [], chargeEur: NaN };
    }
    const x = result.x;
    const { peak, cvar } = built.community;
    const peakByDayKw = Array.from(x.subarray(peak.start, peak.start + peak.length));
    return {
      ok: true,
      status: 'optimal',
      message: result.message,
      aggregate: Array.from(x.subarray(built.aggregate.start, built.aggregate.start + length)),
      lipschitz: cvar ? x[cvar.lambda.start]! : 0,
      peakByDayKw,
      chargeEur: terms.peakChargeEurPerKwDay * peakByDayKw.reduce((s, v) => s + v, 0),
    };
  };

  return {
    length,
    async zUpdate(target, lipschitzTarget, penalty, lipschitzPenalty, budgetMs) {
      const built = build((k) => [lower[k]!, upper[k]!], { target, lipschitzTarget, penalty, lipschitzPenalty });
      const result = await proximalSolver.solve(built.model, last, budgetMs);
      if (result.status === 'optimal' && result.x && result.rowDual && result.colDual) last = { x: result.x, rowDual: result.rowDual, colDual: result.colDual };
      return outcome(built, result, 'coordinator z-update');
    },
    async evaluate(aggregate, lipschitz, budgetMs) {
      const built = build((k) => [aggregate[k]!, aggregate[k]!], undefined, lipschitz);
      return outcome(built, await evaluationSolver.solve(built.model, undefined, budgetMs), 'community charge of the plans');
    },
    dispose() {
      proximalSolver.dispose();
      evaluationSolver.dispose();
    },
  };
}
