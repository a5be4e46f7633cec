/**
 * The CES's day-ahead price scenarios: the whole-day price profiles of the days before the one it
 * schedules (each a scenario, equally likely). Its bids close before the day's auction, so the day
 * itself is never among them; a day with a missing hour is skipped rather than patched.
 */
import { DAY_MS, HOUR_MS, valueAt, type PriceSeries } from '../data/households.ts';

/** `count` past days' 24 hourly prices (EUR/kWh), most recent first. */
export function priceScenarios(prices: PriceSeries, dayMs: number, count: number): number[][] {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`price scenarios: count must be a whole number ≥ 1 (got ${count})`);
  const scenarios: number[][] = [];
  for (let day = dayMs - DAY_MS; scenarios.length < count; day -= DAY_MS) {
    if (day < prices.startMs) throw new RangeError(`price scenarios: ${prices.file} has ${scenarios.length} full days before ${new Date(dayMs).toISOString().slice(0, 10)}, ${count} needed`);
    const profile = Array.from({ length: 24 }, (_, h) => valueAt(prices.dayAheadEurPerMwh, prices.startMs, day + h * HOUR_MS) / 1000);
    if (profile.every(Number.isFinite)) scenarios.push(profile);
  }
  return scenarios;
}

/** The day's own prices (EUR/kWh): what the committed schedule is settled at. */
export function dayPrices(prices: PriceSeries, dayMs: number): number[] {
  return Array.from({ length: 24 }, (_, h) => {
    const price = valueAt(prices.dayAheadEurPerMwh, prices.startMs, dayMs + h * HOUR_MS);
    if (!Number.isFinite(price)) throw new Error(`no day-ahead price for ${new Date(dayMs + h * HOUR_MS).toISOString()} in ${prices.file}`);
    return price / 1000;
  });
}
