/**
 * What a peer offered a clearing, as the commit's mandate (`MarketNode.commitTrades`): whoever
 * computed the result, a peer commits only trades inside what it bid or proposed itself.
 */
import type { Mandate } from '../mandate.ts';
import type { Order, OrderBook } from './auction.ts';

/** A peer's order book (energy per slot of `stepHours` from `dayStartMs`) as a mandate. */
export function mandateFromBook(book: OrderBook, dayStartMs: number, stepHours: number, maxTradeKw: number): Mandate {
  const slotMinutes = Math.round(stepHours * 60);
  return {
    maxTradeKw,
    orders: book.flatMap((orders, slot) =>
      orders.map((o) => ({ slotStartMs: dayStartMs + slot * slotMinutes * 60_000, slotMinutes, side: o.side, powerKw: o.energyKwh / stepHours, priceEurPerKwh: o.priceEurPerKwh })),
    ),
  };
}

/**
 * An ADMM participant's last proposal (kWh per slot, + buy) as an order book: the clearing only
 * scales the long side down, so a peer's trades never exceed its proposal. The price limits per
 * slot are the peer's own: it never buys from a neighbour above `maxBuyEurPerKwh` (the grid is
 * cheaper) nor sells below `minSellEurPerKwh` (feed-in pays more).
 */
export function proposalBook(peerId: string, tradeKwh: readonly number[], maxBuyEurPerKwh: readonly number[], minSellEurPerKwh: readonly number[]): OrderBook {
  return tradeKwh.map((kwh, t): Order[] => {
    if (kwh > 0) return [{ peerId, side: 'buy', energyKwh: kwh, priceEurPerKwh: maxBuyEurPerKwh[t]! }];
    if (kwh < 0) return [{ peerId, side: 'sell', energyKwh: -kwh, priceEurPerKwh: minSellEurPerKwh[t]! }];
    return [];
  });
}
