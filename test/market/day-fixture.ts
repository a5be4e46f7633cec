/**
 * A community day for the protocol tests: fixed order books (two PV sellers at midday, two
 * buyers), cleared by the clearing layer's pay-as-clear auction, and the ledger invariants
 * the chaos tests assert.
 */
import { clearAuction, type Order, type OrderBook } from '../../src/market/clearing/auction.ts';
import { mandateFromBook } from '../../src/market/clearing/mandate.ts';
import { fromBilateralTrades, type ClearedTrade, type Ledger, type Mandate } from '../../src/market/index.ts';
import { sameTerms, type TradeTerms } from '../../src/market/ledger.ts';

export type Peers = [string, string, string, string];

export function fixedOrderBooks(peerIds: Peers, slots: number): Map<string, OrderBook> {
  const [p0, p1, p2, p3] = peerIds;
  const books = new Map<string, OrderBook>(peerIds.map((id) => [id, []]));
  for (let slot = 0; slot < slots; slot++) {
    const sun = Math.max(0, Math.sin(((slot - 6) / 12) * Math.PI));
    const orders: Order[] =
      sun <= 0.05
        ? []
        : [
            { peerId: p0, side: 'sell', energyKwh: round(3 * sun), priceEurPerKwh: 0.1 },
            { peerId: p1, side: 'sell', energyKwh: round(2 * sun), priceEurPerKwh: 0.12 },
            { peerId: p2, side: 'buy', energyKwh: round(2.5 * sun), priceEurPerKwh: 0.25 },
            { peerId: p3, side: 'buy', energyKwh: 1.5, priceEurPerKwh: 0.2 },
          ];
    for (const id of peerIds) books.get(id)!.push(orders.filter((o) => o.peerId === id));
  }
  return books;
}

/** Hourly slots: the auction's trades as the commit's terms. */
export function clearDay(peerIds: readonly string[], books: ReadonlyMap<string, OrderBook>, dayStartMs: number, slots: number): ClearedTrade[] {
  return fromBilateralTrades(clearAuction(peerIds, books, slots).trades, dayStartMs, 1);
}

/** The most any test gateway trades in one slot (kW). */
export const MAX_TRADE_KW = 10;

/** What `peerId` offered the day: its own order book, hourly slots from `dayStartMs`. */
export function bookMandate(peerId: string, books: ReadonlyMap<string, OrderBook>, dayStartMs: number): Mandate {
  return mandateFromBook(books.get(peerId)!, dayStartMs, 1, MAX_TRADE_KW);
}

/**
 * For the tests of the commit itself, where the trades are given: `selfId` offered exactly its
 * side of each of them (a seller at least its price, a buyer at most its price).
 */
export function tradesMandate(selfId: string, trades: readonly ClearedTrade[]): Mandate {
  const orders = trades
    .filter((t) => t.seller === selfId || t.buyer === selfId)
    .map((t) => ({ slotStartMs: t.slotStartMs, slotMinutes: t.slotMinutes, side: t.seller === selfId ? ('sell' as const) : ('buy' as const), powerKw: t.powerKw, priceEurPerKwh: t.priceEurPerKwh }));
  return { maxTradeKw: MAX_TRADE_KW, orders };
}

function round(kwh: number): number {
  return Math.round(kwh * 1000) / 1000;
}

export interface LedgerAudit {
  halfTrades: string[];
  lostTrades: ClearedTrade[];
  /**
   * Per slot start, Σ over trades of (Σ over both ledgers of the trade's signed power): exactly
   * 0 when every trade is x_nm = −x_mn (summed per trade first, so float order cannot hide a gap).
   */
  imbalanceKwBySlot: Map<number, number>;
}

/**
 * Every committed trade is committed, with the same terms, in both parties' ledgers; every
 * cleared trade was committed; reciprocity per slot.
 */
export function auditLedgers(ledgers: Ledger[], cleared: ClearedTrade[]): LedgerAudit {
  const bySelf = new Map(ledgers.map((l) => [l.selfId, l]));
  const halfTrades: string[] = [];
  const perTrade = new Map<string, { slotStartMs: number; sumKw: number }>();
  for (const ledger of ledgers) {
    for (const trade of ledger.committed()) {
      const other = bySelf.get(trade.seller === ledger.selfId ? trade.buyer : trade.seller);
      const mirror = other?.get(trade.tradeId);
      if (mirror?.state !== 'committed' || !sameTerms(mirror.trade, trade)) halfTrades.push(trade.tradeId);
      const sum = perTrade.get(trade.tradeId) ?? { slotStartMs: trade.slotStartMs, sumKw: 0 };
      sum.sumKw += ledger.signedKw(trade);
      perTrade.set(trade.tradeId, sum);
    }
  }
  const imbalanceKwBySlot = new Map<number, number>();
  for (const { slotStartMs, sumKw } of perTrade.values()) imbalanceKwBySlot.set(slotStartMs, (imbalanceKwBySlot.get(slotStartMs) ?? 0) + sumKw);
  const lostTrades = cleared.filter(
    (c) =>
      !bySelf
        .get(c.seller)
        ?.committed()
        .some((t) => t.buyer === c.buyer && t.slotStartMs === c.slotStartMs && t.powerKw === c.powerKw && t.priceEurPerKwh === c.priceEurPerKwh),
  );
  return { halfTrades, lostTrades, imbalanceKwBySlot };
}

/** The slot the unit tests trade in. */
export const TEST_SLOT_MS = 1_800_000_000_000;

/** A trade's terms for the unit tests: one hour from `TEST_SLOT_MS` at 0.20 EUR/kWh unless `slotMinutes` says otherwise. */
export function tradeTerms(tradeId: string, seller: string, buyer: string, powerKw = 1, slotMinutes = 60): TradeTerms {
  return { tradeId, offerId: `offer-${tradeId}`, seller, buyer, slotStartMs: TEST_SLOT_MS, slotMinutes, powerKw, priceEurPerKwh: 0.2 };
}
