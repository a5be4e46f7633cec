/**
 * Pay-as-clear double auction (in the style of gsy-e's two-sided pay-as-clear market): one
 * sealed round, one uniform price per slot.
 *
 * Order books, two ways:
 *  - `ordersFromPriceSteps` (default): the peer re-solves its day at a few uniform prices
 *    (`Prosumer.tradesAtPrice`) and turns how its wanted trade changes between price points into
 *    price-quantity steps per slot, battery re-dispatch included;
 *  - `ordersFromPlan`: one step per slot from a single plan without trading (the full
 *    optimizer's plan, once it replaces the price model): where the plan imports, the peer bids
 *    its import at its marginal value of energy minus the fee it would pay on top; where it
 *    exports, it offers its export at its marginal value.
 * Clearing walks the bids from the highest and the offers from the
 * cheapest (ties by peer id) while bid ≥ offer; the price is the midpoint of the last matched bid
 * and offer, so every matched bid pays at most its limit and every matched offer gets at least its.
 * A peer that sent no bid simply is not in the book.
 */
import { decompose, netFromTrades } from './bilateral.ts';
import type { Plan } from '../../optimizer/types.ts';
import type { AlonePlan } from './prosumer.ts';
import type { Clearing } from './types.ts';

export interface Order {
  peerId: string;
  side: 'buy' | 'sell';
  energyKwh: number;
  /** Limit price for the energy itself, fee excluded (EUR/kWh). */
  priceEurPerKwh: number;
}

/** A peer's orders for every slot (one message in a round). */
export type OrderBook = Order[][];

/** Orders below this are not worth a round trip. */
const minOrderKwh = 1e-6;

/** What a one-step order book needs from a plan, per slot, in energy (kWh) and EUR/kWh. */
export type PlanSlots = Pick<AlonePlan, 'importKwh' | 'exportKwh' | 'marginalValueEurPerKwh'>;

/** The full optimizer's plan (kW over steps of their own length) as `PlanSlots`. */
export function planSlots(plan: Pick<Plan, 'stepHours' | 'gridImportKw' | 'gridExportKw' | 'marginalValueEurPerKwh'>): PlanSlots {
  return {
    importKwh: plan.gridImportKw.map((kw, t) => kw * plan.stepHours[t]!),
    exportKwh: plan.gridExportKw.map((kw, t) => kw * plan.stepHours[t]!),
    marginalValueEurPerKwh: [...plan.marginalValueEurPerKwh],
  };
}

export function ordersFromPlan(peerId: string, plan: PlanSlots, feeEurPerKwh: number): OrderBook {
  return plan.marginalValueEurPerKwh.map((value, t) => {
    const orders: Order[] = [];
    if (plan.importKwh[t]! > minOrderKwh) orders.push({ peerId, side: 'buy', energyKwh: plan.importKwh[t]!, priceEurPerKwh: value - feeEurPerKwh });
    if (plan.exportKwh[t]! > minOrderKwh) orders.push({ peerId, side: 'sell', energyKwh: plan.exportKwh[t]!, priceEurPerKwh: value });
    return orders;
  });
}

/** What a peer wants to trade per slot (kWh, + buy) if the price were `priceEurPerKwh` all day. */
export interface PriceStep {
  priceEurPerKwh: number;
  tradeKwh: number[];
}

/**
 * Price points between feed-in and the highest price a buyer pays a neighbour before the grid
 * is cheaper (buy − fee); just above feed-in, so that selling to a neighbour is strictly better.
 */
export function pricePoints(buyEurPerKwh: readonly number[], sellEurPerKwh: readonly number[], feeEurPerKwh: number, count: number): number[] {
  const low = Math.max(...sellEurPerKwh) + 1e-4;
  const high = Math.max(low, Math.max(...buyEurPerKwh) - feeEurPerKwh);
  return Array.from({ length: count }, (_, k) => low + ((high - low) * k) / Math.max(1, count - 1));
}

/**
 * Steps sorted by price: the wanted purchase D(p) = max(q(p), 0) falls and the wanted sale
 * S(p) = max(−q(p), 0) rises with the price, so D(p_k) − D(p_k+1) is bid at p_k and
 * S(p_k) − S(p_k−1) offered at p_k.
 */
