/**
 * `bench market`: clearing a day of the P2P market over real signed MQTT messages.
 * For 10, 50 and 200 peers (10 only with --quick; `PE_BENCH_MARKET_PEERS=10,50` picks others)
 * and 24- and 96-slot days: every peer is a
 * `MarketNode` with its own MQTT connection to one embedded aedes broker, all in this process;
 * the clearing runs over their round messages (src/market/clearing/rounds.ts). Measured: time to
 * clear (first round opened → result at every peer), rounds, messages published per peer and slot,
 * and the welfare gap to the central optimum, for consensus-ADMM and the pay-as-clear auction.
 * Peers come from the four real households (src/market/clearing/community.ts; seed 1).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultDataDir } from '../data/households.ts';
import { AdmmParticipant, defaultAdmmSettings, initialPrice, type AdmmProposer } from '../market/clearing/admm.ts';
import { solveCentral } from '../market/clearing/central.ts';
import { auctionBook } from '../market/clearing/clear-and-commit.ts';
import { buildCommunity, loadCommunityData, marketRules } from '../market/clearing/community.ts';
import { Prosumer } from '../market/clearing/prosumer.ts';
import { marketNodeChannel, roundSchemas, runAdmm, runAuction, type RoundChannel } from '../market/clearing/rounds.ts';
import type { Clearing } from '../market/clearing/types.ts';
import { communityCost, welfareGap } from '../market/clearing/welfare.ts';
import { MarketNode, generateIdentity, startEmbeddedBroker } from '../market/index.ts';
import { report, type BenchOptions } from './report.ts';

const day = '2016-07-15';
/**
 * All peers share this process, so a round takes the sum of every peer's local step (seconds for
 * 200 peers), not the slowest one's as on separate gateways: the failure detector must wait that long.
 */
const roundTimeoutMs = 300_000;

export async function runBench(options: BenchOptions): Promise<void> {
  const data = await loadCommunityData(defaultDataDir);
  for (const peers of peerCounts(options)) {
    for (const slots of [24, 96] as const) await benchCommunity(options, data, peers, slots);
  }
}

async function benchCommunity(options: BenchOptions, data: Awaited<ReturnType<typeof loadCommunityData>>, size: number, slots: 24 | 96): Promise<void> {
  const params = { peers: size, slots, transport: 'MarketNode/aedes, 1 process' };
  const profiles = buildCommunity(data, { peers: size, day, slotsPerDay: slots, seed: 1 });
  const started = performance.now();
  const central = await solveCentral(profiles, marketRules);
  report(options, { suite: 'market', metric: 'central optimum solve', value: (performance.now() - started) / 1000, unit: 's', params });

  const prosumers = await Promise.all(profiles.map((p) => Prosumer.create(p, marketRules)));
  const community = await startCommunity(profiles.map((p) => p.id));
  try {
    const peerIds = profiles.map((p) => p.id);
    const lead = { peerIds, roundTimeoutMs };
    const byId = new Map(prosumers.map((p) => [p.profile.id, p]));

    const stepMs: number[][] = []; // [round][peer]: local step durations
    const admm = await measure(community.channels, async (channels) => {
      const price = initialPrice(profiles[0]!.buyEurPerKwh, profiles[0]!.sellEurPerKwh, marketRules.p2pFeeEurPerKwh);
      const proposer = (id: string) => () => timed(new AdmmParticipant(byId.get(id)!, defaultAdmmSettings), stepMs);
      const results = await Promise.all([...channels.values()].map((c) => runAdmm(c, proposer(c.id), price, profiles[0]!.stepHours, defaultAdmmSettings, { ...lead, clearing: 'admm-day' })));
      return results[0]!;
    });
    const auction = await measure(community.channels, async (channels) => {
      const results = await Promise.all([...channels.values()].map((c) => runAuction(c, auctionBook(byId.get(c.id)!, marketRules), slots, { ...lead, clearing: 'auction-day' })));
      return results[0]!;
    });

    const allSteps = stepMs.flat().reduce((s, ms) => s + ms, 0) / 1000;
    const slowestPerRound = stepMs.reduce((s, round) => s + Math.max(...round), 0) / 1000;
    report(options, { suite: 'market', metric: 'admm local steps, all peers', value: allSteps, unit: 's', params });
    report(options, { suite: 'market', metric: 'admm slowest step/round, sum', value: slowestPerRound, unit: 's', params: { ...params, meaning: 'compute time to clear with one gateway per peer' } });
    for (const [mode, run] of [['admm', admm], ['auction', auction]] as const) {
      const gap = welfareGap(communityCost(prosumers, run.clearing), central.communityCostEur);
      const goalTime = mode === 'admm' && size === 50 && slots === 96 ? { goal: { op: '<=' as const, value: 30 } } : {};
      report(options, { suite: 'market', metric: `${mode} time to clear`, value: run.seconds, unit: 's', params, ...goalTime });
      report(options, { suite: 'market', metric: `${mode} rounds`, value: run.clearing.rounds, unit: 'rounds', params: { ...params, converged: run.clearing.converged } });
      report(options, { suite: 'market', metric: `${mode} messages/peer/slot`, value: run.published / size / slots, unit: 'msg', params: { ...params, publishedPerPeer: +(run.published / size).toFixed(2) } });
      report(options, { suite: 'market', metric: `${mode} welfare gap`, value: 100 * gap, unit: '%', params, goal: { op: '<=', value: 1 } });
    }
    report(options, { suite: 'market', metric: 'market node warnings', value: community.warnings.count, unit: 'warnings', params });
  } finally {
    await community.close();
    prosumers.forEach((p) => p.dispose());
  }
}

