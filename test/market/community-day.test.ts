/**
 * Four gateways clear a day end to end over the protocol: each publishes its order book as a
 * signed `round` message, each runs the clearing layer's auction on the books it received
 * (all get the same trades), and they commit those trades with each other.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { OrderBook } from '../../src/market/clearing/auction.ts';
import { settle, type ClearedTrade, type Envelope, type MarketNode } from '../../src/market/index.ts';
import { BROKERS, TestCommunity, eventually, type TestBroker } from './fixtures.ts';
import { auditLedgers, clearDay, fixedOrderBooks, type Peers } from './day-fixture.ts';

const DAY_MS = Date.UTC(2030, 5, 21);
const PEERS: Peers = ['h1', 'h2', 'h3', 'h4'];
const ORDER_BOOK_ROUND = {
  type: 'object',
  properties: {
    slots: {
      type: 'array',
      maxItems: 96,
      items: {
        type: 'array',
        maxItems: 4,
        items: {
          type: 'object',
          properties: {
            side: { enum: ['buy', 'sell'] },
            energyKwh: { type: 'number', minimum: 0, maximum: 1000 },
            priceEurPerKwh: { type: 'number', minimum: -10, maximum: 10 },
          },
          required: ['side', 'energyKwh', 'priceEurPerKwh'],
          additionalProperties: false,
        },
      },
    },
  },
  required: ['slots'],
  additionalProperties: false,
};
type OrderBookPayload = { slots: { side: 'buy' | 'sell'; energyKwh: number; priceEurPerKwh: number }[][] };

describe.each(BROKERS)('a community of four gateways clearing a day over $name', ({ start }) => {
  let broker: TestBroker;
  let community: TestCommunity;

  afterEach(async () => {
    await community?.close(broker?.url);
    await broker?.close();
  });

  it('exchanges order books, clears the same trades everywhere, commits them reciprocally and settles', async () => {
    broker = await start();
    community = new TestCommunity([...PEERS]);
    const nodes = await Promise.all(PEERS.map((id) => community.startNode(id, broker.url, { roundSchemas: { 'order-book': ORDER_BOOK_ROUND } })));
    await eventually(() => nodes.every((n) => PEERS.every((p) => p === n.id || n.isOnline(p))), 'everyone online');

    const ownBooks = fixedOrderBooks(PEERS, 24);
    const received = new Map(nodes.map((n) => [n.id, new Map<string, OrderBook>([[n.id, ownBooks.get(n.id)!]])]));
    for (const node of nodes) {
      node.on('round', (envelope: Envelope<'round'>) => {
        // The sender is who signed it, whatever the payload might claim.
        const { slots } = envelope.body.payload as OrderBookPayload;
        received.get(node.id)!.set(envelope.from, slots.map((orders) => orders.map((o) => ({ ...o, peerId: envelope.from }))));
      });
    }
    for (const node of nodes) {
      const slots = ownBooks.get(node.id)!.map((orders) => orders.map(({ peerId: _peerId, ...o }) => o));
      await node.publish('round', { name: 'order-book', payload: { slots } });
    }
    await eventually(() => [...received.values()].every((books) => books.size === PEERS.length), 'every gateway has every book');

    const clearedBy = new Map<string, ClearedTrade[]>(nodes.map((n) => [n.id, clearDay(PEERS, received.get(n.id)!, DAY_MS, 24)]));
    const cleared = clearedBy.get('h1')!;
    expect(cleared.length).toBeGreaterThan(10);
    for (const trades of clearedBy.values()) expect(trades).toEqual(cleared);

    const outcomes = (await Promise.all(nodes.map((n) => n.commitTrades(clearedBy.get(n.id)!, { timeoutMs: 20_000 })))).flat();
    expect(outcomes.filter((o) => o.state !== 'committed')).toEqual([]);
    expect(outcomes).toHaveLength(2 * cleared.length);

    const audit = auditLedgers(nodes.map((n) => n.ledger), cleared);
    expect(audit.halfTrades).toEqual([]);
    expect(audit.lostTrades).toEqual([]);
    for (const imbalance of audit.imbalanceKwBySlot.values()) expect(imbalance).toBe(0);

    // What the optimizer's next solve fixes: x_{m,t} per peer, opposite on the two sides.
    const slots = Array.from({ length: 24 }, (_, t) => DAY_MS + t * 3_600_000);
    const h3FromH1 = nodes[2]!.ledger.committedKw('h1', slots);
    expect(nodes[0]!.ledger.committedKw('h3', slots)).toEqual(h3FromH1.map((kw) => (kw === null ? null : -kw)));
    expect(h3FromH1.some((kw) => kw !== null && kw > 0)).toBe(true);

    expectNoShortfallWhenMeteredToPlan(nodes, DAY_MS + 12 * 3_600_000);
  });
});

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
