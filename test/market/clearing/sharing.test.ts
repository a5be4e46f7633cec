/**
 * The community sharing clearing over signed MQTT round messages (runSharing), three gateways on
 * each real broker, each with its own household optimizer: it reaches the in-process
 * solveCommunityDistributed result; a household that leaves mid-clearing is dropped and the rest
 * converge, the leaver keeping nothing; fabricated coordinator messages from a member that does not
 * lead change nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { communityMandate, type Reservation } from '../../../src/market/clearing/community-trades.ts';
import { marketNodeChannel, roundSchemas, type ClearingOptions, type RoundChannel } from '../../../src/market/clearing/rounds.ts';
import { agreedTerms, runSharing, type SharingOutcome, type SharingSpec } from '../../../src/market/clearing/sharing-rounds.ts';
import { encodeVector } from '../../../src/market/clearing/wire-vector.ts';
import { coordinatorTerms, HouseholdAgent, sharingSettings, solveCommunityDistributed, type DistributedResult, type LocalSolver } from '../../../src/optimizer/community/index.ts';
import { createOptimizer, type Optimizer } from '../../../src/optimizer/index.ts';
import type { Plan, ProblemInput } from '../../../src/optimizer/types.ts';
import { fromBilateralTrades, saveIdentity, type MarketNode } from '../../../src/market/index.ts';
import { coincidentCommunity } from '../../optimizer/community/instances.ts';
import { BROKERS, FAST_TIMING, TestCommunity, type TestBroker } from '../fixtures.ts';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

// T = 6 hourly steps, each household with its own DRO problem (3 error samples): alone, all charge in the same cheap hour.
const problem = coincidentCommunity(3);
const ids = ['h1', 'h2', 'h3'];
const settings = sharingSettings();
const spec: SharingSpec = { terms: coordinatorTerms(problem.terms), stepHours: problem.households[0]!.stepHours, settings };
const inputOf = (id: string): ProblemInput => problem.households[ids.indexOf(id)]!;
const net = (plan: Plan) => plan.gridImportKw.map((g, t) => g - plan.gridExportKw[t]!);

let reference: DistributedResult;
beforeAll(async () => {
  reference = await solveCommunityDistributed(problem, settings);
  expect(reference.ok && reference.converged).toBe(true);
});

let broker: TestBroker | undefined;
let community: TestCommunity | undefined;
const agents: HouseholdAgent[] = [];
const optimizers: Optimizer[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const o of optimizers.splice(0)) o.dispose();
  await community?.close(broker?.url);
  await broker?.close();
  for (const a of agents.splice(0)) a.dispose();
  community = undefined;
  broker = undefined;
});

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** A gateway in its own process, answering as the test's gateways do (`runSharing` on a MarketNode), to be hard-killed. */
const GATEWAY_PROCESS = `
import { readFileSync } from 'node:fs';
const spec = JSON.parse(readFileSync(process.argv[1], 'utf8'));
const { MarketNode, loadIdentity } = await import(spec.root + 'src/market/index.ts');
const { marketNodeChannel, roundSchemas } = await import(spec.root + 'src/market/clearing/rounds.ts');
const { runSharing } = await import(spec.root + 'src/market/clearing/sharing-rounds.ts');
const { HouseholdAgent, sharingSettings } = await import(spec.root + 'src/optimizer/community/index.ts');
const node = new MarketNode({ identity: loadIdentity(spec.identityFile), community: spec.community, brokerUrl: spec.brokerUrl, dataDir: spec.dataDir, roundSchemas, timing: spec.timing, log: () => {} });
await node.start();
process.stdout.write('started\\n');
await runSharing(marketNodeChannel(node), new HouseholdAgent(spec.input, [], sharingSettings(), false, 0), spec.spec, spec.options);
`;

async function gatewayProcess(id: string, clearing: string): Promise<ChildProcess> {
  const c = community!;
  const identityFile = join(c.root, `${id}.identity.json`);
  saveIdentity(c.identity(id), identityFile);
  const specFile = join(c.root, `${id}.spec.json`);
  const options: ClearingOptions = { clearing, peerIds: ids, roundTimeoutMs: 3_000 };
  writeFileSync(specFile, JSON.stringify({ root: ROOT, identityFile, community: c.config, brokerUrl: broker!.url, dataDir: c.dataDir(id), timing: FAST_TIMING, input: inputOf(id), spec, options }));
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', GATEWAY_PROCESS, specFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('started') && resolve());
    child.once('exit', (code) => reject(new Error(`${id} exited with ${code} before it started`)));
  });
  return child;
}

