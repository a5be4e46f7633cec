/**
 * `bench market`: clearing a day of the P2P market over real signed MQTT messages.
 * For 10, 50 and 200 peers (10 only with --quick; `PE_BENCH_MARKET_PEERS=10,50` picks others)
 * and 24- and 96-slot days: every peer is a
 * `MarketNode` with its own MQTT connection to one embedded aedes broker, all in this process;
 * the clearing runs over their round messages (src/market/clearing/rounds.ts). Measured: time to
 * clear (first round opened → result at every peer), rounds, messages published per peer and slot,
 * and the welfare gap to the central optimum, for consensus-ADMM and the pay-as-clear auction.
 * Peers come from the four real households (src/market/clearing/community.ts; seed 1).
 *
 * Then one member's flood (`floodOneGateway`): 10 000 valid signed offers published at once by
 * `mosquitto_pub` (another process, as on a LAN) to one gateway in this process, on the embedded
 * broker and on the machine's Mosquitto (127.0.0.1:1883) when it answers: the gateway's event-loop
 * delay (goal: ≤ 200 ms, issue 11) and how many offers it verified and dropped.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connectAsync } from 'mqtt';
import { defaultDataDir } from '../data/households.ts';
import { AdmmParticipant, defaultAdmmSettings, initialPrice, type AdmmProposer } from '../market/clearing/admm.ts';
import { solveCentral } from '../market/clearing/central.ts';
import { auctionBook } from '../market/clearing/clear-and-commit.ts';
import { buildCommunity, loadCommunityData, marketRules } from '../market/clearing/community.ts';
import { Prosumer } from '../market/clearing/prosumer.ts';
import { marketNodeChannel, roundSchemas, runAdmm, runAuction, type RoundChannel } from '../market/clearing/rounds.ts';
import type { Clearing } from '../market/clearing/types.ts';
import { communityCost, welfareGap } from '../market/clearing/welfare.ts';
import { Membership } from '../market/community.ts';
import { DEFAULT_LIMITS, MessageCodec } from '../market/messages.ts';
import { MarketNode, generateIdentity, startEmbeddedBroker, topicFor } from '../market/index.ts';
import { systemClock } from '../time/clock.ts';
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
  await benchFlood(options);
}

async function benchFlood(options: BenchOptions): Promise<void> {
  const embedded = await startEmbeddedBroker({ port: 0 });
  const brokers = [{ name: 'aedes (embedded)', url: embedded.url }, ...((await answers(MOSQUITTO_URL)) ? [{ name: 'mosquitto', url: MOSQUITTO_URL }] : [])];
  try {
    for (const broker of brokers) {
      const flood = await floodOneGateway(broker.url);
      const params = { broker: broker.name, offers: flood.offers, transport: 'mosquitto_pub → broker → one MarketNode in this process' };
      report(options, { suite: 'market', metric: 'flood: event-loop delay, max', value: flood.maxLagMs, unit: 'ms', params, goal: { op: '<=', value: 200 } });
      report(options, { suite: 'market', metric: 'flood: event-loop delay, p99', value: flood.p99LagMs, unit: 'ms', params });
      report(options, { suite: 'market', metric: 'flood: offers verified', value: flood.verified, unit: 'offers', params: { ...params, dropped: flood.dropped } });
    }
  } finally {
    await embedded.close();
  }
}

const MOSQUITTO_URL = 'mqtt://127.0.0.1:1883';

async function answers(url: string): Promise<boolean> {
  const client = await connectAsync(url, { reconnectPeriod: 0, connectTimeout: 2_000 }).catch(() => undefined);
  await client?.endAsync();
  return client !== undefined;
}

export interface FloodResult {
  offers: number;
  /** Event-loop delay of the gateway's process while it takes the flood (ms). */
  maxLagMs: number;
  p99LagMs: number;
  /** Offers that passed every check and were booked; the rest were dropped (`rate-limited`) before or after their signature check. */
  verified: number;
  dropped: number;
  /** Should be 0: every offer is valid. */
  otherRejections: number;
}

/**
 * One member ("mallory", its key stolen or its gateway broken) publishes `offers` valid signed
 * offers at once through `mosquitto_pub`, another process; one gateway ("alice") in this process,
 * as deployed, takes them. Measured until the gateway has been quiet for a second (Mosquitto drops
 * what exceeds a client's queue, so not every offer arrives).
 */
export async function floodOneGateway(brokerUrl: string, offers = 10_000): Promise<FloodResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-flood-'));
  const [alice, mallory] = [generateIdentity('alice'), generateIdentity('mallory')];
  const community = { communityId: `flood-${randomUUID().slice(0, 8)}`, members: [alice, mallory].map((i) => ({ peerId: i.peerId, publicKey: i.publicKey })) };
  const node = new MarketNode({ identity: alice, community, brokerUrl, dataDir: join(dir, 'alice'), log: () => undefined });
  await node.start();
  try {
    let verified = 0;
    node.on('offer', () => verified++);
    const codec = new MessageCodec(new Membership(community), systemClock, DEFAULT_LIMITS);
    const slotStartMs = (Math.floor(Date.now() / 3_600_000) + 2) * 3_600_000;
    const sealed = Array.from({ length: offers }, () =>
      codec.seal(mallory, 'offer', { offerId: randomUUID(), slotStartMs, slotMinutes: 60, maxKw: 5, priceEurPerKwh: 0.1 }, { lifetimeMs: 10 * 60_000, middle: slotStartMs }),
    );
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    await publishLines(brokerUrl, sealed[0]!.topic, sealed.map((m) => m.payload));
    const taken = () => verified + node.rejections['rate-limited'];
    for (let last = -1, quietSinceMs = performance.now(); performance.now() - quietSinceMs < 1_000; await new Promise((resolve) => setTimeout(resolve, 50))) {
      if (taken() !== last) [last, quietSinceMs] = [taken(), performance.now()];
    }
    lag.disable();
    const otherRejections = Object.entries(node.rejections).reduce((sum, [reason, count]) => sum + (reason === 'rate-limited' ? 0 : count), 0);
    return { offers, maxLagMs: lag.max / 1e6, p99LagMs: lag.percentile(99) / 1e6, verified, dropped: node.rejections['rate-limited'], otherRejections };
  } finally {
    await node.stop();
    // A persistent broker keeps the retained presence: cleared.
    const cleaner = await connectAsync(brokerUrl, { reconnectPeriod: 0 });
    await cleaner.publishAsync(topicFor(community.communityId, 'presence', 'alice'), '', { qos: 1, retain: true });
    await cleaner.endAsync();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Publishes each payload as one QoS-1 message on `topic` from a `mosquitto_pub` process; resolves when it exits. */
export function publishLines(brokerUrl: string, topic: string, payloads: Buffer[]): Promise<void> {
  const { hostname, port } = new URL(brokerUrl);
  const child = spawn('mosquitto_pub', ['-h', hostname, '-p', port, '-t', topic, '-q', '1', '-l'], { stdio: ['pipe', 'ignore', 'inherit'] });
  child.stdin.end(Buffer.concat(payloads.flatMap((p) => [p, Buffer.from('\n')])));
  return new Promise((resolve, reject) => {
    child.once('error', (error) => reject(new Error(`mosquitto_pub (Debian: mosquitto-clients) did not run: ${error.message}`)));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`mosquitto_pub exited with ${code}`))));
  });
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