export function ordersFromPriceSteps(peerId: string, steps: readonly PriceStep[]): OrderBook {
  const sorted = [...steps].sort((a, b) => a.priceEurPerKwh - b.priceEurPerKwh);
  const slots = sorted[0]?.tradeKwh.length ?? 0;
  return Array.from({ length: slots }, (_, t) => {
    const orders: Order[] = [];
    sorted.forEach((step, k) => {
      const demand = Math.max(step.tradeKwh[t]!, 0);
      const nextDemand = k + 1 < sorted.length ? Math.max(sorted[k + 1]!.tradeKwh[t]!, 0) : 0;
      const supply = Math.max(-step.tradeKwh[t]!, 0);
      const previousSupply = k > 0 ? Math.max(-sorted[k - 1]!.tradeKwh[t]!, 0) : 0;
      if (demand - nextDemand > minOrderKwh) orders.push({ peerId, side: 'buy', energyKwh: demand - nextDemand, priceEurPerKwh: step.priceEurPerKwh });
      if (supply - previousSupply > minOrderKwh) orders.push({ peerId, side: 'sell', energyKwh: supply - previousSupply, priceEurPerKwh: step.priceEurPerKwh });
    });
    return orders;
  });
}

export interface SlotClearing {
  /** NaN when nothing matched. */
  priceEurPerKwh: number;
  /** Matched energy per peer (kWh, + bought). */
  matchedKwh: Map<string, number>;
}

export function clearSlot(orders: readonly Order[]): SlotClearing {
  for (const o of orders) {
    if (!(o.energyKwh >= 0) || !Number.isFinite(o.priceEurPerKwh)) throw new RangeError(`bad order from ${o.peerId}: ${JSON.stringify(o)}`);
  }
  const byId = (a: Order, b: Order) => (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0);
  const bids = orders.filter((o) => o.side === 'buy').sort((a, b) => b.priceEurPerKwh - a.priceEurPerKwh || byId(a, b)).map((o) => ({ ...o, left: o.energyKwh }));
  const offers = orders.filter((o) => o.side === 'sell').sort((a, b) => a.priceEurPerKwh - b.priceEurPerKwh || byId(a, b)).map((o) => ({ ...o, left: o.energyKwh }));
  const matchedKwh = new Map<string, number>();
  let lastBid = Number.NaN;
  let lastOffer = Number.NaN;
  let i = 0;
  let j = 0;
  while (i < bids.length && j < offers.length && bids[i]!.priceEurPerKwh >= offers[j]!.priceEurPerKwh) {
    const bid = bids[i]!;
    const offer = offers[j]!;
    const energyKwh = Math.min(bid.left, offer.left);
    matchedKwh.set(bid.peerId, (matchedKwh.get(bid.peerId) ?? 0) + energyKwh);
    matchedKwh.set(offer.peerId, (matchedKwh.get(offer.peerId) ?? 0) - energyKwh);
    lastBid = bid.priceEurPerKwh;
    lastOffer = offer.priceEurPerKwh;
    bid.left -= energyKwh;
    offer.left -= energyKwh;
    if (bid.left <= 0) i++;
    if (offer.left <= 0) j++;
  }
  return { priceEurPerKwh: (lastBid + lastOffer) / 2, matchedKwh };
}

/** Clears every slot of the peers' order books; peers without a book trade nothing. */
export function clearAuction(peerIds: readonly string[], books: ReadonlyMap<string, OrderBook>, slots: number): Clearing {
  const netKwh = Object.fromEntries(peerIds.map((id) => [id, new Array<number>(slots).fill(0)]));
  const priceEurPerKwh: number[] = [];
  for (let t = 0; t < slots; t++) {
    const orders = peerIds.flatMap((id) => books.get(id)?.[t] ?? []);
    const slot = clearSlot(orders);
    priceEurPerKwh.push(slot.priceEurPerKwh);
    for (const [id, kwh] of slot.matchedKwh) netKwh[id]![t] = kwh;
  }
  const trades = decompose(peerIds, netKwh, priceEurPerKwh);
  return { mode: 'auction', peerIds: [...peerIds], netKwh: netFromTrades(peerIds, slots, trades), priceEurPerKwh, trades, rounds: 1, converged: true };
}
