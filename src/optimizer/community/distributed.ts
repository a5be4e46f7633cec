/**
 * The community problem by ADMM in sharing form (Boyd et al. 2011, §7.3):
 *
 *   min Σ_n f_n(x_n) + g(Σ_n x_n)
 *
 * f_n = household n's own full DRO problem (formulation §1–§5), x_n = its contribution to the
 * coupling sums: n_{n,t} = g⁺ − g⁻ and, with the community chance family, y_{n,t,i} = (1 − β_{n,t}) ξ̂ⁱ_{n,t};
 * g = the community terms (coordinator.ts). λ ≥ max_{n,t}(1 − β_{n,t}) of the community CVaR is not a
 * sum, so it is a consensus variable: each household holds κ_n ≥ max_t(1 − β_{n,t}) and κ_n = λ.
 *
 * Round k (scaled form; z = Σ_n z_n is the coordinator's aggregate, z_n household n's share of it):
 *   x-update  (each household, its own optimizer through createOptimizer().solve, warm):
 *             f_n(x_n) + Σ_k ρ_k (u_k x_nk + ½(x_nk − z_nk)²) + ρ_κ u_κn κ_n + (ρ_κ/2)(κ_n − λ)²
 *   relax     x̂_n = α x_n + (1 − α) z_n,  κ̂_n = α κ_n + (1 − α) λ   (over-relaxation, §3.4.3)
 *   z-update  (coordinator): g(z) + Σ_k (ρ_k/2N)(z_k − Σx̂_k − N u_k)² + (Nρ_κ/2)(λ − mean(κ̂ + u_κ))²,
 *             z_n = x̂_n + (z − Σx̂)/N
 *   u += (Σx̂ − z)/N,   u_κn += κ̂_n − λ
 * ρ_k = ρ on the n entries, ρ·chancePenaltyScale on the y entries (a diagonal scaling of the
 * coupling constraint, still ADMM): y moves a household's β only through ξ̂, so at the same ρ its
 * proximal curvature on β, ρΣ_iξ̂², is small and the y entries converge slowly.
 * The first round is every household alone (or the warm state). The penalty follows residual
 * balancing (§3.4.1) in the first rounds, then stays fixed. Stop: ‖Σx − z‖∞ and the round's change
 * of every z_n below `primalToleranceKw` (κ's residuals count in the same units).
 *
 * On the wire, per round: household → coordinator its x_n (T numbers, + T·I with the chance
 * family, which reveal (1 − β_{n,t})·ξ̂ⁱ_{n,t}) and κ_n; coordinator → household the price ρu (the
 * same for all), its target z_n, ρ, and λ with its κ price. Never a load, forecast, battery state or tariff.
 */
import { createOptimizer, type Optimizer } from '../optimizer.ts';
import type { CommunityCoupling, Plan, ProblemInput } from '../types.ts';
import { floorJointSamples } from './community-terms.ts';
import { createCoordinator } from './coordinator.ts';
import type { CommunityProblem, DistributedResult, SharingSettings, SharingState } from './types.ts';
import { validateCommunity } from './validate.ts';

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
};

const maxAbs = (v: number[]): number => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
const sumSquares = (v: number[]): number => v.reduce((s, x) => s + x * x, 0);

