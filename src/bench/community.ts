/**
 * `bench community`: day-ahead community clearings of the four real households (T = 24, I = 20,
 * DRO ρ = 0.03; test/optimizer/fixtures/community-day-ahead*.json: midnight of five test days,
 * captured from the evaluation's own input construction by
 * test/optimizer/community/capture-community-instance.ts), solved centrally and by the ADMM sharing
 * rounds, with and without the community import chance family (ε = 0.05, ρ = 0.03). Reports rounds,
 * wall time of the distributed clearing (all households' local solves and the coordinator in this
 * one process: no network), and the objective gap to the central optimum. Then the same clearing
 * over MQTT (`runSharing`, embedded aedes broker, one signed MarketNode per gateway, all in this
 * process): 4 gateways on each day without and with the chance family (the leader names the days of
 * as many joint samples as its round message fits, 11 of the 20; sample i of every household is
 * taken as issued i + 1 days before), and, without `--quick`, 50 gateways (the four households
 * repeated, each with its own optimizer). `--quick`: the first day, 4 gateways, without the chance
 * family in one process, and over MQTT without and with it.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { marketNodeChannel, roundSchemas } from '../market/clearing/rounds.ts';
import { sharingHousehold, type ErrorDays, type SharingHousehold } from '../market/clearing/sharing-household.ts';
import { runSharing, wireSampleCount } from '../market/clearing/sharing-rounds.ts';
import { DAY_MS } from '../data/households.ts';
import { ErrorSampleStore } from '../forecast/error-store.ts';
import { generateIdentity, MarketNode, startEmbeddedBroker } from '../market/index.ts';
import { coordinatorTerms, sharingSettings, solveCommunityCentral, solveCommunityDistributed, type CommunityProblem } from '../optimizer/community/index.ts';
import type { ProblemInput } from '../optimizer/types.ts';
import { report, type BenchOptions } from './report.ts';
import { packageFile } from '../package/paths.ts';

const FIXTURES = pathToFileURL(packageFile('test', 'optimizer', 'fixtures') + '/');

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
  // PE_BENCH_COMMUNITY_GATEWAYS=N: only the first day's clearing over MQTT among N gateways (the 50-gateway figure alone takes minutes).
  const only = Number(process.env.PE_BENCH_COMMUNITY_GATEWAYS ?? NaN);
  const fixtures = readdirSync(FIXTURES)
    .filter((f) => f.startsWith('community-day-ahead') && f.endsWith('.json'))
    .sort();
  if (Number.isInteger(only) && only >= 2) return overMqtt(options, fixtures[0]!, only);
  for (const fixture of options.quick ? fixtures.slice(0, 1) : fixtures) {
    for (const chance of options.quick ? [false] : [false, true]) {
      await clearing(options, fixture, chance);
    }
    await overMqtt(options, fixture, 4);
    await overMqtt(options, fixture, 4, true);
  }
  if (!options.quick) await overMqtt(options, fixtures[0]!, 50);
}

/**
 * One day's clearing among `gateways` MarketNodes over an embedded broker, against the in-process
 * distributed clearing of the same households (same local steps and coordinator, so the same plans
 * to the bit). All gateways share this process's one thread, so their local steps run one after
 * another: on real gateways they run side by side. With `chance`, the community chance family on
 * the days the leader names; the in-process clearings then run on the same joint samples, with the
 * MQTT coordinator's sample-free bounds and with the sample ranges, and the central optimum of that
 * problem is the reference of the gaps.
 */
