import type { TradeTerms } from './ledger.ts';

export interface SettlementPrices {
  /** Grid fee on P2P energy, paid by the buyer (evaluation.md: 0.09 EUR/kWh). */
  gridFeeEurPerKwh: number;
  /** π⁺ of the slot: what a buyer pays the grid for energy its seller did not deliver. */
  realtimeBuyEurPerKwh: number;
}

export interface TradeSettlement {
  tradeId: string;
  contractedKwh: number;
  /** Contracted energy the seller did not inject: the buyer took it from the grid. */
  sellerShortfallKwh: number;
  /** Energy the seller injected that the buyer did not draw: it flowed on to the grid. */
  buyerShortfallKwh: number;
  /** What the buyer pays for: everything the seller injected (take-or-pay for the buyer's part). */
  paidKwh: number;
  buyerPaysEur: number;
  sellerReceivesEur: number;
  /**
   * The seller's compensation to the buyer for the shortfall it caused: the extra the buyer
   * paid the grid at π⁺ over the trade price plus fee (never negative).
   */
  sellerPenaltyEur: number;
}

/**
 * Settles one slot's committed trades against metered energy. `meteredExportKwh` is each
 * peer's net energy through its grid meter over the slot (+ export, − import). A seller whose
 * export falls short of what it sold, or a buyer whose import falls short of what it bought,
 * is scaled down pro rata over its trades; the shortfall is attributed to the seller first
 * (energy that never arrived), and the buyer carries only what the seller did inject and the
 * buyer did not draw. Pure: the same inputs always give the same settlement.
 */
export function settle(
  trades: TradeTerms[],
  meteredExportKwh: Record<string, number>,
  prices: SettlementPrices,
): TradeSettlement[] {
  const soldKwh = new Map<string, number>();
  const boughtKwh = new Map<string, number>();
  for (const trade of trades) {
    soldKwh.set(trade.seller, (soldKwh.get(trade.seller) ?? 0) + contracted(trade));
    boughtKwh.set(trade.buyer, (boughtKwh.get(trade.buyer) ?? 0) + contracted(trade));
  }
  const share = (peerId: string, promisedKwh: number, direction: 1 | -1): number => {
    const metered = meteredExportKwh[peerId];
    if (metered === undefined || !Number.isFinite(metered)) throw new Error(`no metered energy for ${peerId}`);
    return promisedKwh > 0 ? Math.min(1, Math.max(0, direction * metered) / promisedKwh) : 1;
  };
  return trades.map((trade) => {
    const contractedKwh = contracted(trade);
    const sellerShare = share(trade.seller, soldKwh.get(trade.seller)!, 1);
    const buyerShare = share(trade.buyer, boughtKwh.get(trade.buyer)!, -1);
    const sellerShortfallKwh = contractedKwh * (1 - sellerShare);
    const buyerShortfallKwh = contractedKwh * Math.max(0, sellerShare - buyerShare);
    const paidKwh = contractedKwh - sellerShortfallKwh;
    const extraEurPerKwh = Math.max(0, prices.realtimeBuyEurPerKwh - trade.priceEurPerKwh - prices.gridFeeEurPerKwh);
    return {
      tradeId: trade.tradeId,
      contractedKwh,
      sellerShortfallKwh,
      buyerShortfallKwh,
      paidKwh,
      buyerPaysEur: paidKwh * (trade.priceEurPerKwh + prices.gridFeeEurPerKwh),
      sellerReceivesEur: paidKwh * trade.priceEurPerKwh,
      sellerPenaltyEur: sellerShortfallKwh * extraEurPerKwh,
    };
  });
}

function contracted(trade: TradeTerms): number {
  return trade.powerKw * (trade.slotMinutes / 60);
}

/** A peer's side of a slot's settlement. */
export interface PeerPosition {
  /** P2P energy it took over its meter (kWh, + bought, − sold): what it paid for, less what it did not draw. */
  energyKwh: number;
  /** What it paid its peers (EUR, − = earned), fees and shortfall penalties included. */
  paidEur: number;
}

/** Each peer's position from a slot's trades and their settlements (in the same order), the peers without trades left out. */
export function peerPositions(trades: readonly TradeTerms[], settlements: readonly TradeSettlement[]): Map<string, PeerPosition> {
  const positions = new Map<string, PeerPosition>();
  const of = (peerId: string): PeerPosition => {
    let p = positions.get(peerId);
    if (!p) positions.set(peerId, (p = { energyKwh: 0, paidEur: 0 }));
    return p;
  };
  settlements.forEach((s, k) => {
    const { seller, buyer } = trades[k]!;
    of(seller).energyKwh -= s.paidKwh;
    of(seller).paidEur -= s.sellerReceivesEur - s.sellerPenaltyEur;
    of(buyer).energyKwh += s.paidKwh - s.buyerShortfallKwh;
    of(buyer).paidEur += s.buyerPaysEur - s.sellerPenaltyEur;
  });
  return positions;
}