async function gateways(start: () => Promise<TestBroker>, members: string[]): Promise<MarketNode[]> {
  broker = await start();
  community = new TestCommunity(members);
  return Promise.all(members.map((id) => community!.startNode(id, broker!.url, { roundSchemas })));
}

function clear(node: MarketNode, options: Partial<ClearingOptions> & { clearing: string }, solver?: LocalSolver, ownSpec = spec): Promise<SharingOutcome | null> {
  const agent = new HouseholdAgent(inputOf(node.id), [], settings, false, 0, solver);
  agents.push(agent);
  return runSharing(marketNodeChannel(node), agent, ownSpec, { peerIds: ids, roundTimeoutMs: 10_000, ...options });
}

/** Every household's own plan and the price are the in-process clearing's (same solves in the same order: to solver precision). */
function expectReference(outcomes: (SharingOutcome | null)[]): void {
  for (const [n, outcome] of outcomes.entries()) {
    expect(outcome, ids[n]).not.toBeNull();
    expect(outcome!.rounds).toBe(reference.rounds);
    expect(outcome!.converged).toBe(true);
    expect(outcome!.participants).toEqual(ids);
    net(outcome!.plan).forEach((v, t) => expect(v).toBeCloseTo(net(reference.plans[n]!)[t]!, 6));
    outcome!.couplingPriceEurPerKwh.forEach((p, t) => expect(p).toBeCloseTo(reference.couplingPriceEurPerKwh[t]!, 6));
  }
}

