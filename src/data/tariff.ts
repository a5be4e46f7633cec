/**
 * The German dynamic retail tariff of ../shared/docs/evaluation.md, built from day-ahead prices.
 */
import { HOUR_MS, valueAt, type PriceSeries } from './households.ts';

export const tariffParams = {
  gridFeesEurPerKwh: 0.18,
  vatFactor: 1.19,
  feedInEurPerKwh: 0.08,
  realtimeBuyAdderEurPerKwh: 0.1,
  realtimeSellDiscountEurPerKwh: 0.04,
  demandChargeEurPerKwDay: 0.5,
  p2pGridFeeEurPerKwh: 0.09,
} as const;

export interface HourTariff {
  buyEurPerKwh: number;
  sellEurPerKwh: number;
  realtimeBuyEurPerKwh: number;
  realtimeSellEurPerKwh: number;
}

export function hourTariff(dayAheadEurPerMwh: number): HourTariff {
  const buyEurPerKwh = (dayAheadEurPerMwh / 1000 + tariffParams.gridFeesEurPerKwh) * tariffParams.vatFactor;
  const sellEurPerKwh = tariffParams.feedInEurPerKwh;
  return {
    buyEurPerKwh,
    sellEurPerKwh,
    realtimeBuyEurPerKwh: buyEurPerKwh + tariffParams.realtimeBuyAdderEurPerKwh,
    realtimeSellEurPerKwh: sellEurPerKwh - tariffParams.realtimeSellDiscountEurPerKwh,
  };
}

/** What a buyer pays for a local P2P trade on top of the market price (the seller gets the price). */
export function p2pBuyerPriceEurPerKwh(marketPriceEurPerKwh: number): number {
  return marketPriceEurPerKwh + tariffParams.p2pGridFeeEurPerKwh;
}

/** The tariff for `hours` consecutive hours from `startMs`, in the optimizer's array form. */
export function tariffWindow(prices: PriceSeries, startMs: number, hours: number) {
  const window = { buyEurPerKwh: [] as number[], sellEurPerKwh: [] as number[], realtimeBuyEurPerKwh: [] as number[], realtimeSellEurPerKwh: [] as number[] };
  for (let k = 0; k < hours; k++) {
    const dayAhead = valueAt(prices.dayAheadEurPerMwh, prices.startMs, startMs + k * HOUR_MS);
    if (Number.isNaN(dayAhead)) throw new Error(`no day-ahead price for ${new Date(startMs + k * HOUR_MS).toISOString()} in ${prices.file}`);
    const t = hourTariff(dayAhead);
    window.buyEurPerKwh.push(t.buyEurPerKwh);
    window.sellEurPerKwh.push(t.sellEurPerKwh);
    window.realtimeBuyEurPerKwh.push(t.realtimeBuyEurPerKwh);
    window.realtimeSellEurPerKwh.push(t.realtimeSellEurPerKwh);
  }
  return window;
}
