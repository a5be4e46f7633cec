/**
 * `bench community`: day-ahead community clearings of the four real households (T = 24, I = 20,
 * DRO ρ = 0.03; test/optimizer/fixtures/community-day-ahead*.json: midnight of five test days,
 * captured from the evaluation's own input construction by
 * test/optimizer/community/capture-community-instance.ts), solved centrally and by the ADMM sharing
 * rounds, with and without the community import chance family (ε = 0.05, ρ = 0.03). Reports rounds,
 * wall time of the distributed clearing (all households' local solves and the coordinator in this
 * one process: no network), and the objective gap to the central optimum. `--quick`: the first day
 * without the chance family.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { solveCommunityCentral, solveCommunityDistributed, type CommunityProblem } from '../optimizer/community/index.ts';
import type { ProblemInput } from '../optimizer/types.ts';
import { report, type BenchOptions } from './report.ts';

const FIXTURES = new URL('../../test/optimizer/fixtures/', import.meta.url);

function problem(fixture: string, chance: boolean): CommunityProblem {
  const { households } = JSON.parse(readFileSync(new URL(fixture, FIXTURES), 'utf8')) as { households: ProblemInput[] };
  const T = households[0]!.stepHours.length;
  const jointSamplesKw = households[0]!.errorSamplesKw.map((_, i) => households.map((h) => h.errorSamplesKw[i]!));
  return {
    households,
    terms: { peakChargeEurPerKwDay: 1, dayOfStep: new Array<number>(T).fill(0), peakSoFarKw: [0], ...(chance ? { chance: { epsilon: 0.05, radiusKw: 0.03, jointSamplesKw } } : {}) },
  };
}

export async function runBench(options: BenchOptions): Promise<void> {
  const fixtures = readdirSync(FIXTURES)
    .filter((f) => f.startsWith('community-day-ahead') && f.endsWith('.json'))
    .sort();
  for (const fixture of options.quick ? fixtures.slice(0, 1) : fixtures) {
    for (const chance of options.quick ? [false] : [false, true]) {
      await clearing(options, fixture, chance);
    }
  }
}

async function clearing(options: BenchOptions, fixture: string, chance: boolean): Promise<void> {
  const p = problem(fixture, chance);
  const params = { day: fixture.replace(/^community-day-ahead-|\.json$/g, ''), households: p.households.length, T: p.terms.dayOfStep.length, I: p.households[0]!.errorSamplesKw.length, communityChance: chance };
  const central = await solveCommunityCentral(p);
  const distributed = await solveCommunityDistributed(p);
  if (!central.ok || !distributed.ok) {
    process.stderr.write(`community bench ${fixture}: central ${central.status} ${central.message ?? ''}; distributed ${distributed.status} ${distributed.message ?? ''}\n`);
    return;
  }
  const gapEur = distributed.objectiveEur - central.objectiveEur;
  report(options, { suite: 'community', metric: 'central solve', value: central.solveMs, unit: 'ms', params });
  // Rounds meet the goal only when the rounds converged (the residual tolerance), not when they hit maxRounds.
  report(options, {
    suite: 'community',
    metric: distributed.converged ? 'distributed rounds' : 'distributed rounds (stopped)',
    value: distributed.rounds,
    unit: 'count',
    params: { ...params, converged: distributed.converged, primalResidualKw: distributed.primalResidualKw },
    ...(distributed.converged ? { goal: { op: '<=', value: 50 } } : {}),
  });
  report(options, { suite: 'community', metric: 'distributed clearing', value: distributed.solveMs, unit: 'ms', params, goal: { op: '<=', value: 10_000 } });
  report(options, { suite: 'community', metric: 'distributed ms per round', value: distributed.solveMs / distributed.rounds, unit: 'ms', params });
  report(options, { suite: 'community', metric: 'gap to central', value: gapEur / Math.abs(central.objectiveEur), unit: 'fraction', params: { ...params, centralEur: central.objectiveEur, gapEur }, goal: { op: '<=', value: 0.01 } });
  report(options, { suite: 'community', metric: 'community peak', value: distributed.communityPeakByDayKw[0]!, unit: 'kW', params: { ...params, centralKw: central.communityPeakByDayKw[0]! } });
}
