/**
 * The German dynamic retail tariff of ../shared/docs/evaluation.md, built from day-ahead prices.
 * The formula is fixed; its parameters are the evaluation's by default and a gateway's own
 * (gateway.yaml `tariff`) at runtime.
 */
import { hourlyMeans, valueAt, type PriceSeries } from './households.ts';

export interface TariffParams {
  gridFeesEurPerKwh: number;
  vatFactor: number;
  feedInEurPerKwh: number;
  realtimeBuyAdderEurPerKwh: number;
  realtimeSellDiscountEurPerKwh: number;
  demandChargeEurPerKwDay: number;
  p2pGridFeeEurPerKwh: number;
}

/** The evaluation scenario's values. */
export const tariffParams: Readonly<TariffParams> = {
  gridFeesEurPerKwh: 0.18,
  vatFactor: 1.19,
  feedInEurPerKwh: 0.08,
  realtimeBuyAdderEurPerKwh: 0.1,
  realtimeSellDiscountEurPerKwh: 0.04,
  demandChargeEurPerKwDay: 0.5,
  p2pGridFeeEurPerKwh: 0.09,
};

export interface HourTariff {
  buyEurPerKwh: number;
  sellEurPerKwh: number;
  realtimeBuyEurPerKwh: number;
  realtimeSellEurPerKwh: number;
}

/** The optimizer's tariff arrays (one entry per step). */
export interface TariffArrays {
  buyEurPerKwh: number[];
  sellEurPerKwh: number[];
  realtimeBuyEurPerKwh: number[];
  realtimeSellEurPerKwh: number[];
}

export function hourTariff(dayAheadEurPerMwh: number, params: TariffParams = tariffParams): HourTariff {
  const buyEurPerKwh = (dayAheadEurPerMwh / 1000 + params.gridFeesEurPerKwh) * params.vatFactor;
  const sellEurPerKwh = params.feedInEurPerKwh;
  return {
    buyEurPerKwh,
    sellEurPerKwh,
    realtimeBuyEurPerKwh: buyEurPerKwh + params.realtimeBuyAdderEurPerKwh,
    realtimeSellEurPerKwh: sellEurPerKwh - params.realtimeSellDiscountEurPerKwh,
  };
}

/** What a buyer pays for a local P2P trade on top of the market price (the seller gets the price). */
export function p2pBuyerPriceEurPerKwh(marketPriceEurPerKwh: number): number {
  return marketPriceEurPerKwh + tariffParams.p2pGridFeeEurPerKwh;
}

/**
 * The tariff over consecutive steps from `startMs` (`stepHours` long each): every price is the
 * time-weighted mean over the hours the step covers, so a 15-minute step pays its hour's price and
 * a 2-hour step the mean of its two hours.
 */
export function stepTariff(dayAheadEurPerMwh: (hourStartMs: number) => number, startMs: number, stepHours: readonly number[], params: TariffParams = tariffParams): TariffArrays {
  const hourly = new Map<number, HourTariff>();
  const at = (hourStartMs: number): HourTariff => {
    let t = hourly.get(hourStartMs);
    if (t === undefined) hourly.set(hourStartMs, (t = hourTariff(dayAheadEurPerMwh(hourStartMs), params)));
    return t;
  };
  const mean = (field: keyof HourTariff) => hourlyMeans((h) => at(h)[field], startMs, stepHours);
  return { buyEurPerKwh: mean('buyEurPerKwh'), sellEurPerKwh: mean('sellEurPerKwh'), realtimeBuyEurPerKwh: mean('realtimeBuyEurPerKwh'), realtimeSellEurPerKwh: mean('realtimeSellEurPerKwh') };
}

/** The evaluation's tariff for `hours` consecutive hours from `startMs`; an hour without a price is an error. */
export function tariffWindow(prices: PriceSeries, startMs: number, hours: number): TariffArrays {
  const dayAhead = (hourStartMs: number): number => {
    const price = valueAt(prices.dayAheadEurPerMwh, prices.startMs, hourStartMs);
    if (Number.isNaN(price)) throw new Error(`no day-ahead price for ${new Date(hourStartMs).toISOString()} in ${prices.file}`);
    return price;
  };
  return stepTariff(dayAhead, startMs, new Array<number>(hours).fill(1));
}