export async function overMqtt(options: BenchOptions, fixture: string, gateways: number, chance = false): Promise<void> {
  const base = problem(fixture, chance);
  const households = Array.from({ length: gateways }, (_, n) => base.households[n % base.households.length]!);
  const ids = households.map((_, n) => `gw-${String(n).padStart(2, '0')}`);
  const settings = sharingSettings();
  const T = base.terms.dayOfStep.length;
  // Sample i of every household issued i + 1 days before the clearing (the fixtures' joint sample i), as a gateway's error store holds them.
  const atMs = Date.UTC(2016, 0, 1);
  const errorDays = (input: ProblemInput): ErrorDays => {
    const store = new ErrorSampleStore(T);
    input.errorSamplesKw.forEach((errorKw, i) => store.add({ issuedMs: atMs - (i + 1) * DAY_MS, errorKw }));
    return { nearest: (count) => store.samples(atMs, count).map((s) => s.issuedMs), on: (days) => store.onDays(atMs, days).map((s) => s.errorKw) };
  };
  const I = chance ? wireSampleCount(T, gateways, base.households[0]!.errorSamplesKw.length) : 0;
  const chanceTerms = base.terms.chance ? { ...base.terms.chance, jointSamplesKw: base.terms.chance.jointSamplesKw.slice(0, I).map((sample) => households.map((_, n) => sample[n % base.households.length]!)) } : undefined;
  const p: CommunityProblem = { households, terms: { ...base.terms, chance: chanceTerms } };
  const params = { day: fixture.replace(/^community-day-ahead-|\.json$/g, ''), households: gateways, T, broker: 'aedes (embedded)', communityChance: chance, I };
  const broker = await startEmbeddedBroker({ port: 0 });
  const root = mkdtempSync(join(tmpdir(), 'pe-bench-community-'));
  const identities = ids.map((id) => generateIdentity(id));
  const community = { communityId: `bench-${process.pid}`, members: identities.map(({ peerId, publicKey }) => ({ peerId, publicKey })) };
  const nodes = identities.map((identity) => new MarketNode({ identity, community, brokerUrl: broker.url, dataDir: join(root, identity.peerId), roundSchemas, log: () => {} }));
  // Each local step's time, by gateway and round: here they run one after another on one thread.
  const stepMs = households.map(() => [] as number[]);
  const sides = households.map((input, n) => timedSteps(sharingHousehold(input, errorDays(input), settings, 0), stepMs[n]!));
  try {
    await Promise.all(nodes.map((n) => n.start()));
    const started = performance.now();
    const outcomes = await Promise.all(
      nodes.map((node, n) => runSharing(marketNodeChannel(node), sides[n]!, { terms: coordinatorTerms(base.terms), stepHours: households[0]!.stepHours, settings }, { clearing: 'bench', peerIds: ids, roundTimeoutMs: 30_000 })),
    );
    const clearingMs = performance.now() - started;
    const { rounds, converged, sampleCount } = outcomes[0]!;
    report(options, { suite: 'community', metric: 'clearing over MQTT', value: clearingMs, unit: 'ms', params: { ...params, rounds, converged, sampleCount }, goal: { op: '<=', value: gateways <= 4 ? 10_000 : 60_000 } });
    // On real gateways each solves its own step, side by side: a round's solves take as long as its
    // slowest. The rest of the clearing (the leader's z-update, signing, the broker) stays as measured.
    // Round 1 stays as measured (timedSteps), so the estimate errs long.
    const later = stepMs.map((s) => s.slice(1));
    const serialMs = later.flat().reduce((a, b) => a + b, 0);
    const slowestMs = Array.from({ length: Math.max(...later.map((s) => s.length)) }, (_, k) => Math.max(...later.map((s) => s[k] ?? 0))).reduce((a, b) => a + b, 0);
    report(options, { suite: 'community', metric: 'clearing over MQTT, one CPU per gateway (estimate)', value: clearingMs - serialMs + slowestMs, unit: 'ms', params: { ...params, rounds, measuredMs: clearingMs, localStepsMs: serialMs, slowestStepPerRoundMs: slowestMs, note: 'each gateway a core of this machine; a Pi core is slower' } });
    // The same clearing in one process: the MQTT one must give every household the same plan.
    const reference = await solveCommunityDistributed(p, { ...settings, chanceBounds: 'connection' });
    const net = (plan: { gridImportKw: number[]; gridExportKw: number[] }) => plan.gridImportKw.map((g, t) => g - plan.gridExportKw[t]!);
    const differenceKw = Math.max(...outcomes.map((o, n) => Math.max(...net(o!.plan).map((v, t) => Math.abs(v - net(reference.plans[n]!)[t]!)))));
    report(options, { suite: 'community', metric: 'MQTT vs in-process plans', value: differenceKw, unit: 'kW', params: { ...params, rounds, inProcessRounds: reference.rounds, inProcessMs: reference.solveMs } });
    if (!chance) return;
    // The MQTT plans are the in-process ones to the bit, so their objective (plans + the community
    // charge their aggregate needs) is the in-process result's; against the central optimum, and
    // the in-process clearing with the sample ranges as the coordinator's bounds.
    if (differenceKw !== 0) return void process.stderr.write(`community bench ${fixture}: the MQTT plans differ from the in-process ones by ${differenceKw} kW, no gap reported\n`);
    const objectiveEur = reference.objectiveEur;
    const central = await solveCommunityCentral(p);
    const withRanges = await solveCommunityDistributed(p, settings);
    const gap = (eur: number) => (eur - central.objectiveEur) / Math.abs(central.objectiveEur);
    report(options, { suite: 'community', metric: 'MQTT gap to central', value: gap(objectiveEur), unit: 'fraction', params: { ...params, rounds, converged, centralEur: central.objectiveEur, mqttEur: objectiveEur }, goal: { op: '<=', value: 0.01 } });
    report(options, { suite: 'community', metric: 'in-process gap to central, sample-range bounds', value: gap(withRanges.objectiveEur), unit: 'fraction', params: { ...params, rounds: withRanges.rounds, converged: withRanges.converged, eur: withRanges.objectiveEur, ms: withRanges.solveMs } });
  } finally {
    for (const side of sides) side.dispose();
    await Promise.all(nodes.map((n) => n.stop()));
    await broker.close();
    rmSync(root, { recursive: true, force: true });
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

/**
 * `side` whose agents record each local step's solve time in `stepMs`, one per round. The solve runs
 * synchronously inside the step's first call (HiGHS in this thread), so the time until the step
 * hands back its promise is the solve's alone; awaiting the promise would also count the other
 * gateways' steps that run meanwhile. An agent's first step waits for its solver to load and then
 * solves after that await: its time here is too short, so the estimate leaves round 1 as measured.
 */
function timedSteps<S extends SharingHousehold>(side: S, stepMs: number[]): S {
  return {
    ...side,
    agentFor(sampleDaysMs, lipschitzPriced) {
      const agent = side.agentFor(sampleDaysMs, lipschitzPriced);
      if (agent) {
        const step = agent.step.bind(agent);
        agent.step = (prices) => {
          const startedMs = performance.now();
          const pending = step(prices);
          stepMs.push(performance.now() - startedMs);
          return pending;
        };
      }
      return agent;
    },
  };
}
