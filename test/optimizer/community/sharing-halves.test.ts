/**
 * The two halves of the sharing ADMM used directly, as a clearing over MQTT uses them: a household
 * dropped mid-clearing (SharingCoordinator.keep) leaves the rest converging to the central optimum
 * of the community without it — the drop restarts ADMM from a warm point, it does not bias it.
 */
import { describe, expect, it } from 'vitest';
import { coordinatorTerms, HouseholdAgent, SharingCoordinator, sharingSettings, solveCommunityCentral, type HouseholdAnswer } from '../../../src/optimizer/community/index.ts';
import { coincidentCommunity } from './instances.ts';

describe('the sharing halves (HouseholdAgent, SharingCoordinator)', () => {
  it('after a household is dropped in round 3, the other two converge to their own central optimum', { timeout: 120_000 }, async () => {
    const problem = coincidentCommunity(3);
    const settings = sharingSettings();
    let agents = problem.households.map((input) => new HouseholdAgent(input, [], settings, false, 0));
    const all = agents;
    const coordinator = new SharingCoordinator(coordinatorTerms(problem.terms), problem.households[0]!.stepHours, agents.map((a) => a.limits()), settings);
    try {
      let answers: HouseholdAnswer[] = [];
      for (;;) {
        answers = [];
        for (const [n, agent] of agents.entries()) {
          const step = await agent.step(coordinator.pricesFor(n));
          if (!step.ok) throw new Error(step.message);
          answers.push(step);
        }
        if (coordinator.rounds === 2) {
          // Household 2 answered round 3 too late: it is dropped before the z-update.
          coordinator.keep([0, 1]);
          agents = agents.slice(0, 2);
          answers = answers.slice(0, 2);
        }
        const outcome = await coordinator.collect(answers);
        if (!outcome.ok) throw new Error(outcome.message);
        if (outcome.done) break;
      }
      expect(coordinator.converged).toBe(true);
      const rest = { households: problem.households.slice(0, 2), terms: problem.terms };
      const central = await solveCommunityCentral(rest);
      expect(central.ok).toBe(true);
      const planned = answers[0]!.contributionKw.map((v, t) => v + answers[1]!.contributionKw[t]!);
      const charge = await coordinator.evaluate(planned, 0);
      const objectiveEur = answers.reduce((s, a) => s + a.plan.objectiveEur, 0) + charge.chargeEur;
      expect((objectiveEur - central.objectiveEur) / Math.abs(central.objectiveEur)).toBeLessThanOrEqual(0.01);
      expect(Math.max(...planned)).toBeCloseTo(central.communityPeakByDayKw[0]!, 1);
    } finally {
      for (const a of all) a.dispose();
      coordinator.dispose();
    }
  });
});
