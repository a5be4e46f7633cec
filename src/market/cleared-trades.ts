import type { BilateralTrade } from './clearing/types.ts';
import type { ClearedTrade } from './ledger.ts';
import { POWER_KW } from './messages.ts';

/**
 * The clearing layer's trades (slot index, energy per slot) as the commit's terms (slot start,
 * constant power over the slot). Every member that ran the same clearing gets the same list.
 * Trades below the protocol's smallest power (1 W: an iterative clearing's dust) are left out,
 * by every member alike.
 */
export function fromBilateralTrades(trades: readonly BilateralTrade[], dayStartMs: number, stepHours: number): ClearedTrade[] {
  const slotMinutes = Math.round(stepHours * 60);
  return trades.filter((trade) => trade.energyKwh / stepHours >= POWER_KW.minimum).map((trade) => ({
    seller: trade.seller,
    buyer: trade.buyer,
    slotStartMs: dayStartMs + trade.slot * slotMinutes * 60_000,
    slotMinutes,
    powerKw: trade.energyKwh / stepHours,
    priceEurPerKwh: trade.priceEurPerKwh,
  }));
}
