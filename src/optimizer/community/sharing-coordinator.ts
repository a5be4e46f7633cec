/**
 * The coordinator's half of the sharing ADMM (distributed.ts): given every household's
 * contribution of a round, the over-relaxation, the z-update on the aggregates (coordinator.ts),
 * the new prices, the stopping test and residual balancing; then each household's prices for the
 * next round. It holds no household data beyond the contributions and each household's limits.
 */
import { createCoordinator, type Coordinator, type CoordinatorOutcome } from './coordinator.ts';
import type { SharingPrices } from './household-agent.ts';
import type { CoordinatorTerms, HouseholdLimits, SharingSettings, SolveFailure } from './types.ts';

/**
 * Chosen by measurement on the real day-ahead instance with the community chance family
 * (docs/community-coordination.md): over-relaxation 1.6 and a 10× stiffer λ consensus cut the gap
 * after 50 rounds from 19 % to 9 % of the (small) central objective; a stiffer or softer y block did
 * not help (10×: 24 %, 0.3×: 13 %).
 */
export const DEFAULT_SHARING_SETTINGS: SharingSettings = {
  initialPenaltyEurPerKw2: 0.1,
  chancePenaltyScale: 1,
  lipschitzPenaltyScale: 10,
  relaxation: 1.6,
  maxRounds: 50,
  primalToleranceKw: 0.01,
  balancing: { ratio: 10, factor: 2, untilRound: 30 },
  solveBudgetMs: 10_000,
  chanceBounds: 'samples',
};

export function sharingSettings(settings: Partial<SharingSettings> = {}): SharingSettings {
  return { ...DEFAULT_SHARING_SETTINGS, ...settings, balancing: { ...DEFAULT_SHARING_SETTINGS.balancing, ...settings.balancing } };
}

/**
 * z_n = x̂_n + shift with x̂_n = α x_n + (1 − α) z_n^previous: a household's next target from its own
 * contribution, its previous target and the round's common shift (z − Σx̂)/N. The coordinator and a
 * household behind MQTT compute it with the same operations, so they agree to the bit.
 */
export function nextTarget(contributionKw: readonly number[], previousTargetKw: readonly number[], shareShiftKw: readonly number[], relaxation: number): number[] {
  return contributionKw.map((v, k) => relaxation * v + (1 - relaxation) * previousTargetKw[k]! + shareShiftKw[k]!);
}

export interface ContributionOf {
  contributionKw: number[];
  lipschitzCopy: number;
}

export type RoundOutcome = { ok: true; done: boolean } | SolveFailure;

const maxAbs = (v: number[]): number => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
const sumSquares = (v: number[]): number => v.reduce((s, x) => s + x * x, 0);

export class SharingCoordinator {
  /** Household rounds collected so far (the first, each alone, included). */
  rounds = 0;
  converged = false;
  /** ‖Σ_n x_n − z‖∞ (and |κ_n − λ|) of the last round (kW). */
  primalResidualKw = Infinity;
  penaltyEurPerKw2: number;
  /** u (scaled prices of the coupling entries), u_κ per household, z_n per household, z and λ. */
  scaledPrice: number[];
  lipschitzScaledPrice: number[];
  targets: number[][];
  aggregate: number[] = [];
  lipschitz: number;
  /** (z − Σx̂)/N of the last z-update: with it each household computes its own target (nextTarget). */
  shareShiftKw: number[] = [];
  private readonly s: SharingSettings;
  private readonly L: number;
  private readonly withLipschitz: boolean;
  private limits: HouseholdLimits[];
  private coordinator: Coordinator;

  constructor(
    private readonly terms: CoordinatorTerms,
    private readonly stepHours: readonly number[],
    limits: readonly HouseholdLimits[],
    settings: SharingSettings,
  ) {
    this.s = settings;
    const N = limits.length;
    this.L = stepHours.length * (1 + (terms.chance?.sampleCount ?? 0));
    // κ_n only matters when λ is priced: ρ_W λ in the CVaR budget.
    this.withLipschitz = terms.chance !== undefined && terms.chance.radiusKw > 0;
    this.limits = [...limits];
    this.coordinator = createCoordinator(terms, this.limits);
    this.penaltyEurPerKw2 = settings.initialPenaltyEurPerKw2;
    this.scaledPrice = new Array<number>(this.L).fill(0);
    this.lipschitzScaledPrice = new Array<number>(N).fill(0);
    this.targets = [];
    this.lipschitz = 1;
  }

  private get kappaPenalty(): number {
    return this.penaltyEurPerKw2 * this.s.lipschitzPenaltyScale;
  }

  /** ρ per coupling entry: n_t at ρ, the chance contributions y at ρ_y = ρ · chancePenaltyScale. */
  private entryPenalty(): number[] {
    const T = this.stepHours.length;
    return Array.from({ length: this.L }, (_, k) => (k < T ? this.penaltyEurPerKw2 : this.penaltyEurPerKw2 * this.s.chancePenaltyScale));
  }

  /** Household n's prices for the next round; undefined for the first round (each alone). */
  pricesFor(n: number): SharingPrices | undefined {
    if (this.targets.length === 0) return undefined;
    return {
      penaltyEurPerKw2: this.penaltyEurPerKw2,
      scaledPrice: this.scaledPrice,
      targetKw: this.targets[n]!,
      lipschitz: this.lipschitz,
      lipschitzScaledPrice: this.lipschitzScaledPrice[n]!,
    };
  }