export async function solveCommunityDistributed(problem: CommunityProblem, settings: Partial<SharingSettings> = {}, warm?: SharingState): Promise<DistributedResult> {
  const started = performance.now();
  const s: SharingSettings = { ...DEFAULT_SHARING_SETTINGS, ...settings, balancing: { ...DEFAULT_SHARING_SETTINGS.balancing, ...settings.balancing } };
  const N = problem.households.length;
  let rounds = 0;
  const failed = (status: DistributedResult['status'], message: string): DistributedResult => ({
    ok: false,
    status,
    message,
    plans: [],
    communityPeakByDayKw: [],
    objectiveEur: NaN,
    couplingPriceEurPerKwh: [],
    solveMs: performance.now() - started,
    rounds,
    converged: false,
    primalResidualKw: NaN,
    state: warm ?? { penaltyEurPerKw2: s.initialPenaltyEurPerKw2, scaledPrice: [], lipschitzScaledPrice: [], contributions: [], lipschitzCopies: [], targets: [], aggregate: [], lipschitz: 1 },
  });
  try {
    validateCommunity(problem);
  } catch (error) {
    return failed('error', error instanceof Error ? error.message : String(error));
  }
  const { terms } = problem;
  const stepHours = problem.households[0]!.stepHours;
  const T = stepHours.length;
  const samples = floorJointSamples(terms);
  const I = samples.length;
  const L = T * (1 + I);
  // κ_n only matters when λ is priced: ρ_W λ in the CVaR budget.
  const withLipschitz = terms.chance !== undefined && terms.chance.radiusKw > 0;
  const alpha = s.relaxation;
  const startMs = problem.startMs ?? 0;
  // A local step of an iteration that stops at ~0.01 kW residual needs no 1e-9 certified gap.
  const optimizers: Optimizer[] = problem.households.map(() => createOptimizer({ timeBudgetMs: s.solveBudgetMs, highsGap: { relative: 1e-7, absolute: 1e-7 } }));
  const coordinator = createCoordinator(problem, samples);

  try {
    /** x_n from a plan: n_t, then y_{t,i} = (1 − β_t) ξ̂ⁱ_{n,t}. */
    const contribution = (n: number, plan: Plan): number[] => {
      const x = plan.gridImportKw.map((g, t) => g - plan.gridExportKw[t]!);
      for (let i = 0; i < I; i++) for (let t = 0; t < T; t++) x.push((1 - plan.decisionRule[t]!) * samples[i]![n]![t]!);
      return x;
    };
    const maxShare = (plan: Plan): number => Math.max(...plan.decisionRule.map((b) => 1 - b));
    const sumOf = (xs: number[][]): number[] => Array.from({ length: L }, (_, k) => xs.reduce((acc, xn) => acc + xn[k]!, 0));

    const warmFits = warm !== undefined && warm.scaledPrice.length === L && warm.contributions.length === N && warm.targets.length === N && warm.aggregate.length === L;
    let penalty = warmFits ? warm.penaltyEurPerKw2 : s.initialPenaltyEurPerKw2;
    const kappaPenalty = (): number => penalty * s.lipschitzPenaltyScale;
    // ρ per coupling entry: n_t at ρ, the chance contributions y at ρ_y = ρ · chancePenaltyScale.
    const entryPenalty = (): number[] => Array.from({ length: L }, (_, k) => (k < T ? penalty : penalty * s.chancePenaltyScale));
    let u = warmFits ? [...warm.scaledPrice] : new Array<number>(L).fill(0);
    let uKappa = warmFits && warm.lipschitzScaledPrice.length === N ? [...warm.lipschitzScaledPrice] : new Array<number>(N).fill(0);
    let zn: number[][] = warmFits ? warm.targets.map((v) => [...v]) : [];
    let z: number[] = warmFits ? [...warm.aggregate] : [];
    let lambda = warmFits ? warm.lipschitz : 1;
    let plans: Plan[] = [];

    const coupling = (n: number): CommunityCoupling => ({
      netPriceEurPerKwh: stepHours.map((h, t) => (penalty * u[t]!) / h),
      proximalWeightEurPerKw2: penalty,
      netTargetKw: zn[n]!.slice(0, T),
      ...(I > 0
        ? {
            deviationShare: {
              samplesKw: samples.map((sample) => sample[n]!),
              proximalWeightEurPerKw2: penalty * s.chancePenaltyScale,
              priceEurPerKw: samples.map((_, i) => u.slice(T + i * T, T + (i + 1) * T).map((v) => penalty * s.chancePenaltyScale * v)),
              targetKw: samples.map((_, i) => zn[n]!.slice(T + i * T, T + (i + 1) * T)),
              ...(withLipschitz ? { lipschitz: { priceEur: kappaPenalty() * uKappa[n]!, target: lambda, proximalWeightEur: kappaPenalty() } } : {}),
            },
          }
        : {}),
    });
    /** One round of household solves; κ_n is not in the Plan, so it is recovered from β (see below). */
    const solveAll = async (coupled: boolean): Promise<{ x: number[][]; kappa: number[] } | string> => {
      rounds++;
      const next: Plan[] = [];
      const kappa: number[] = [];
      for (let n = 0; n < N; n++) {
        const c = coupled ? coupling(n) : undefined;
        const input: ProblemInput = c ? { ...problem.households[n]!, community: c } : problem.households[n]!;
        const result = await optimizers[n]!.solve(input, { startMs });
        if (!result.ok) return `household ${n} (round ${rounds}): ${result.status}: ${result.message}`;
        next.push(result.plan);
        // Given β, κ_n minimises its own terms ρ_κu_κκ + (ρ_κ/2)(κ − λ)² over max_t(1 − β_t) ≤ κ ≤ 1:
        // the partial minimum, exact at the household's optimum.
        const l = c?.deviationShare?.lipschitz;
        kappa.push(l ? Math.min(1, Math.max(maxShare(result.plan), l.target - l.priceEur / kappaPenalty())) : maxShare(result.plan));
      }
      plans = next;
      return { x: plans.map((p, n) => contribution(n, p)), kappa };
    };

    let step = await solveAll(warmFits);
    if (typeof step === 'string') return failed('numerical', step);
    // Alone (cold): each household's share starts at what it planned.
    if (!warmFits) zn = step.x.map((v) => [...v]);
    if (!warmFits) lambda = Math.max(...step.kappa);

    let converged = false;
    let primalResidualKw = Infinity;
    for (;;) {
      const { x, kappa } = step;
      const sum = sumOf(x);
      const relaxed = x.map((xn, n) => xn.map((v, k) => alpha * v + (1 - alpha) * zn[n]![k]!));
      const relaxedKappa = kappa.map((k) => alpha * k + (1 - alpha) * lambda);
      const relaxedSum = sumOf(relaxed);
      const zResult = await coordinator.zUpdate(
        relaxedSum.map((v, k) => v + N * u[k]!),
        relaxedKappa.reduce((acc, k, n) => acc + k + uKappa[n]!, 0) / N,
        entryPenalty(),
        kappaPenalty(),
        s.solveBudgetMs,
      );
      if (!zResult.ok) return failed(zResult.status, zResult.message);
      const previousZn = zn;
      const previousLambda = lambda;
      z = zResult.aggregate;
      lambda = zResult.lipschitz;
      zn = relaxed.map((xn) => xn.map((v, k) => v + (z[k]! - relaxedSum[k]!) / N));
      u = u.map((v, k) => v + (relaxedSum[k]! - z[k]!) / N);
      if (withLipschitz) uKappa = uKappa.map((v, n) => v + relaxedKappa[n]! - lambda);

      const kappaResidual = withLipschitz ? kappa.map((k) => k - lambda) : [];
      const kappaChange = withLipschitz ? Math.abs(lambda - previousLambda) : 0;
      primalResidualKw = Math.max(maxAbs(sum.map((v, k) => v - z[k]!)), maxAbs(kappaResidual));
      const change = Math.max(kappaChange, ...zn.map((v, n) => maxAbs(v.map((w, k) => w - previousZn[n]![k]!))));
      if (primalResidualKw <= s.primalToleranceKw && change <= s.primalToleranceKw) {
        converged = true;
        break;
      }
      if (rounds >= s.maxRounds) break;
      if (rounds <= s.balancing.untilRound) {
        // ‖r‖₂ over x_n − z_n and κ_n − λ; ‖s‖₂ = ‖ρ_k (z^{k+1} − z^k)‖ (per household shares and λ).
        const r = Math.sqrt(x.reduce((acc, xn, n) => acc + sumSquares(xn.map((v, k) => v - zn[n]![k]!)), 0) + sumSquares(kappaResidual));
        const rho = entryPenalty();
        const dual = Math.sqrt(zn.reduce((acc, v, n) => acc + sumSquares(v.map((w, k) => rho[k]! * (w - previousZn[n]![k]!))), 0) + N * (kappaPenalty() * kappaChange) ** 2);
        const { ratio, factor } = s.balancing;
        // The scaled prices u = y/ρ are rescaled so the prices y themselves stay where they are.
        if (r > ratio * dual) {
          penalty *= factor;
          u = u.map((v) => v / factor);
          uKappa = uKappa.map((v) => v / factor);
        } else if (dual > ratio * r) {
          penalty /= factor;
          u = u.map((v) => v * factor);
          uKappa = uKappa.map((v) => v * factor);
        }
      }
      step = await solveAll(true);
      if (typeof step === 'string') return failed('numerical', step);
    }

    const state: SharingState = {
      penaltyEurPerKw2: penalty,
      scaledPrice: u,
      lipschitzScaledPrice: uKappa,
      contributions: step.x,
      lipschitzCopies: step.kappa,
      targets: zn,
      aggregate: z,
      lipschitz: lambda,
    };
    // The objective of a feasible point: the plans as they are, with the cheapest community peaks
    // (and CVaR variables) their actual aggregates need — not the coordinator's z.
    const evaluation = await coordinator.evaluate(sumOf(step.x), Math.max(...plans.map(maxShare)), s.solveBudgetMs);
    if (!evaluation.ok) return failed(evaluation.status, evaluation.message);
    return {
      ok: true,
      status: 'optimal',
      message: `${converged ? 'converged' : 'stopped at maxRounds'} after ${rounds} rounds, primal residual ${primalResidualKw.toExponential(1)} kW, ρ = ${penalty} EUR/kW²`,
      plans,
      communityPeakByDayKw: evaluation.peakByDayKw,
      objectiveEur: plans.reduce((acc, p) => acc + p.objectiveEur, 0) + evaluation.chargeEur,
      couplingPriceEurPerKwh: stepHours.map((h, t) => (penalty * u[t]!) / h),
      solveMs: performance.now() - started,
      rounds,
      converged,
      primalResidualKw,
      state,
    };
  } catch (error) {
    return failed('error', `community clearing failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    for (const o of optimizers) o.dispose();
    coordinator.dispose();
  }
}
