import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AdmmParticipant, clearAdmm, defaultAdmmSettings, initialPrice, type AdmmProposer } from '../../../src/market/clearing/admm.ts';
import { marketRules } from '../../../src/market/clearing/community.ts';
import { mandateFromBook, proposalBook } from '../../../src/market/clearing/mandate.ts';
import { Prosumer } from '../../../src/market/clearing/prosumer.ts';
import { marketNodeChannel, roundSchemas, runAdmm, runAuction, type RoundChannel } from '../../../src/market/clearing/rounds.ts';
import type { Clearing, PeerProfile } from '../../../src/market/clearing/types.ts';
import { fromBilateralTrades, type MarketNode } from '../../../src/market/index.ts';
import { auditLedgers } from '../day-fixture.ts';
import { TestCommunity, embeddedBroker, type TestBroker } from '../fixtures.ts';
import { householdDay } from './households.ts';

// Real solves and a real broker on a loaded 2-core machine: generous limits, never timing assertions.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

let peers: PeerProfile[];
let prosumers: Prosumer[];
let broker: TestBroker;
let community: TestCommunity | undefined;

beforeAll(async () => {
  peers = await householdDay(24);
  prosumers = await Promise.all(peers.map((p) => Prosumer.create(p, marketRules)));
  broker = await embeddedBroker();
});

afterEach(async () => {
  await community?.close();
  community = undefined;
});

afterAll(async () => {
  prosumers?.forEach((p) => p.dispose());
  await broker?.close();
});

async function startGateways(): Promise<MarketNode[]> {
  community = new TestCommunity(peers.map((p) => p.id));
  const nodes = await Promise.all(peers.map((p) => community!.startNode(p.id, broker.url, { protocolVersion: 4, roundSchemas })));
  return nodes;
}

const price = () => initialPrice(peers[0]!.buyEurPerKwh, peers[0]!.sellEurPerKwh, marketRules.p2pFeeEurPerKwh);
const proposerOf = (id: string) => () => new AdmmParticipant(prosumers.find((p) => p.profile.id === id)!, defaultAdmmSettings);
const inProcess = (ids: string[]) => clearAdmm(prosumers.filter((p) => ids.includes(p.profile.id)), defaultAdmmSettings, price());
const options = (clearing: string, roundTimeoutMs: number, leaderTimeoutMs?: number) => ({ clearing, peerIds: peers.map((p) => p.id), roundTimeoutMs, leaderTimeoutMs });

/** The parts of a clearing that do not depend on which peers are listed as having traded nothing. */
const outcome = (c: Clearing) => ({ trades: c.trades, priceEurPerKwh: c.priceEurPerKwh, rounds: c.rounds, converged: c.converged });

describe('clearing rounds over signed MQTT messages (MarketNode, embedded aedes)', () => {
  it('every gateway receives the leader’s ADMM result, exactly the in-process clearing', async () => {
    const nodes = await startGateways();
    const results = await Promise.all(nodes.map((n) => runAdmm(marketNodeChannel(n), proposerOf(n.id), price(), 1, defaultAdmmSettings, options('same-as-local', 60_000))));
    const local = inProcess(peers.map((p) => p.id));
    expect(results[0]!.converged).toBe(true);
    for (const result of results) expect(JSON.stringify(result)).toBe(JSON.stringify(local));
  });

  it('a gateway that never answers is dropped after the round timeout and trades nothing; the rest clear', async () => {
    const nodes = await startGateways();
    const silent = peers[3]!.id;
    const answering = nodes.filter((n) => n.id !== silent);
    const results = await Promise.all(answering.map((n) => runAdmm(marketNodeChannel(n), proposerOf(n.id), price(), 1, defaultAdmmSettings, options('one-silent', 3_000))));
    const result = results[0]!;
    expect(result.converged).toBe(true);
    expect(result.netKwh[silent]!.every((q) => q === 0)).toBe(true);
    expect(result.trades.length).toBeGreaterThan(0);
    expect(result.trades.some((t) => t.buyer === silent || t.seller === silent)).toBe(false);
    for (const other of results) expect(JSON.stringify(other)).toBe(JSON.stringify(result));
  });

  it('an auction collects one order book per gateway and every gateway gets the cleared trades', async () => {
    const nodes = await startGateways();
    const silent = peers[3]!.id;
    const buyer = peers[1]!.id;
    const book = (id: string) => [[{ peerId: id, side: id === buyer ? ('buy' as const) : ('sell' as const), energyKwh: 1, priceEurPerKwh: id === buyer ? 0.2 : 0.1 }]];
    const answering = nodes.filter((n) => n.id !== silent);
    const results = await Promise.all(answering.map((n) => runAuction(marketNodeChannel(n), book(n.id), 1, options('auction-1', 3_000))));
    // The buyer (1 kWh at ≤ 0.20) is served by the first seller in id order at (0.20 + 0.10) / 2.
    for (const result of results) {
      expect(result.trades).toEqual([{ slot: 0, buyer, seller: peers[0]!.id, energyKwh: 1, priceEurPerKwh: 0.15000000000000002 }]);
      expect(result.netKwh[silent]).toEqual([0]);
    }
  });
});