  /** The marginal community price of scheduled import per step, ρu_t/Δt (EUR/kWh). */
  couplingPriceEurPerKwh(): number[] {
    return this.stepHours.map((h, t) => (this.penaltyEurPerKw2 * this.scaledPrice[t]!) / h);
  }

  /**
   * Keeps the households at `indices` (ascending), dropping the others (left mid-clearing): the
   * clearing goes on among the rest from the same prices, with a coordinator over their limits.
   */
  keep(indices: readonly number[]): void {
    if (indices.length === this.limits.length) return;
    const pick = <T>(v: T[]): T[] => (v.length === 0 ? v : indices.map((n) => v[n]!));
    this.limits = pick(this.limits);
    this.targets = pick(this.targets);
    this.lipschitzScaledPrice = pick(this.lipschitzScaledPrice);
    this.coordinator.dispose();
    this.coordinator = createCoordinator(this.terms, this.limits);
  }

  /** One round's answers, in household order: z-update, prices, stop test, penalty. */
  async collect(answers: readonly ContributionOf[]): Promise<RoundOutcome> {
    this.rounds++;
    const N = answers.length;
    const L = this.L;
    const s = this.s;
    const alpha = s.relaxation;
    const x = answers.map((a) => a.contributionKw);
    const kappa = answers.map((a) => a.lipschitzCopy);
    const sumOf = (xs: number[][]): number[] => Array.from({ length: L }, (_, k) => xs.reduce((acc, xn) => acc + xn[k]!, 0));
    // Alone: each household's share starts at what it planned.
    if (this.rounds === 1) {
      this.targets = x.map((v) => [...v]);
      this.lipschitz = Math.max(...kappa);
    }
    let u = this.scaledPrice;
    let uKappa = this.lipschitzScaledPrice;
    const lambdaBefore = this.lipschitz;
    const sum = sumOf(x);
    const relaxedKappa = kappa.map((k) => alpha * k + (1 - alpha) * lambdaBefore);
    const relaxedSum = sumOf(x.map((xn, n) => xn.map((v, k) => alpha * v + (1 - alpha) * this.targets[n]![k]!)));
    const zResult = await this.coordinator.zUpdate(
      relaxedSum.map((v, k) => v + N * u[k]!),
      relaxedKappa.reduce((acc, k, n) => acc + k + uKappa[n]!, 0) / N,
      this.entryPenalty(),
      this.kappaPenalty,
      s.solveBudgetMs,
    );
    if (!zResult.ok) return { ok: false, status: zResult.status, message: zResult.message };
    const previousZn = this.targets;
    const z = zResult.aggregate;
    const lambda = zResult.lipschitz;
    this.aggregate = z;
    this.lipschitz = lambda;
    this.shareShiftKw = z.map((v, k) => (v - relaxedSum[k]!) / N);
    this.targets = x.map((xn, n) => nextTarget(xn, previousZn[n]!, this.shareShiftKw, alpha));
    u = u.map((v, k) => v + (relaxedSum[k]! - z[k]!) / N);
    if (this.withLipschitz) uKappa = uKappa.map((v, n) => v + relaxedKappa[n]! - lambda);

    const kappaResidual = this.withLipschitz ? kappa.map((k) => k - lambda) : [];
    const kappaChange = this.withLipschitz ? Math.abs(lambda - lambdaBefore) : 0;
    this.primalResidualKw = Math.max(maxAbs(sum.map((v, k) => v - z[k]!)), maxAbs(kappaResidual));
    const change = Math.max(kappaChange, ...this.targets.map((v, n) => maxAbs(v.map((w, k) => w - previousZn[n]![k]!))));
    let done = false;
    if (this.primalResidualKw <= s.primalToleranceKw && change <= s.primalToleranceKw) {
      this.converged = true;
      done = true;
    } else if (this.rounds >= s.maxRounds) {
      done = true;
    } else if (this.rounds <= s.balancing.untilRound) {
      // ‖r‖₂ over x_n − z_n and κ_n − λ; ‖s‖₂ = ‖ρ_k (z^{k+1} − z^k)‖ (per household shares and λ).
      const r = Math.sqrt(x.reduce((acc, xn, n) => acc + sumSquares(xn.map((v, k) => v - this.targets[n]![k]!)), 0) + sumSquares(kappaResidual));
      const rho = this.entryPenalty();
      const dual = Math.sqrt(this.targets.reduce((acc, v, n) => acc + sumSquares(v.map((w, k) => rho[k]! * (w - previousZn[n]![k]!))), 0) + N * (this.kappaPenalty * kappaChange) ** 2);
      const { ratio, factor } = s.balancing;
      // The scaled prices u = y/ρ are rescaled so the prices y themselves stay where they are.
      if (r > ratio * dual) {
        this.penaltyEurPerKw2 *= factor;
        u = u.map((v) => v / factor);
        uKappa = uKappa.map((v) => v / factor);
      } else if (dual > ratio * r) {
        this.penaltyEurPerKw2 /= factor;
        u = u.map((v) => v * factor);
        uKappa = uKappa.map((v) => v * factor);
      }
    }
    this.scaledPrice = u;
    this.lipschitzScaledPrice = uKappa;
    return { ok: true, done };
  }

  /** The community charge (and CVaR variables) the plans' actual aggregate needs: a feasible point's. */
  evaluate(aggregate: number[], lipschitz: number): Promise<CoordinatorOutcome> {
    return this.coordinator.evaluate(aggregate, lipschitz, this.s.solveBudgetMs);
  }

  dispose(): void {
    this.coordinator.dispose();
  }
}
