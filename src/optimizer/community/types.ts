/**
 * The community problem of formulation §8: the households' own problems (§1–§5) plus a coincident
 * daily demand charge on the community's scheduled net import and an optional community import
 * chance family over the households' joint forecast errors. Units: kW, kWh, hours, EUR.
 */
import type { Plan, ProblemInput, SolveStatus } from '../types.ts';

/** π^C: evaluation.md "Additions" (EUR per kW of the community's daily peak, per day). */
export const DEFAULT_COMMUNITY_PEAK_CHARGE_EUR_PER_KW_DAY = 1;

export interface CommunityTerms {
  /** π^C (EUR per kW of each day's coincident peak). */
  peakChargeEurPerKwDay: number;
  /** Day index of each step of the horizon (length T). */
  dayOfStep: number[];
  /** Per day index: the community import peak already realised that day (kW); billed whether exceeded or not. */
  peakSoFarKw: number[];
  /**
   * The `communityImport` family: Σ_n (1 − β_{n,t}) ξ_{n,t} ≤ P̄^C_{d(t)} − Σ_n n_{n,t} for all t jointly,
   * with probability ≥ 1 − ε over the Wasserstein ball of radius `radiusKw` around the joint samples
   * (I × N × T: ξ̂ⁱ of the N households on the same past day i, households in problem order).
   */
  chance?: { epsilon: number; radiusKw: number; jointSamplesKw: number[][][] };
}

/**
 * The community terms as the ADMM coordinator sees them: the joint samples only by their number
 * (it handles the aggregates Σ_n y_n, never a household's samples).
 */
export interface CoordinatorTerms extends Omit<CommunityTerms, 'chance'> {
  chance?: { epsilon: number; radiusKw: number; sampleCount: number };
}

export function coordinatorTerms(terms: CommunityTerms): CoordinatorTerms {
  const { chance, ...rest } = terms;
  return chance ? { ...rest, chance: { epsilon: chance.epsilon, radiusKw: chance.radiusKw, sampleCount: chance.jointSamplesKw.length } } : rest;
}

/**
 * What the coordinator needs of a household to bound the aggregate columns (finite, so the HiGHS
 * cutting planes start bounded; the bounds are redundant for the optimum, x always satisfies them):
 * its grid connection and, optionally, the range of each of its chance contributions y,
 * [min(0, ξ̂), max(0, ξ̂)] since 0 ≤ 1 − β ≤ 1 (I·T each, y layout). Those ranges are the samples'
 * signs and sizes, so only a coordinator in the households' own process gets them
 * (solveCommunityDistributed, unless `chanceBounds: 'connection'`); without them every y entry is
 * bounded by ± the connection's full swing, maxImportKw + maxExportKw, which reveals nothing
 * (the MQTT clearing, docs/community-coordination.md). The ranges help the z-update: on the
 * synthetic test instance ADMM converges within 50 rounds with them and not without.
 */
export interface HouseholdLimits {
  maxImportKw: number;
  maxExportKw: number;
  deviationRangeKw?: { lower: number[]; upper: number[] };
}

/** All households with the same `stepHours`. */
export interface CommunityProblem {
  households: ProblemInput[];
  terms: CommunityTerms;
  /** Goes into every Plan's `startMs` (gateway clock of the measurement); default 0. */
  startMs?: number;
}

export interface CommunityResult {
  ok: boolean;
  status: SolveStatus;
  message?: string;
  /** One per household, same order (empty when not ok). */
  plans: Plan[];
  communityPeakByDayKw: number[];
  /** Σ household objectives (Plan.objectiveEur) + the community charge. */
  objectiveEur: number;
  /**
   * Per step: the marginal community price of scheduled import (EUR/kWh), i.e. how much the community
   * terms' optimum rises per extra kWh imported at t by anyone. Central: duals of the community peak
   * and sample rows of step t over Δt; distributed: ρ·u_t / Δt, the coordinator's price.
   */
  couplingPriceEurPerKwh: number[];
  solveMs: number;
}

/** A community solve that failed: no plans, no prices, NaN objective. */
export function failedCommunityResult(status: SolveStatus, message: string, startedMs: number): CommunityResult {
  return { ok: false, status, message, plans: [], communityPeakByDayKw: [], objectiveEur: NaN, couplingPriceEurPerKwh: [], solveMs: performance.now() - startedMs };
}

/** A failed step of a clearing. */
export interface SolveFailure {
  ok: false;
  status: SolveStatus;
  message: string;
}

/** ADMM (sharing form) settings; every field has a default (DEFAULT_SHARING_SETTINGS). */
export interface SharingSettings {
  /** ρ of the first round (EUR/kW²); residual balancing adapts it. */
  initialPenaltyEurPerKw2: number;
  /** ρ_y / ρ for the chance contributions y (see distributed.ts). */
  chancePenaltyScale: number;
  /** ρ_κ / ρ for the λ consensus (κ is dimensionless; see docs/community-coordination.md). */
  lipschitzPenaltyScale: number;
  /** Over-relaxation α ∈ [1, 2) (Boyd et al. 2011, §3.4.3); 1 = plain ADMM. */
  relaxation: number;
  maxRounds: number;
  /** Stop when ‖Σ_n x_n − z‖∞ and the round's change of every household's target are both below this (kW). */
  primalToleranceKw: number;
  /**
   * Residual balancing (Boyd et al. 2011, §3.4.1): ρ ×= factor when the primal residual exceeds
   * ratio × the dual residual, ρ /= factor in the opposite case, only in the first `untilRound`
   * rounds (a fixed ρ afterwards keeps ADMM's convergence guarantee).
   */
  balancing: { ratio: number; factor: number; untilRound: number };
  /** Wall-clock budget of each household and coordinator solve (ms). */
  solveBudgetMs: number;
  /**
   * How the coordinator bounds the chance contributions y: by each entry's sample range
   * ('samples', in one process) or by ± the connections' full swing ('connection', what the MQTT
   * clearing does, since the ranges would reveal the samples). See HouseholdLimits.
   */
  chanceBounds: 'samples' | 'connection';
}

export interface DistributedResult extends CommunityResult {
  /** Household solve rounds, the first (each alone) included. */
  rounds: number;
  converged: boolean;
  /** ‖Σ_n x_n − z‖∞ of the last round (kW). */
  primalResidualKw: number;
}