describe.each(BROKERS)('the community sharing clearing over $name', ({ start }) => {
  it('three gateways reach the in-process distributed result, each with its own plan', async () => {
    const nodes = await gateways(start, ids);
    expectReference(await Promise.all(nodes.map((n) => clear(n, { clearing: 'day-1' }))));
  });

  it('a household that leaves mid-clearing is dropped: the others converge among themselves, it keeps nothing', async () => {
    const nodes = await gateways(start, ids);
    const leaver = nodes[2]!;
    const abort = new AbortController();
    // h3 goes away (its node stops, as a killed gateway's connection ends) once the clearing is under way.
    let heard = 0;
    const stopListening = leaver.on('round', (envelope) => {
      if (envelope.body.name === 'sharing-round' && ++heard === 3) {
        abort.abort(new Error('gateway stopped'));
        void leaver.stop();
      }
    });
    const [h1, h2, h3] = await Promise.allSettled([clear(nodes[0]!, { clearing: 'day-2', roundTimeoutMs: 2_000 }), clear(nodes[1]!, { clearing: 'day-2', roundTimeoutMs: 2_000 }), clear(leaver, { clearing: 'day-2', roundTimeoutMs: 2_000, signal: abort.signal })]);
    stopListening();
    expect(h3.status).toBe('rejected');
    for (const settled of [h1, h2]) {
      expect(settled.status).toBe('fulfilled');
      const outcome = (settled as PromiseFulfilledResult<SharingOutcome | null>).value!;
      expect(outcome.participants).toEqual(['h1', 'h2']);
      expect(outcome.converged).toBe(true);
    }
    const [a, b] = [h1, h2].map((s) => (s as PromiseFulfilledResult<SharingOutcome>).value);
    expect(a!.rounds).toBe(b!.rounds);
    expect(a!.couplingPriceEurPerKwh).toEqual(b!.couplingPriceEurPerKwh);
  });

  it('the leader hard-killed (SIGKILL) mid-clearing: the next id leads the clearing again and the other two converge', async () => {
    broker = await start();
    community = new TestCommunity(ids);
    const leader = await gatewayProcess('h1', 'day-5');
    const nodes = await Promise.all(['h2', 'h3'].map((id) => community!.startNode(id, broker!.url, { roundSchemas })));
    let heard = 0;
    const stopListening = nodes[0]!.on('round', (envelope) => {
      if (envelope.from === 'h1' && envelope.body.name === 'sharing-round' && ++heard === 3) leader.kill('SIGKILL');
    });
    const outcomes = await Promise.all(nodes.map((n) => clear(n, { clearing: 'day-5', roundTimeoutMs: 3_000 })));
    stopListening();
    expect(leader.signalCode).toBe('SIGKILL');
    for (const outcome of outcomes) {
      expect(outcome!.leader).toBe('h2');
      expect(outcome!.participants).toEqual(['h2', 'h3']);
      expect(outcome!.converged).toBe(true);
    }
    expect(outcomes[0]!.couplingPriceEurPerKwh).toEqual(outcomes[1]!.couplingPriceEurPerKwh);
  });

  it('the leader whose own local step fails goes on coordinating: the others converge, its household keeps nothing', async () => {
    const nodes = await gateways(start, ids);
    // h1 leads; its solver answers two rounds, then fails (as a solve over its budget does).
    const optimizer = createOptimizer({ timeBudgetMs: settings.solveBudgetMs, highsGap: { relative: 1e-7, absolute: 1e-7 } });
    optimizers.push(optimizer);
    let calls = 0;
    const failing: LocalSolver = { solve: (input, o) => (++calls > 2 ? Promise.resolve({ ok: false, status: 'time-limit', message: 'over budget', solveMs: 0 }) : optimizer.solve(input, o)) };
    const [h1, h2, h3] = await Promise.all([clear(nodes[0]!, { clearing: 'day-4' }, failing), clear(nodes[1]!, { clearing: 'day-4' }), clear(nodes[2]!, { clearing: 'day-4' })]);
    expect(h1).toBeNull();
    for (const outcome of [h2, h3]) {
      expect(outcome!.participants).toEqual(['h2', 'h3']);
      expect(outcome!.leader).toBe('h1');
      expect(outcome!.converged).toBe(true);
    }
    expect(h2!.couplingPriceEurPerKwh).toEqual(h3!.couplingPriceEurPerKwh);
  });

  it('a leader that dictates trades beyond a household’s cleared position or outside its prices gets none of them committed', async () => {
    const nodes = await gateways(start, ids);
    // h1 leads and exports in every hour; h2 and h3 import.
    const exporting = (id: string): ProblemInput => (id === 'h1' ? { ...inputOf(id), netLoadForecastKw: inputOf(id).netLoadForecastKw.map(() => -9) } : inputOf(id));
    const reservation = (input: ProblemInput): Reservation => ({ maxBuyEurPerKwh: input.tariff.buyEurPerKwh.map((c) => c - 0.09), minSellEurPerKwh: input.tariff.sellEurPerKwh, maxTradeKw: 10 });
    // What h1 publishes as the result instead: 40 kWh to h2 in hour 3 (far beyond its import), 1 kWh to h3 in hour 4 at 4.5 EUR/kWh.
    const dictated = { priceEurPerKwh: [null, null, null, 0.1, 4.5, null], trades: [[3, 'h2', 'h1', 40], [4, 'h3', 'h1', 1]] };
    const lying: RoundChannel = { ...marketNodeChannel(nodes[0]!), publish: (name, payload) => marketNodeChannel(nodes[0]!).publish(name, name === 'clearing-result' ? { ...(payload as object), ...dictated } : payload) };
    const startMs = (Math.floor(Date.now() / 3_600_000) + 1) * 3_600_000;
    const outcomes = await Promise.all(
      nodes.map((node, n) => {
        const input = exporting(node.id);
        const agent = new HouseholdAgent(input, [], settings, false, 0);
        agents.push(agent);
        return runSharing(n === 0 ? lying : marketNodeChannel(node), agent, spec, { clearing: 'day-6', peerIds: ids, roundTimeoutMs: 10_000 }, reservation(input));
      }),
    );
    // The liar offers its side of whatever it dictated; the others commit as the market loop does, inside their own mandates.
    const anything = { maxTradeKw: 1e4, orders: Array.from({ length: 6 }, (_, t) => ({ slotStartMs: startMs + t * 3_600_000, slotMinutes: 60, side: 'sell' as const, powerKw: 1e4, priceEurPerKwh: -1 })) };
    const committed = await Promise.all(
      nodes.map(async (node, n) => {
        const { plan, trades } = outcomes[n]!;
        const mandate = n === 0 ? anything : communityMandate(node.id, net(plan), reservation(exporting(node.id)), startMs, 1);
        return node.commitTrades(fromBilateralTrades(trades, startMs, 1), { mandate, timeoutMs: 5_000 });
      }),
    );
    // The victims heard the dictated trades, and refused them themselves: the liar committed nothing either.
    expect(outcomes[1]!.trades.map((t) => t.energyKwh)).toEqual([40, 1]);
    expect(committed[1]!.map((o) => o.state)).toEqual(['refused']);
    expect(committed[2]!.map((o) => o.state)).toEqual(['refused']);
    for (const node of nodes) expect(node.ledger.committed()).toEqual([]);
  });

  it('a household whose solver returns β a hair below 0 (the LP’s feasibility tolerance) still answers every round and takes part', async () => {
    const nodes = await gateways(start, ids);
    const optimizer = createOptimizer({ timeBudgetMs: settings.solveBudgetMs, highsGap: { relative: 1e-7, absolute: 1e-7 } });
    optimizers.push(optimizer);
    // κ = max_t(1 − β_t) then exceeds 1 by 3e-12, which the answer's schema (κ ≤ 1) refuses to send.
    const overshooting: LocalSolver = {
      solve: async (input, o) => {
        const result = await optimizer.solve(input, o);
        return result.ok ? { ...result, plan: { ...result.plan, decisionRule: result.plan.decisionRule.map((b, t) => (t === 0 ? -3e-12 : b)) } } : result;
      },
    };
    const outcomes = await Promise.all([clear(nodes[0]!, { clearing: 'day-8' }), clear(nodes[1]!, { clearing: 'day-8' }, overshooting), clear(nodes[2]!, { clearing: 'day-8' })]);
    for (const outcome of outcomes) {
      expect(outcome!.participants).toEqual(ids);
      expect(outcome!.converged).toBe(true);
    }
  });

  it('a member configured with other community terms than the leader’s does not take part: it says why and keeps nothing, the others converge', async () => {
    const nodes = await gateways(start, ids);
    const otherCharge: SharingSpec = { ...spec, terms: { ...spec.terms, peakChargeEurPerKwDay: 2 * spec.terms.peakChargeEurPerKwDay } };
    const [h1, h2, h3] = await Promise.allSettled([clear(nodes[0]!, { clearing: 'day-7', roundTimeoutMs: 2_000 }), clear(nodes[1]!, { clearing: 'day-7', roundTimeoutMs: 2_000 }), clear(nodes[2]!, { clearing: 'day-7', roundTimeoutMs: 2_000 }, undefined, otherCharge)]);
    expect(h3.status).toBe('rejected');
    expect(String((h3 as PromiseRejectedResult).reason)).toMatch(/did not take part: the leader's terms \(π\^C 1 EUR\/kW per day, .*\) are not this gateway's \(π\^C 2 EUR\/kW per day/);
    const outcomes = [h1, h2].map((settled) => (settled as PromiseFulfilledResult<SharingOutcome | null>).value!);
    for (const outcome of outcomes) {
      expect(outcome.participants).toEqual(['h1', 'h2']);
      expect(outcome.converged).toBe(true);
      expect(outcome.trades.every((t) => t.buyer !== 'h3' && t.seller !== 'h3')).toBe(true);
    }
    expect(outcomes[0]!.couplingPriceEurPerKwh).toEqual(outcomes[1]!.couplingPriceEurPerKwh);
  });

  it('coordinator messages fabricated by a member that does not lead change nothing', async () => {
    // h0 sorts first but is not a participant; h3 is a participant whose id comes after the leader's.
    const nodes = await gateways(start, ['h0', ...ids]);
    const [outsider, ...participants] = nodes;
    const fake = (round: number) => ({ clearing: 'day-3', round, participants: ids, terms: agreedTerms(spec.terms), sampleDaysMs: [], lipschitzPriced: false, penaltyEurPerKw2: 1, scaledPrice: encodeVector([9, 9, 9, 9, 9, 9]), shareShiftKw: encodeVector([5, 5, 5, 5, 5, 5]), lipschitz: 1, lipschitzScaledPrice: [0, 0, 0], done: round > 1, converged: true });
    let round = 0;
    const flood = setInterval(() => {
      round = (round % 3) + 1;
      for (const liar of [outsider!, participants[2]!]) liar.publish('round', { name: 'sharing-round', payload: fake(round) }).catch(() => undefined);
    }, 25);
    try {
      expectReference(await Promise.all(participants.map((n) => clear(n, { clearing: 'day-3' }))));
    } finally {
      clearInterval(flood);
    }
  });
});
