/**
 * One household's half of the sharing ADMM (distributed.ts): its own optimizer on its own
 * ProblemInput, the local step of every round. It answers the coordinator's round (price, its
 * target, ρ, λ and its κ price) with its contribution x_n and κ_n, and keeps its plan to itself —
 * the same object whether the coordinator is in this process or behind MQTT (market/clearing/sharing-rounds.ts).
 */
import { createOptimizer } from '../optimizer.ts';
import type { CommunityCoupling, Plan, ProblemInput, SolveResult } from '../types.ts';
import type { HouseholdLimits, SharingSettings } from './types.ts';

/** What the coordinator tells one household for a round (its view of the sharing state). */
export interface SharingPrices {
  penaltyEurPerKw2: number;
  /** u over the coupling entries: the price of entry k is ρ_k u_k (EUR per kW of entry). */
  scaledPrice: number[];
  /** z_n, this household's share of the aggregate: its proximal target (kW). */
  targetKw: number[];
  /** λ of the community CVaR, and u_κ of this household's copy κ_n. */
  lipschitz: number;
  lipschitzScaledPrice: number;
}

export interface HouseholdAnswer {
  /** x_n: [n_0..n_{T−1}, y_{0,0}..y_{0,T−1}, y_{1,0}, ..] (kW). */
  contributionKw: number[];
  /** κ_n ≥ max_t(1 − β_t). */
  lipschitzCopy: number;
  plan: Plan;
}

export type HouseholdStep = ({ ok: true } & HouseholdAnswer) | { ok: false; message: string };

/** What solves the local steps: the agent's own optimizer, or a gateway's solver worker. */
export interface LocalSolver {
  solve(input: ProblemInput, options: { startMs: number }): Promise<SolveResult>;
}

export class HouseholdAgent {
  private readonly optimizer: LocalSolver;
  private readonly release: () => void;
  private readonly T: number;
  /** The last round's plan: the household's own, never sent. */
  plan: Plan | undefined;

  /**
   * `samplesKw`: this household's part of the joint samples, I × T, floored as the coordinator's
   * (floorJointSamples); `withLipschitz`: the community chance family has a radius > 0, so κ is priced.
   * `solver`: a running gateway's solver worker (it keeps the solves off the control loop's thread);
   * default an optimizer of the agent's own.
   */
  constructor(
    private readonly input: ProblemInput,
    private readonly samplesKw: number[][],
    private readonly settings: SharingSettings,
    private readonly withLipschitz: boolean,
    private readonly startMs: number,
    solver?: LocalSolver,
  ) {
    this.T = input.stepHours.length;
    if (solver) {
      this.optimizer = solver;
      this.release = () => {};
    } else {
      // A local step of an iteration that stops at ~0.01 kW residual needs no 1e-9 certified gap.
      const own = createOptimizer({ timeBudgetMs: settings.solveBudgetMs, highsGap: { relative: 1e-7, absolute: 1e-7 } });
      this.optimizer = own;
      this.release = () => own.dispose();
    }
  }

  /** Coupling vector length, T·(1 + I). */
  get length(): number {
    return this.T * (1 + this.samplesKw.length);
  }

  /** `withSampleRanges`: the range of each y entry too (the coordinator in this process may know it; over MQTT it is not sent). */
  limits(withSampleRanges = true): HouseholdLimits {
    const grid = { maxImportKw: this.input.grid.maxImportKw, maxExportKw: this.input.grid.maxExportKw };
    if (!withSampleRanges || this.samplesKw.length === 0) return grid;
    const y = this.samplesKw.flat();
    return { ...grid, deviationRangeKw: { lower: y.map((v) => Math.min(0, v)), upper: y.map((v) => Math.max(0, v)) } };
  }

  /** The local step; without prices, the household alone (the first round of a cold clearing). */
  async step(prices?: SharingPrices): Promise<HouseholdStep> {
    const c = prices ? this.coupling(prices) : undefined;
    const result = await this.optimizer.solve(c ? { ...this.input, community: c } : this.input, { startMs: this.startMs });
    if (!result.ok) return { ok: false, message: `${result.status}: ${result.message}` };
    const plan = result.plan;
    this.plan = plan;
    const contributionKw = plan.gridImportKw.map((g, t) => g - plan.gridExportKw[t]!);
    for (const sample of this.samplesKw) for (let t = 0; t < this.T; t++) contributionKw.push((1 - plan.decisionRule[t]!) * sample[t]!);
    // β's bounds [0, 1] hold to the LP's feasibility tolerance: 1 − β may exceed 1 by 1e-12, which the
    // answer's schema (κ ≤ 1) would refuse to send.
    const maxShare = Math.min(1, Math.max(0, ...plan.decisionRule.map((b) => 1 - b)));
    // κ is not in the Plan. Given β, κ minimises its own terms ρ_κu_κκ + (ρ_κ/2)(κ − λ)² over
    // max_t(1 − β_t) ≤ κ ≤ 1: the partial minimum, exact at the household's optimum.
    const l = c?.deviationShare?.lipschitz;
    const lipschitzCopy = l ? Math.min(1, Math.max(maxShare, l.target - l.priceEur / l.proximalWeightEur)) : maxShare;
    return { ok: true, contributionKw, lipschitzCopy, plan };
  }

  private coupling(p: SharingPrices): CommunityCoupling {
    const { T, settings: s } = this;
    const rho = p.penaltyEurPerKw2;
    const rhoY = rho * s.chancePenaltyScale;
    const rhoKappa = rho * s.lipschitzPenaltyScale;
    return {
      netPriceEurPerKwh: this.input.stepHours.map((h, t) => (rho * p.scaledPrice[t]!) / h),
      proximalWeightEurPerKw2: rho,
      netTargetKw: p.targetKw.slice(0, T),
      ...(this.samplesKw.length > 0
        ? {
            deviationShare: {
              samplesKw: this.samplesKw,
              proximalWeightEurPerKw2: rhoY,
              priceEurPerKw: this.samplesKw.map((_, i) => p.scaledPrice.slice(T + i * T, T + (i + 1) * T).map((v) => rhoY * v)),
              targetKw: this.samplesKw.map((_, i) => p.targetKw.slice(T + i * T, T + (i + 1) * T)),
              ...(this.withLipschitz ? { lipschitz: { priceEur: rhoKappa * p.lipschitzScaledPrice, target: p.lipschitz, proximalWeightEur: rhoKappa } } : {}),
            },
          }
        : {}),
    };
  }

  /** Disposes the agent's own optimizer (a solver passed in stays its owner's). */
  dispose(): void {
    this.release();
  }
}