/** `PE_BENCH_MARKET_PEERS` (comma-separated) overrides the community sizes. */
function peerCounts(options: BenchOptions): number[] {
  const chosen = process.env['PE_BENCH_MARKET_PEERS'];
  if (chosen === undefined || chosen.trim() === '') return options.quick ? [10] : [10, 50, 200];
  const counts = chosen.split(',').map((n) => Number(n.trim()));
  if (counts.some((n) => !Number.isInteger(n) || n < 2)) throw new Error(`PE_BENCH_MARKET_PEERS must list community sizes of at least 2, got "${chosen}"`);
  return counts;
}

/** A participant whose local steps are timed into `stepMs[round]`. */
function timed(participant: AdmmParticipant, stepMs: number[][]): AdmmProposer {
  return {
    id: participant.id,
    propose(round) {
      const started = performance.now();
      const proposal = participant.propose(round);
      (stepMs[round.round] ??= []).push(performance.now() - started);
      return proposal;
    },
  };
}

/** Runs one clearing with every channel's publishes counted. */
async function measure(channels: Map<string, RoundChannel>, clear: (channels: Map<string, RoundChannel>) => Promise<Clearing>) {
  let published = 0;
  const counted = new Map([...channels].map(([id, c]) => [id, { ...c, id, publish: (name: Parameters<RoundChannel['publish']>[0], payload: object) => (published++, c.publish(name, payload)) }]));
  const started = performance.now();
  const clearing = await clear(counted);
  return { clearing, seconds: (performance.now() - started) / 1000, published };
}

/** One embedded broker and one started `MarketNode` per peer, with fresh identities and journals. */
async function startCommunity(peerIds: string[]) {
  const broker = await startEmbeddedBroker({ port: 0 });
  const dir = mkdtempSync(join(tmpdir(), 'bench-market-'));
  const identities = peerIds.map((id) => generateIdentity(id));
  const community = { communityId: 'bench', members: identities.map((i) => ({ peerId: i.peerId, publicKey: i.publicKey })) };
  // Counted, not printed: a warning is a defect to look into, but would bury the figures.
  const warnings = { count: 0 };
  const log = (level: 'info' | 'warn') => void (level === 'warn' && warnings.count++);
  const nodes = identities.map(
    (identity) => new MarketNode({ identity, community, brokerUrl: broker.url, dataDir: join(dir, identity.peerId), protocolVersion: 4, roundSchemas, log }),
  );
  try {
    for (const node of nodes) await node.start();
  } catch (error) {
    await Promise.all(nodes.map((n) => n.stop()));
    await broker.close();
    throw error;
  }
  return {
    channels: new Map(nodes.map((n) => [n.id, marketNodeChannel(n)])),
    warnings,
    async close() {
      for (const node of nodes) await node.stop();
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
