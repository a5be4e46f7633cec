/**
 * The market loop between real gateways' market nodes on real brokers (embedded aedes and the
 * machine's Mosquitto): plans from real solves (one gateway with surplus PV, one with none), a
 * tick on each gateway at its own moment, the auction over MQTT, the two-phase commit into the
 * ledgers, and what the optimizer is given afterwards. Failure cases: a gateway offline at
 * clearing, the broker dying during the commit, and the round leader hard-killed (SIGKILL, a
 * child process) in the middle of the clearing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed, vi } from 'vitest';
import type { GatewayConfig } from '../../src/config/gateway-config.ts';
import { Ledger, PROTOCOL_ROOT, generateIdentity, saveIdentity, startEmbeddedBroker, topicFor } from '../../src/market/index.ts';
import { createOptimizer, type Optimizer, type ProblemInput } from '../../src/optimizer/index.ts';
import { pvKw, syntheticInput } from '../../src/optimizer/synthetic.ts';
import { createMarketLoop, embeddedMarketBroker, type MarketLoop, type MarketLoopTiming } from '../../src/runtime/market-loop.ts';
import type { ActivePlan, TradeView } from '../../src/runtime/types.ts';
import { ManualClock } from '../../src/time/clock.ts';
import { BROKERS, FAST_TIMING, embeddedBroker, eventually, type TestBroker } from '../market/fixtures.ts';
import type { MarketLoopPeerSpec } from './market-loop-peer.ts';
import { tariffParams } from '../../src/data/tariff.ts';
import { collectLines } from '../child-lines.ts';
import { freePort } from '../../src/bench/free-ports.ts';

// Real solves, real brokers, child processes on a loaded 2-core machine: generous limits, no timing assertions.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const HOUR_MS = 3_600_000;
/** 06:00 UTC: the gate of the window 12:00–18:00 opens. */
const NOW_MS = Date.UTC(2030, 6, 15, 6);
const WINDOW_START_MS = Date.UTC(2030, 6, 15, 12);
const WINDOW_END_MS = WINDOW_START_MS + 6 * HOUR_MS;
/** The plan's hourly steps, 24 h from now. */
const PLAN_SLOTS = Array.from({ length: 24 }, (_, t) => NOW_MS + t * HOUR_MS);
const FEE_EUR_PER_KWH = 0.09;
const TIMING: Partial<MarketLoopTiming> = { joinTimeoutMs: 5_000, roundTimeoutMs: 3_000, commitTimeoutMs: 8_000, node: FAST_TIMING };
const PEER_SCRIPT = fileURLToPath(new URL('./market-loop-peer.ts', import.meta.url));

type Role = 'surplus' | 'deficit';

let optimizer: Optimizer;
const inputs = {} as Record<Role, ProblemInput>;
const plans = {} as Record<Role, ActivePlan>;

/** The synthetic household from 06:00, with its PV doubled (surplus) or without PV (deficit). */
function household(role: Role): ProblemInput {
  const input = syntheticInput({ stepHours: PLAN_SLOTS.map(() => 1), samples: 4, startHour: 6, shiftable: false, seed: 3 });
  input.netLoadForecastKw = input.netLoadForecastKw.map((muKw, t) => muKw + (role === 'surplus' ? -1 : 1) * pvKw(6 + t + 0.5));
  return input;
}

beforeAll(async () => {
  optimizer = createOptimizer({ solver: 'highs' });
  for (const role of ['surplus', 'deficit'] as const) {
    inputs[role] = household(role);
    const result = await optimizer.solve(inputs[role], { startMs: NOW_MS });
    if (!result.ok) throw new Error(`${role}: ${result.message}`);
    plans[role] = { plan: result.plan, netLoadForecastKw: inputs[role].netLoadForecastKw, solvedAtMs: NOW_MS, fallback: false, status: 'optimal', solveMs: result.plan.solver.solveMs };
  }
  // What the tests rely on: in the window the surplus gateway exports and the other imports.
  const window = PLAN_SLOTS.map((s, t) => [s, t] as const).filter(([s]) => s >= WINDOW_START_MS && s < WINDOW_END_MS);
  expect(window.some(([, t]) => plans.surplus.plan.gridExportKw[t]! > 1)).toBe(true);
  expect(window.every(([, t]) => plans.deficit.plan.gridImportKw[t]! > 0.1)).toBe(true);
});

