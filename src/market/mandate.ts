import type { ClearedTrade } from './ledger.ts';

/** One thing this gateway offered a clearing: at most `powerKw` over the slot, bought at most at / sold at least at the price. */
export interface MandateOrder {
  slotStartMs: number;
  slotMinutes: number;
  side: 'buy' | 'sell';
  powerKw: number;
  /** The limit: the most a buy pays, the least a sale takes (EUR/kWh, fee excluded). */
  priceEurPerKwh: number;
}

/**
 * What a gateway agreed to trade, from its own order book or proposal: `commitTrades` commits
 * only trades inside it, whoever computed the clearing result (docs/market.md, "Threat model").
 */
export interface Mandate {
  /** The most this gateway trades in one slot, all counterparts together (kW). */
  maxTradeKw: number;
  orders: MandateOrder[];
}

/** Float slack of a clearing's sums (trades split from matched orders), far below any metered energy. */
const SLACK_KW = 1e-9;
const SLACK_EUR_PER_KWH = 1e-12;

/**
 * The trades of `selfId` that its mandate does not cover, with the reason. Per slot and side, all
 * its trades together must fit the orders whose limit their worst price meets (a seller: the orders
 * offered at or below its lowest price; a buyer: the bids at or above its highest price) and
 * `maxTradeKw`; a slot that breaks this refuses every trade of that side in it.
 */
export function outsideMandate(selfId: string, trades: readonly ClearedTrade[], mandate: Mandate): Map<ClearedTrade, string> {
  const refused = new Map<ClearedTrade, string>();
  const groups = new Map<string, { side: 'buy' | 'sell'; trades: ClearedTrade[] }>();
  for (const trade of trades) {
    if (trade.seller === trade.buyer) {
      if (trade.seller === selfId) refused.set(trade, 'a trade with itself');
      continue;
    }
    const side = trade.buyer === selfId ? 'buy' : trade.seller === selfId ? 'sell' : undefined;
    if (side === undefined) continue;
    if (!(trade.powerKw > 0) || !Number.isFinite(trade.priceEurPerKwh)) {
      refused.set(trade, 'not a positive power at a finite price');
      continue;
    }
    const key = `${trade.slotStartMs}/${trade.slotMinutes}/${side}`;
    const group = groups.get(key) ?? { side, trades: [] };
    group.trades.push(trade);
    groups.set(key, group);
  }
  for (const { side, trades: mine } of groups.values()) {
    const { slotStartMs, slotMinutes } = mine[0]!;
    const totalKw = mine.reduce((sum, t) => sum + t.powerKw, 0);
    const worstPrice = side === 'sell' ? Math.min(...mine.map((t) => t.priceEurPerKwh)) : Math.max(...mine.map((t) => t.priceEurPerKwh));
    const coveredKw = mandate.orders
      .filter((o) => o.side === side && o.slotStartMs === slotStartMs && o.slotMinutes === slotMinutes)
      .filter((o) => (side === 'sell' ? o.priceEurPerKwh <= worstPrice + SLACK_EUR_PER_KWH : o.priceEurPerKwh >= worstPrice - SLACK_EUR_PER_KWH))
      .reduce((sum, o) => sum + o.powerKw, 0);
    const limitKw = Math.min(coveredKw, mandate.maxTradeKw);
    if (totalKw <= limitKw * (1 + 1e-9) + SLACK_KW) continue;
    const reason =
      totalKw > mandate.maxTradeKw
        ? `${side === 'sell' ? 'selling' : 'buying'} ${totalKw} kW exceeds maxTradeKw ${mandate.maxTradeKw}`
        : `${side === 'sell' ? 'selling' : 'buying'} ${totalKw} kW at ${worstPrice} EUR/kWh, but only ${coveredKw} kW was ${side === 'sell' ? 'offered' : 'bid'} at that price`;
    for (const trade of mine) refused.set(trade, reason);
  }
  return refused;
}
