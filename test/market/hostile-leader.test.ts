/**
 * A member with a valid key that dictates trades: it publishes a signed `clearing-result` for a
 * clearing it is not part of (the clearing id is predictable), or it leads a clearing it is part
 * of and publishes a result that is not the clearing of the books. Neither makes a gateway
 * commit anything its own order book did not offer. Real gateways on both real brokers.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { OrderBook } from '../../src/market/clearing/auction.ts';
import { mandateFromBook } from '../../src/market/clearing/mandate.ts';
import { marketNodeChannel, roundSchemas, runAuction, type RoundChannel } from '../../src/market/clearing/rounds.ts';
import { fromBilateralTrades, type MarketNode } from '../../src/market/index.ts';
import { BROKERS, TestCommunity, type TestBroker } from './fixtures.ts';

vi.setConfig({ testTimeout: 60_000 });

const HOUR_MS = 3_600_000;
/** A slot a little ahead, as a running market clears it. */
const dayStartMs = () => (Math.floor(Date.now() / HOUR_MS) + 2) * HOUR_MS;
const MAX_TRADE_KW = 10;
/** bob bids to buy 1 kWh at up to 0.30 EUR/kWh; carol offers nothing. */
const books: Record<string, OrderBook> = {
  bob: [[{ peerId: 'bob', side: 'buy', energyKwh: 1, priceEurPerKwh: 0.3 }]],
  carol: [[]],
};
/** What the attacker wants: carol sells bob 9000 kWh at 0.29 EUR/kWh (a price bob would pay, for 9000 times what he asked). */
const dictated: [number, string, string, number][] = [[0, 'bob', 'carol', 9_000]];
const resultPayload = (clearing: string) => ({ clearing, mode: 'auction', part: 0, parts: 1, rounds: 1, converged: true, participants: ['bob', 'carol'], priceEurPerKwh: [0.29], trades: dictated });

let broker: TestBroker | undefined;
let community: TestCommunity | undefined;
afterEach(async () => {
  await community?.close(broker?.url);
  await broker?.close();
  community = undefined;
  broker = undefined;
});

async function gateways(start: () => Promise<TestBroker>, ids: string[]): Promise<MarketNode[]> {
  broker = await start();
  community = new TestCommunity(ids);
  return Promise.all(ids.map((id) => community!.startNode(id, broker!.url, { roundSchemas })));
}

/** Clears with `runAuction` (or the given channel) and commits the result like the market loop: against the gateway's own book. */
async function clearAndCommit(node: MarketNode, clearing: string, peerIds: string[], channel: RoundChannel = marketNodeChannel(node), book: OrderBook = books[node.id] ?? [[]]) {
  const result = await runAuction(channel, book, 1, { clearing, peerIds, roundTimeoutMs: 3_000 });
  const trades = fromBilateralTrades(result.trades, dayStartMs(), 1);
  const outcomes = await node.commitTrades(trades, { mandate: mandateFromBook(book, dayStartMs(), 1, MAX_TRADE_KW), timeoutMs: 5_000 });
  return { result, outcomes };
}

describe.each(BROKERS)('a hostile member over $name', ({ start }) => {
  it('a member that claims to lead a clearing it is not part of cannot make two gateways trade', async () => {
    // zed sorts above both participants: before the fix, every participant followed it.
    const [bob, carol, zed] = await gateways(start, ['bob', 'carol', 'zed']);
    const clearing = 'window-1';
    const flood = setInterval(() => zed!.publish('round', { name: 'clearing-result', payload: resultPayload(clearing) }).catch(() => undefined), 20);
    try {
      const [atBob, atCarol] = await Promise.all([clearAndCommit(bob!, clearing, ['bob', 'carol']), clearAndCommit(carol!, clearing, ['bob', 'carol'])]);
      // The real auction: bob bids, nobody offers, nothing trades.
      expect(atBob.result.trades).toEqual([]);
      expect(atCarol.result.trades).toEqual([]);
    } finally {
      clearInterval(flood);
    }
    // Even handed the dictated trades directly (as the market loop used to commit them), neither gateway commits.
    const trades = fromBilateralTrades(dictated.map(([slot, buyer, seller, energyKwh]) => ({ slot, buyer, seller, energyKwh, priceEurPerKwh: 0.29 })), dayStartMs(), 1);
    const outcomes = await Promise.all([bob!, carol!].map((n) => n.commitTrades(trades, { mandate: mandateFromBook(books[n.id]!, dayStartMs(), 1, MAX_TRADE_KW), timeoutMs: 2_000 })));
    expect(outcomes.flat().map((o) => o.state)).toEqual(['refused', 'refused']);
    for (const node of [bob!, carol!, zed!]) expect(node.ledger.entriesList(), `${node.id}'s ledger`).toEqual([]);
  });

  it('a participant that is not the leader is not followed when it claims to lead: the others get the real auction and commit it', async () => {
    const [bob, carol, zed] = await gateways(start, ['bob', 'carol', 'zed']);
    const clearing = 'window-3';
    const peerIds = ['bob', 'carol', 'zed'];
    // carol now offers 1 kWh at 0.10: the real auction trades it to bob at (0.30 + 0.10) / 2.
    const carolBook: OrderBook = [[{ peerId: 'carol', side: 'sell', energyKwh: 1, priceEurPerKwh: 0.1 }]];
    const claim = { ...resultPayload(clearing), participants: peerIds };
    const flood = setInterval(() => {
      zed!.publish('round', { name: 'auction-open', payload: { clearing } }).catch(() => undefined);
      zed!.publish('round', { name: 'clearing-result', payload: claim }).catch(() => undefined);
    }, 20);
    try {
      const [atBob, atCarol] = await Promise.all([clearAndCommit(bob!, clearing, peerIds), clearAndCommit(carol!, clearing, peerIds, marketNodeChannel(carol!), carolBook)]);
      for (const { result } of [atBob, atCarol]) expect(result.trades).toEqual([{ slot: 0, buyer: 'bob', seller: 'carol', energyKwh: 1, priceEurPerKwh: 0.2 }]);
      expect(atBob.outcomes.map((o) => o.state)).toEqual(['committed']);
    } finally {
      clearInterval(flood);
    }
    expect(bob!.ledger.committedKw('carol', [dayStartMs()])).toEqual([1]);
    expect(carol!.ledger.committedKw('bob', [dayStartMs()])).toEqual([-1]);
  });

  it('a participant that leads and publishes a result that is not the auction of the books is refused by the others', async () => {
    // ann leads (lowest id) and replaces the clearing's result with the dictated trades.
    const [ann, bob, carol] = await gateways(start, ['ann', 'bob', 'carol']);
    const honest = marketNodeChannel(ann!);
    const lying: RoundChannel = {
      ...honest,
      publish: (name, payload) => honest.publish(name, name === 'clearing-result' ? { ...resultPayload('window-2'), participants: ['ann', 'bob', 'carol'] } : payload),
    };
    const peerIds = ['ann', 'bob', 'carol'];
    const [, atBob, atCarol] = await Promise.allSettled([
      clearAndCommit(ann!, 'window-2', peerIds, lying),
      clearAndCommit(bob!, 'window-2', peerIds),
      clearAndCommit(carol!, 'window-2', peerIds),
    ]);
    for (const refused of [atBob, atCarol]) {
      expect(refused.status).toBe('rejected');
      expect(String((refused as PromiseRejectedResult).reason)).toMatch(/result of ann is refused: it is not the auction of the order books of ann, bob, carol/);
    }
    for (const node of [ann!, bob!, carol!]) expect(node.ledger.committed(), `${node.id}'s committed trades`).toEqual([]);
  });
});
