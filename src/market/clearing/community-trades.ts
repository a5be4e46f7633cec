/**
 * P2P trades of a community clearing (formulation.md §8: "P2P trades x_nm = −x_mn are a split of
 * the households' net community positions"). The sharing clearing fixes each household's net
 * import per slot; behind one connection point, what one household exports while another imports
 * is energy they exchange. A household offers its position up to its trade limit; in each slot the
 * matched energy V = min(Σ offered exports, Σ offered imports) is split pro rata on both sides: seller i sells V·s_i/S, buyer j buys V·b_j/B, and the pair (i, j) trades
 * V·s_i·b_j/(S·B). So no household trades more than its own planned position, and every trade is
 * one record both parties hold with opposite signs.
 *
 * One price per slot, the midpoint of the range every matched party accepts: sellers never sell
 * below their own floor (what the grid pays them), buyers never pay more than their ceiling (the
 * grid's price less the local-trade fee). A slot whose floors and ceilings do not overlap clears
 * nothing. The midpoint splits the saving of trading locally equally between the two sides.
 */
import type { Mandate } from '../mandate.ts';
import { mandateFromBook, proposalBook } from './mandate.ts';
import type { BilateralTrade } from './types.ts';

/** What a household accepts per slot (EUR/kWh, fee excluded): it buys at most at the ceiling, sells at least at the floor, and trades at most `maxTradeKw` a slot with all neighbours together. */
export interface Reservation {
  maxBuyEurPerKwh: number[];
  minSellEurPerKwh: number[];
  maxTradeKw: number;
}

/** Net positions this small (kWh per slot) are solver dust, not an offer. */
const DUST_KWH = 1e-6;

/**
 * `netKwh[n][t]`: household `peerIds[n]`'s cleared net import in slot t (kWh, + imports) of
 * `stepHours[t]` hours; a
 * household without a reservation (null) takes no part in trading. Returns the trades and the
 * price per slot (NaN where nothing cleared).
 */
export function splitNetPositions(peerIds: readonly string[], netKwh: readonly (readonly number[])[], reservations: readonly (Reservation | null)[], stepHours: readonly number[]): { trades: BilateralTrade[]; priceEurPerKwh: number[] } {
  const slots = stepHours.length;
  const trades: BilateralTrade[] = [];
  const priceEurPerKwh = new Array<number>(slots).fill(Number.NaN);
  for (let t = 0; t < slots; t++) {
    const sellers: { n: number; kwh: number }[] = [];
    const buyers: { n: number; kwh: number }[] = [];
    netKwh.forEach((net, n) => {
      const reservation = reservations[n];
      const position = net[t] ?? 0;
      if (!reservation || !Number.isFinite(position)) return;
      const kwh = Math.min(Math.abs(position), reservation.maxTradeKw * stepHours[t]!);
      if (kwh <= DUST_KWH) return;
      (position < 0 ? sellers : buyers).push({ n, kwh });
    });
    if (sellers.length === 0 || buyers.length === 0) continue;
    const floor = Math.max(...sellers.map((s) => reservations[s.n]!.minSellEurPerKwh[t]!));
    const ceiling = Math.min(...buyers.map((b) => reservations[b.n]!.maxBuyEurPerKwh[t]!));
    if (!(floor <= ceiling)) continue;
    const price = (floor + ceiling) / 2;
    const sold = sellers.reduce((sum, s) => sum + s.kwh, 0);
    const bought = buyers.reduce((sum, b) => sum + b.kwh, 0);
    const matched = Math.min(sold, bought);
    priceEurPerKwh[t] = price;
    for (const s of sellers) {
      for (const b of buyers) {
        trades.push({ slot: t, seller: peerIds[s.n]!, buyer: peerIds[b.n]!, energyKwh: (matched * s.kwh * b.kwh) / (sold * bought), priceEurPerKwh: price });
      }
    }
  }
  return { trades, priceEurPerKwh };
}

/**
 * What a household offered a community clearing, as the commit's mandate: its own cleared net
 * import (kW per step of `stepHours` from `startMs`) at its own prices and trade limit. Whatever
 * the leader's result says, it commits nothing beyond this.
 */
export function communityMandate(peerId: string, netKw: readonly number[], reservation: Reservation, startMs: number, stepHours: number): Mandate {
  const book = proposalBook(peerId, netKw.map((kw) => kw * stepHours), reservation.maxBuyEurPerKwh, reservation.minSellEurPerKwh);
  return mandateFromBook(book, startMs, stepHours, reservation.maxTradeKw);
}