afterAll(() => optimizer?.dispose());

/** A community of gateways with fresh identities, a members file, and a unique community id. */
class LoopCommunity {
  readonly root = mkdtempSync(join(tmpdir(), 'pe-market-loop-'));
  readonly communityId = `t-${randomUUID().slice(0, 12)}`;
  readonly clock = new ManualClock(NOW_MS);
  readonly log: string[] = [];
  private readonly open = new Set<MarketLoop>();
  private readonly children = new Set<ChildProcess>();

  constructor(
    readonly brokerUrl: string,
    readonly roles: Record<string, Role>,
    /** Each gateway logs in as its id (`market.username`, no password file: a signed login token). */
    private readonly login = false,
  ) {
    const identities = Object.keys(roles).map((id) => generateIdentity(id));
    for (const identity of identities) saveIdentity(identity, this.config(identity.peerId).market!.identityFile);
    writeFileSync(join(this.root, 'members.json'), JSON.stringify({ members: identities.map(({ peerId, publicKey }) => ({ peerId, publicKey })) }));
  }

  get ids(): string[] {
    return Object.keys(this.roles);
  }

  dataDir(id: string): string {
    return join(this.root, id, 'market');
  }

  config(id: string): GatewayConfig {
    return {
      file: join(this.root, id, 'gateway.yaml'),
      gatewayId: id,
      board: { file: join(this.root, 'board.yaml'), vars: {} },
      site: {
        battery: { capacityKwh: 10, minEnergyKwh: 1, maxEnergyKwh: 9.5, maxChargeKw: 4, maxDischargeKw: 4, chargeEfficiency: 0.95, dischargeEfficiency: 0.95 },
        grid: { maxImportKw: 12, maxExportKw: 8 },
        shiftable: [],
      },
      tariff: {
        fallbackDayAheadEurPerMwh: 80,
        ...tariffParams,
        p2pGridFeeEurPerKwh: FEE_EUR_PER_KWH,
      },
      control: {
        fastPeriodS: 2,
        stepMinutes: 60,
        horizonSteps: 24,
        samples: 4,
        radiusKw: 0.05,
        epsilon: 0.05,
        method: 'joint',
        importLimit: 'connection',
        solver: 'highs',
        solveBudgetMs: 2_000,
        socGuardBandKwh: 0.2,
        revertTimeoutS: 30,
        batteryWearEurPerKw2h: 0.005,
        deferralEurPerKwh2: 0.01,
      },
      forecast: {},
      market: { brokerUrl: this.brokerUrl, community: this.communityId, identityFile: join(this.root, id, 'identity.json'), membersFile: join(this.root, 'members.json'), maxTradeKw: 5, ...(this.login ? { username: id } : {}) },
      storage: { dir: join(this.root, id), measurementEveryS: 300 },
      telemetry: {},
    };
  }

  /** A gateway's market loop in this process, started (its data dir is kept across restarts). */
  async start(id: string, timing: Partial<MarketLoopTiming> = TIMING): Promise<MarketLoop> {
    const loop = createMarketLoop({
      config: this.config(id),
      clock: this.clock,
      dataDir: this.dataDir(id),
      plan: () => plans[this.roles[id]!],
      log: (level, message) => this.log.push(`${id} ${level} ${message}`),
      timing,
    });
    await loop.start();
    this.open.add(loop);
    return loop;
  }

  async stop(loop: MarketLoop): Promise<void> {
    this.open.delete(loop);
    await loop.close();
  }