describe('leader failover', () => {
  /** The leader's proposer, calling `fail` when the leader reaches `round`. */
  const failingAt = (id: string, round: number, fail: () => void) => () => {
    const inner = proposerOf(id)();
    return { id, propose: (r) => (r.round === round && fail(), inner.propose(r)) } satisfies AdmmProposer;
  };

  /** The remaining gateways clear among themselves, all agree, and commit with no half-trade. */
  async function expectRestClearAndCommit(rest: MarketNode[], results: Clearing[]): Promise<void> {
    const local = inProcess(rest.map((n) => n.id));
    expect(local.trades.length).toBeGreaterThan(0);
    for (const result of results) expect(outcome(result)).toEqual(outcome(local));
    const cleared = fromBilateralTrades(results[0]!.trades, Date.UTC(2030, 0, 1), 1);
    // What each gateway proposed is the in-process clearing's net position (checked equal above), within clear-and-commit's price band.
    const mandate = (id: string) => {
      const { buyEurPerKwh, sellEurPerKwh } = peers.find((p) => p.id === id)!;
      const book = proposalBook(id, local.netKwh[id]!, buyEurPerKwh, sellEurPerKwh.map((sell) => sell - marketRules.p2pFeeEurPerKwh));
      return mandateFromBook(book, Date.UTC(2030, 0, 1), 1, marketRules.maxTradeKw);
    };
    const outcomes = (await Promise.all(rest.map((n, k) => n.commitTrades(fromBilateralTrades(results[k]!.trades, Date.UTC(2030, 0, 1), 1), { mandate: mandate(n.id), timeoutMs: 20_000 })))).flat();
    expect(outcomes.filter((o) => o.state !== 'committed')).toEqual([]);
    const audit = auditLedgers(rest.map((n) => n.ledger), cleared);
    expect(audit.halfTrades).toEqual([]);
    expect(audit.lostTrades).toEqual([]);
  }

  it('a leader that goes offline mid-clearing is replaced by the next id, which clears the rest from the start', async () => {
    const nodes = await startGateways();
    const [leader, ...rest] = [...nodes].sort((a, b) => (a.id < b.id ? -1 : 1)) as [MarketNode, ...MarketNode[]];
    const run = (n: MarketNode, proposer: () => () => AdmmProposer) =>
      runAdmm(marketNodeChannel(n), proposer(), price(), 1, defaultAdmmSettings, options('leader-offline', 60_000, 60_000));
    // The leader's gateway stops (its presence goes offline) in round 2; its own run then fails.
    // Not awaited: a stopped gateway's run ends with an error or not at all, as a crashed one's.
    run(leader, () => failingAt(leader.id, 2, () => void leader.stop())).catch(() => undefined);
    const results = await Promise.all(rest.map((n) => run(n, () => proposerOf(n.id))));
    await expectRestClearAndCommit(rest, results);
  });

  it('a leader that stays online but falls silent is replaced after the leader timeout', async () => {
    const nodes = await startGateways();
    const [leader, ...rest] = [...nodes].sort((a, b) => (a.id < b.id ? -1 : 1)) as [MarketNode, ...MarketNode[]];
    let muted = false;
    const channel = marketNodeChannel(leader);
    const mutable: RoundChannel = { ...channel, publish: (name, payload) => (muted ? Promise.resolve() : channel.publish(name, payload)) };
    const leaderRun = runAdmm(mutable, failingAt(leader.id, 2, () => (muted = true)), price(), 1, defaultAdmmSettings, options('leader-silent', 3_000, 4_000));
    const results = await Promise.all(rest.map((n) => runAdmm(marketNodeChannel(n), proposerOf(n.id), price(), 1, defaultAdmmSettings, options('leader-silent', 3_000, 4_000))));
    // The muted leader lost its participants: its own result trades nothing, so it commits nothing.
    expect((await leaderRun).trades).toEqual([]);
    expect(rest[0]!.isOnline(leader.id)).toBe(true);
    await expectRestClearAndCommit(rest, results);
  });
});
