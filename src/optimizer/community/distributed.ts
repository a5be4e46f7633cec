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
 * The first round is every household alone. The penalty follows residual
 * balancing (§3.4.1) in the first rounds, then stays fixed. Stop: ‖Σx − z‖∞ and the round's change
 * of every z_n below `primalToleranceKw` (κ's residuals count in the same units).
 *
 * The two halves are separate objects: each household's local step is a HouseholdAgent
 * (household-agent.ts), the z-update and prices a SharingCoordinator (sharing-coordinator.ts); this
 * function runs them in one process, market/clearing/sharing-rounds.ts runs them over MQTT.
 *
 * On the wire, per round: household → coordinator its x_n (T numbers, + T·I with the chance
 * family, which reveal (1 − β_{n,t})·ξ̂ⁱ_{n,t}) and κ_n; coordinator → household the price ρu (the
 * same for all), its target z_n, ρ, and λ with its κ price. Never a load, forecast, battery state or tariff.
 */
import { floorJointSamples } from './community-terms.ts';
import { HouseholdAgent, type HouseholdAnswer } from './household-agent.ts';
import { SharingCoordinator, sharingSettings } from './sharing-coordinator.ts';
import { coordinatorTerms, failedCommunityResult, type CommunityProblem, type DistributedResult, type SharingSettings } from './types.ts';
import { validateCommunity } from './validate.ts';

export { DEFAULT_SHARING_SETTINGS } from './sharing-coordinator.ts';

export async function solveCommunityDistributed(problem: CommunityProblem, settings: Partial<SharingSettings> = {}): Promise<DistributedResult> {
  const started = performance.now();
  const s = sharingSettings(settings);
  let rounds = 0;
  const failed = (status: DistributedResult['status'], message: string): DistributedResult => ({ ...failedCommunityResult(status, message, started), rounds, converged: false, primalResidualKw: NaN });
  try {
    validateCommunity(problem);
  } catch (error) {
    return failed('error', error instanceof Error ? error.message : String(error));
  }
  const { terms } = problem;
  const stepHours = problem.households[0]!.stepHours;
  const samples = floorJointSamples(terms);
  const withLipschitz = terms.chance !== undefined && terms.chance.radiusKw > 0;
  const agents = problem.households.map((input, n) => new HouseholdAgent(input, samples.map((sample) => sample[n]!), s, withLipschitz, problem.startMs ?? 0));
  const coordinator = new SharingCoordinator(coordinatorTerms(terms), stepHours, agents.map((a) => a.limits(s.chanceBounds === 'samples')), s);

  try {
    let answers: HouseholdAnswer[] = [];
    for (;;) {
      // The households one after another: in one process they share the CPU anyway.
      answers = [];
      for (const [n, agent] of agents.entries()) {
        const step = await agent.step(coordinator.pricesFor(n));
        if (!step.ok) return failed('numerical', `household ${n} (round ${coordinator.rounds + 1}): ${step.message}`);
        answers.push(step);
      }
      const outcome = await coordinator.collect(answers);
      rounds = coordinator.rounds;
      if (!outcome.ok) return failed(outcome.status, outcome.message);
      if (outcome.done) break;
    }
    const plans = answers.map((a) => a.plan);
    const L = coordinator.aggregate.length;
    // The objective of a feasible point: the plans as they are, with the cheapest community peaks
    // (and CVaR variables) their actual aggregates need — not the coordinator's z.
    const planned = Array.from({ length: L }, (_, k) => answers.reduce((acc, a) => acc + a.contributionKw[k]!, 0));
    const evaluation = await coordinator.evaluate(planned, Math.max(...plans.map((p) => Math.max(...p.decisionRule.map((b) => 1 - b)))));
    if (!evaluation.ok) return failed(evaluation.status, evaluation.message);
    const { converged, primalResidualKw, penaltyEurPerKw2 } = coordinator;
    return {
      ok: true,
      status: 'optimal',
      message: `${converged ? 'converged' : 'stopped at maxRounds'} after ${rounds} rounds, primal residual ${primalResidualKw.toExponential(1)} kW, ρ = ${penaltyEurPerKw2} EUR/kW²`,
      plans,
      communityPeakByDayKw: evaluation.peakByDayKw,
      objectiveEur: plans.reduce((acc, p) => acc + p.objectiveEur, 0) + evaluation.chargeEur,
      couplingPriceEurPerKwh: coordinator.couplingPriceEurPerKwh(),
      solveMs: performance.now() - started,
      rounds,
      converged,
      primalResidualKw,
    };
  } catch (error) {
    return failed('error', `community clearing failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    for (const a of agents) a.dispose();
    coordinator.dispose();
  }
}