  /** A gateway's market loop in a child process (market-loop-peer.ts), started. */
  async spawn(id: string, timing: Partial<MarketLoopTiming> = TIMING): Promise<PeerProcess> {
    const spec: MarketLoopPeerSpec = { config: this.config(id), dataDir: this.dataDir(id), brokerUrl: this.brokerUrl, nowMs: NOW_MS, plan: plans[this.roles[id]!], timing };
    const specPath = join(this.root, `${id}.spec.json`);
    writeFileSync(specPath, JSON.stringify(spec));
    const child = spawn(process.execPath, ['--import', 'tsx', PEER_SCRIPT, specPath], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.children.add(child);
    const peer = new PeerProcess(id, child, this.log);
    await peer.waitFor('started');
    return peer;
  }

  /** The ledger a gateway left on disk (after it stopped or was killed). */
  ledgerEntries(id: string) {
    const ledger = Ledger.open(this.dataDir(id), id);
    const entries = ledger.entriesList();
    ledger.close();
    return entries;
  }

  async close(): Promise<void> {
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all([...this.open].map((loop) => loop.close()));
    // A persistent broker keeps retained presence: clear this community's.
    const cleaner = await connectAsync(this.brokerUrl, { reconnectPeriod: 0, connectTimeout: 2_000 }).catch(() => undefined);
    if (cleaner !== undefined) {
      for (const id of this.ids) await cleaner.publishAsync(topicFor(this.communityId, 'presence', id), '', { qos: 1, retain: true });
      await cleaner.endAsync();
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** A market loop in a child process: ticked through stdin, frozen and killed by signals. */
class PeerProcess {
  private readonly lines: string[] = [];

  constructor(
    readonly id: string,
    readonly child: ChildProcess,
    log: string[],
  ) {
    collectLines(child.stdout!, this.lines);
    child.stderr!.on('data', (chunk: Buffer) => log.push(`[${id} process] ${chunk.toString().trimEnd()}`));
  }

  tick(): void {
    this.child.stdin!.write('tick\n');
  }

  async waitFor(line: string): Promise<void> {
    await eventually(() => {
      if (this.child.exitCode !== null) throw new Error(`${this.id} exited with ${this.child.exitCode} before printing "${line}"`);
      return this.lines.includes(line);
    }, `${this.id} prints "${line}"`, 30_000);
  }

  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }
}

/** Listens to the community's topics like a broker admin would: every envelope, unverified. */
async function observe(brokerUrl: string, communityId: string): Promise<{ heard: { kind: string; from: string; body: { name?: string; payload?: Record<string, unknown>; status?: string } }[]; client: MqttClient }> {
  const client = await connectAsync(brokerUrl, { reconnectPeriod: 0 });
  const heard: { kind: string; from: string; body: { name?: string; payload?: Record<string, unknown>; status?: string } }[] = [];
  client.on('message', (_topic, payload) => {
    if (payload.length > 0) heard.push(JSON.parse(payload.toString()) as (typeof heard)[number]);
  });
  await client.subscribeAsync(`${PROTOCOL_ROOT}/${communityId}/#`, { qos: 1 });
  return { heard, client };
}

let community: LoopCommunity | undefined;
afterEach(async () => {
  await community?.close();
  community = undefined;
});

function failureLog(): void {
  onTestFailed(() => {
    if (community) process.stderr.write(`${community.log.join('\n')}\n`);
  });
}

/** Each committed trade is in the other party's list with the same id and terms and the opposite sign. */
function expectMatchingTrades(tradesById: Record<string, TradeView[]>): TradeView[] {
  const all = Object.entries(tradesById).flatMap(([id, trades]) => trades.map((trade) => ({ id, trade })));
  for (const { id, trade } of all) {
    expect(trade.state).toBe('committed');
    expect(tradesById[trade.peerId]!.find((t) => t.tradeId === trade.tradeId)).toEqual({ ...trade, peerId: id, powerKw: -trade.powerKw });
  }
  return all.map((a) => a.trade);
}

describe.each(BROKERS)('market loops of four gateways on $name', ({ start: startBroker }) => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(() => broker?.close());

  it('gateways that tick at different moments clear the coming window together; buyer and seller hold the same trades with opposite signs, the optimizer gets them fixed, and a restart keeps them', async () => {
    failureLog();
    community = new LoopCommunity(broker.url, { 'gw-a': 'deficit', 'gw-b': 'surplus', 'gw-c': 'deficit', 'gw-d': 'surplus' });
    const loops = await Promise.all(community.ids.map((id) => community!.start(id)));
    for (const loop of loops) {
      await loop.tick(NOW_MS);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    await Promise.all(loops.map((loop) => loop.settled()));

    const tradesById = Object.fromEntries(community.ids.map((id, k) => [id, loops[k]!.trades()]));
    expectMatchingTrades(tradesById);
    // Every gateway's order book was in the clearing, whenever it ticked.
    expect(Object.values(tradesById).every((list) => list.length > 0)).toBe(true);
    for (const [id, list] of Object.entries(tradesById)) {
      for (const trade of list) {
        expect(community.roles[id]).toBe(trade.powerKw > 0 ? 'deficit' : 'surplus');
        expect(trade.slotStartMs).toBeGreaterThanOrEqual(WINDOW_START_MS);
        expect(trade.slotEndMs).toBeLessThanOrEqual(WINDOW_END_MS);
        expect(Math.abs(trade.powerKw)).toBeLessThanOrEqual(5);
      }
    }

    // The buyer's optimizer: every other member, the committed power fixed per slot, the rest fixed at 0.
    const buyer = loops[0]!;
    const peers = buyer.peerTrades(PLAN_SLOTS);
    expect(peers.map((p) => p.peerId).sort()).toEqual(['gw-b', 'gw-c', 'gw-d']);
    let fixed = 0;
    for (const peer of peers) {
      expect(peer.maxKw).toBe(5);
      PLAN_SLOTS.forEach((slotMs, t) => {
        const inSlot = tradesById['gw-a']!.filter((trade) => trade.peerId === peer.peerId && trade.slotStartMs === slotMs);
        expect(peer.committedKw![t]).toBeCloseTo(inSlot.reduce((sum, trade) => sum + trade.powerKw, 0), 12);
        if (inSlot.length > 0) {
          fixed++;
          expect(peer.priceEurPerKwh[t]).toBeCloseTo(inSlot[0]!.priceEurPerKwh + FEE_EUR_PER_KWH, 12);
        }
      });
    }
    expect(fixed).toBeGreaterThan(0);
    const resolved = await optimizer.solve({ ...inputs.deficit, peers }, { startMs: NOW_MS });
    if (!resolved.ok) throw new Error(resolved.message);
    for (const peer of peers) PLAN_SLOTS.forEach((_, t) => expect(resolved.plan.tradesKw[peer.peerId]![t]).toBeCloseTo(peer.committedKw![t]!, 6));

    // A seller restarts: its trades are back from its ledger, and the window is not cleared twice.
    const seller = loops[1]!;
    const before = { trades: seller.trades(), peers: seller.peerTrades(PLAN_SLOTS) };
    await community.stop(seller);
    const restarted = await community.start('gw-b');
    expect(restarted.trades()).toEqual(before.trades);
    expect(restarted.peerTrades(PLAN_SLOTS)).toEqual(before.peers);
    await restarted.tick(NOW_MS);
    await restarted.settled();
    expect(restarted.trades()).toEqual(before.trades);
  });

  it('a gateway that is offline at clearing gets no trade, and the others still clear', async () => {
    failureLog();
    community = new LoopCommunity(broker.url, { 'gw-a': 'deficit', 'gw-b': 'surplus', 'gw-c': 'deficit', 'gw-d': 'deficit' });
    const loops = await Promise.all(community.ids.map((id) => community!.start(id)));
    const offline = loops[2]!;
    await community.stop(offline);
    const online = loops.filter((loop) => loop !== offline);
    await Promise.all(online.map((loop) => loop.tick(NOW_MS)));
    await Promise.all(online.map((loop) => loop.settled()));

    const tradesById = Object.fromEntries(['gw-a', 'gw-b', 'gw-d'].map((id, k) => [id, online[k]!.trades()]));
    const trades = expectMatchingTrades(tradesById);
    expect(Object.values(tradesById).every((list) => list.length > 0)).toBe(true);
    expect(trades.some((trade) => trade.peerId === 'gw-c')).toBe(false);
    expect(community.ledgerEntries('gw-c')).toEqual([]);
    expect(online.every((loop) => loop.connected())).toBe(true);
  });

  it('a round leader hard-killed in the middle of the clearing is replaced: the remaining gateways clear and commit consistently, and nothing is committed with the dead one', async () => {
    failureLog();
    community = new LoopCommunity(broker.url, { 'gw-a': 'deficit', 'gw-b': 'surplus', 'gw-c': 'deficit', 'gw-d': 'surplus' });
    const { heard, client } = await observe(broker.url, community.communityId);
    try {
      // gw-a (the lowest id: the leader) and gw-d in their own processes; gw-b and gw-c here.
      // The leader waits long for missing books, so it is surely killed before it could finish.
      const [leader, frozen] = await Promise.all([community.spawn('gw-a', { ...TIMING, roundTimeoutMs: 30_000 }), community.spawn('gw-d')]);
      const [seller, buyer] = [await community.start('gw-b'), await community.start('gw-c')];
      const said = (from: string, what: (body: (typeof heard)[number]['body']) => boolean) => heard.some((m) => m.from === from && what(m.body));
      await eventually(() => community!.ids.every((id) => said(id, (b) => b.status === 'online')), 'every gateway is online');

      // gw-d joins the clearing and freezes: the leader will wait a round for its order book.
      frozen.tick();
      await eventually(() => said('gw-d', (b) => b.name === 'market-status' && b.payload?.status === 'joining'), 'gw-d joins');
      frozen.child.kill('SIGSTOP');
      leader.tick();
      await seller.tick(NOW_MS);
      await buyer.tick(NOW_MS);
      await eventually(() => said('gw-a', (b) => b.name === 'auction-open'), 'gw-a opens the auction', 30_000);
      await leader.kill();
      await Promise.all([seller.settled(), buyer.settled()]);

      expect(heard.some((m) => m.from === 'gw-a' && m.body.name === 'clearing-result')).toBe(false);
      expect(heard.some((m) => m.from === 'gw-b' && m.body.name === 'clearing-result')).toBe(true);
      const trades = expectMatchingTrades({ 'gw-b': seller.trades(), 'gw-c': buyer.trades() });
      expect(trades.length).toBeGreaterThan(0);
      expect(trades.every((t) => t.peerId === 'gw-b' || t.peerId === 'gw-c')).toBe(true);
      await frozen.kill();
      expect(community.ledgerEntries('gw-a')).toEqual([]);
      expect(community.ledgerEntries('gw-d')).toEqual([]);
    } finally {
      await client.endAsync();
    }
  });
});

describe('market loops on the embedded community broker', () => {
  it('gateways log in with their market keys, clear the window and commit; a stranger can neither log in nor read the community', async () => {
    failureLog();
    const port = await freePort();
    community = new LoopCommunity(`mqtt://127.0.0.1:${port}`, { 'gw-a': 'deficit', 'gw-b': 'surplus' }, true);
    const market = community.config('gw-a').market!;
    // The broker a gateway with `brokerUrl: embedded:<port>` starts: from its market configuration and members file.
    const broker = await startEmbeddedBroker({ ...embeddedMarketBroker(market), port });
    try {
      const loops = await Promise.all(community.ids.map((id) => community!.start(id)));
      expect(loops.every((loop) => loop.connected())).toBe(true);
      await Promise.all(loops.map((loop) => loop.tick(NOW_MS)));
      await Promise.all(loops.map((loop) => loop.settled()));
      const trades = expectMatchingTrades({ 'gw-a': loops[0]!.trades(), 'gw-b': loops[1]!.trades() });
      expect(trades.length).toBeGreaterThan(0);
      await expect(connectAsync(broker.url, { reconnectPeriod: 0, connectTimeout: 3_000 })).rejects.toThrow();
      await Promise.all(loops.map((loop) => community!.stop(loop)));
    } finally {
      await broker.close();
    }
  });
});

describe('market loops when the broker is away', () => {
  it('a gateway started while the broker is down runs without the market (connected() false) and connects once the broker is there', async () => {
    failureLog();
    const probe = await embeddedBroker();
    await probe.close();
    community = new LoopCommunity(probe.url, { 'gw-a': 'deficit', 'gw-b': 'surplus' });
    const loop = await community.start('gw-a');
    expect(loop.connected()).toBe(false);
    expect(loop.peerTrades(PLAN_SLOTS).map((p) => p.committedKw)).toEqual([PLAN_SLOTS.map(() => 0)]);
    await loop.tick(NOW_MS);
    await loop.settled();
    const broker = await startEmbeddedBroker({ port: probe.port });
    try {
      await eventually(() => loop.connected(), 'the gateway connects', 30_000);
    } finally {
      await community.close();
      community = undefined;
      await broker.close();
    }
  });

  it('the broker dying during the commit makes connected() false and commits nothing on one side only; once it is back every trade ends the same on both sides', async () => {
    failureLog();
    const first = await embeddedBroker();
    community = new LoopCommunity(first.url, { 'gw-a': 'deficit', 'gw-b': 'surplus', 'gw-c': 'deficit', 'gw-d': 'surplus' });
    const loops = await Promise.all(community.ids.map((id) => community!.start(id)));
    await Promise.all(loops.map((loop) => loop.tick(NOW_MS)));
    await eventually(() => loops.some((loop) => loop.trades().length > 0), 'a first trade is in a ledger', 30_000);
    await first.close();
    await eventually(() => loops.every((loop) => !loop.connected()), 'every gateway sees the broker gone');
    await Promise.all(loops.map((loop) => loop.settled()));

    // While the broker is away: a trade committed by one side is never aborted or unknown on the
    // other (the buyer may still be waiting for the decision), and the optimizer plans only on
    // what is committed in its own ledger.
    const held = () => community!.ids.flatMap((id, k) => loops[k]!.trades().map((trade) => ({ id, k, trade })));
    const mirrorOf = (all: ReturnType<typeof held>, trade: TradeView) => all.find((m) => m.id === trade.peerId && m.trade.tradeId === trade.tradeId)?.trade;
    const during = held();
    for (const { id, k, trade } of during) {
      if (trade.state === 'committed') expect(['committed', 'in-doubt']).toContain(mirrorOf(during, trade)?.state);
      const planned = loops[k]!.peerTrades([trade.slotStartMs]).find((p) => p.peerId === trade.peerId)!.committedKw![0]!;
      const committedKw = during.filter((m) => m.id === id && m.trade.peerId === trade.peerId && m.trade.slotStartMs === trade.slotStartMs && m.trade.state === 'committed').reduce((sum, m) => sum + m.trade.powerKw, 0);
      expect(planned).toBeCloseTo(committedKw, 12);
    }

    const again = await startEmbeddedBroker({ port: first.port });
    try {
      await eventually(() => loops.every((loop) => loop.connected()), 'every gateway reconnects', 30_000);
      await eventually(() => loops.every((loop) => loop.trades().every((t) => t.state !== 'in-doubt')), 'every decision reaches its buyer', 30_000);
      const after = held();
      for (const { id, trade } of after) {
        const mirror = mirrorOf(after, trade);
        if (trade.state === 'committed') expect(mirror).toEqual({ ...trade, peerId: id, powerKw: -trade.powerKw });
        else expect(mirror === undefined || mirror.state === 'aborted').toBe(true);
      }
    } finally {
      await community.close();
      community = undefined;
      await again.close();
    }
  });
});
