/**
 * The default path of a community's day, end to end: four gateways with the real households'
 * price models clear the day with consensus-ADMM over the broker, each commits its own bilateral
 * trades through the two-phase commit, the ledgers hold them with opposite signs and survive a
 * restart, `withCommittedTrades` fixes them for the optimizer, and settlement finds no shortfall
 * when the meters read what was committed.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { clearAndCommit } from '../../src/market/clearing/clear-and-commit.ts';
import { marketRules } from '../../src/market/clearing/community.ts';
import { Prosumer } from '../../src/market/clearing/prosumer.ts';
import { roundSchemas } from '../../src/market/clearing/rounds.ts';
import { settle, withCommittedTrades, type MarketNode } from '../../src/market/index.ts';
import type { PeerTrade } from '../../src/optimizer/types.ts';
import { ChaosScene, expectAuditClean } from './chaos-scene.ts';
import { auditLedgers } from './day-fixture.ts';
import { BROKERS, embeddedBroker } from './fixtures.ts';
import { householdDay } from './clearing/households.ts';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const DAY_MS = Date.UTC(2030, 6, 15);
const SLOTS = Array.from({ length: 24 }, (_, t) => DAY_MS + t * 3_600_000);
let prosumers: Prosumer[];
const scene = new ChaosScene();

beforeAll(async () => {
  prosumers = await Promise.all((await householdDay(24)).map((p) => Prosumer.create(p, marketRules)));
});
afterEach(() => scene.cleanup());
afterAll(() => prosumers?.forEach((p) => p.dispose()));

describe.each(BROKERS)('a community of four gateways running its day over $name', ({ start }) => {
  it('clears with ADMM, commits every cleared trade on both sides, and keeps them across a restart', async () => {
    const peerIds = prosumers.map((p) => p.profile.id);
    const { broker, community } = await scene.setUp(start, peerIds);
    const nodes = await Promise.all(peerIds.map((id) => community.startNode(id, broker.url, { roundSchemas })));
    await scene.allOnline(nodes);

    const options = { clearing: 'day-1', peerIds, roundTimeoutMs: 30_000, dayStartMs: DAY_MS, rules: marketRules, commitTimeoutMs: 20_000 };
    const days = await Promise.all(nodes.map((node, k) => clearAndCommit(node, prosumers[k]!, options)));
    const cleared = days[0]!.trades;
    expect(days[0]!.clearing).toMatchObject({ mode: 'admm', converged: true });
    expect(cleared.length).toBeGreaterThan(5);
    for (const day of days) expect(day.trades).toEqual(cleared);
    expect(days.flatMap((d) => d.outcomes).filter((o) => o.state !== 'committed')).toEqual([]);
    expectAuditClean(nodes, cleared);

    const before = nodes.map((n) => withCommittedTrades(optimizerPeers(n.id, peerIds), n.ledger, SLOTS));
    expectOppositeSigns(before, peerIds);
    expectNoShortfallWhenMeteredToPlan(nodes, cleared[0]!.slotStartMs);

    await Promise.all(nodes.map((n) => n.stop()));
    const restarted = await Promise.all(peerIds.map((id) => community.startNode(id, broker.url, { roundSchemas })));
    expect(auditLedgers(restarted.map((n) => n.ledger), cleared)).toMatchObject({ halfTrades: [], lostTrades: [] });
    expect(restarted.map((n) => withCommittedTrades(optimizerPeers(n.id, peerIds), n.ledger, SLOTS))).toEqual(before);
  });
});

describe('the auction as the simple mode of the same path', () => {
  it('clears by pay-as-clear auction, and every gateway commits the same trades on both sides', async () => {
    const peerIds = prosumers.map((p) => p.profile.id);
    const { broker, community } = await scene.setUp(embeddedBroker, peerIds);
    const nodes = await Promise.all(peerIds.map((id) => community.startNode(id, broker.url, { roundSchemas })));
    await scene.allOnline(nodes);

    const options = { clearing: 'day-auction', mode: 'auction' as const, peerIds, roundTimeoutMs: 30_000, dayStartMs: DAY_MS, rules: marketRules, commitTimeoutMs: 20_000 };
    const days = await Promise.all(nodes.map((node, k) => clearAndCommit(node, prosumers[k]!, options)));
    expect(days[0]!.clearing.mode).toBe('auction');
    expect(days[0]!.trades.length).toBeGreaterThan(0);
    for (const day of days) expect(day.trades).toEqual(days[0]!.trades);
    expect(days.flatMap((d) => d.outcomes).filter((o) => o.state !== 'committed')).toEqual([]);
    expectAuditClean(nodes, days[0]!.trades);
  });
});

/** The optimizer's view of the other gateways, before anything is committed. */
function optimizerPeers(selfId: string, peerIds: string[]): PeerTrade[] {
  return peerIds.filter((id) => id !== selfId).map((peerId) => ({ peerId, priceEurPerKwh: SLOTS.map(() => 0.2), maxKw: 11 }));
}

/** x_{m,t} seen from n is −x_{n,t} seen from m, and some trade is fixed. */
function expectOppositeSigns(perNode: PeerTrade[][], peerIds: string[]): void {
  let fixed = 0;
  perNode.forEach((peers, n) => {
    for (const peer of peers) {
      const mirror = perNode[peerIds.indexOf(peer.peerId)]!.find((p) => p.peerId === peerIds[n])!;
      expect(peer.committedKw ?? SLOTS.map(() => null)).toEqual((mirror.committedKw ?? SLOTS.map(() => null)).map((kw) => (kw === null ? null : -kw)));
      fixed += (peer.committedKw ?? []).filter((kw) => kw !== null).length;
    }
  });
  expect(fixed).toBeGreaterThan(0);
}

/** Meters that read exactly the committed trades (hourly slots: kW = kWh) settle with no shortfall. */
function expectNoShortfallWhenMeteredToPlan(nodes: MarketNode[], slotStartMs: number): void {
  const inSlot = (node: MarketNode) => node.ledger.committed().filter((t) => t.slotStartMs === slotStartMs);
  const metered = Object.fromEntries(nodes.map((n) => [n.id, -inSlot(n).reduce((sum, t) => sum + n.ledger.signedKw(t), 0)]));
  const trades = [...new Map(nodes.flatMap(inSlot).map((t) => [t.tradeId, t])).values()];
  const settlements = settle(trades, metered, { gridFeeEurPerKwh: 0.09, realtimeBuyEurPerKwh: 0.4 });
  expect(settlements.length).toBeGreaterThan(0);
  for (const s of settlements) {
    expect(s.sellerShortfallKwh).toBeCloseTo(0, 9);
    expect(s.buyerShortfallKwh).toBeCloseTo(0, 9);
  }
}
