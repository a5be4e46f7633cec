/**
 * The aWATTar market-data API (https://api.awattar.de/v1/marketdata, .at for Austria): EPEX SPOT
 * day-ahead prices as `{ "object": "list", "data": [{ "start_timestamp", "end_timestamp",
 * "marketprice", "unit": "Eur/MWh" }, …] }`, timestamps in ms since the epoch (UTC), one entry per
 * market time unit (an hour, or 15 minutes since the market's move to quarter-hour products).
 * `start` and `end` (ms) select the window.
 */
import type { PriceInterval } from './hourly-prices.ts';
import { PriceFeedFormatError } from './source.ts';

/** The intervals of one answer; anything not shaped as documented is an error naming the entry and field. */
export function parseAwattar(text: string, where: string): PriceInterval[] {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new PriceFeedFormatError(`${where}: not JSON: ${(error as Error).message}`);
  }
  const data = (body as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) throw new PriceFeedFormatError(`${where}: no "data" array in the answer`);
  return data.map((entry: unknown, i) => {
    const e = entry as Record<string, unknown>;
    const field = (name: string): number => {
      const value = e?.[name];
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new PriceFeedFormatError(`${where}: data[${i}].${name} must be a number, got ${JSON.stringify(value)}`);
      return value;
    };
    const startMs = field('start_timestamp');
    const endMs = field('end_timestamp');
    const eurPerMwh = field('marketprice');
    if (!(endMs > startMs)) throw new PriceFeedFormatError(`${where}: data[${i}].end_timestamp (${endMs}) must be after start_timestamp (${startMs})`);
    if (e.unit !== undefined && String(e.unit).toLowerCase() !== 'eur/mwh') throw new PriceFeedFormatError(`${where}: data[${i}].unit must be Eur/MWh, got ${JSON.stringify(e.unit)}`);
    return { startMs, endMs, eurPerMwh };
  });
}

/** The prices of [fromMs, toMs) from `url`; rejects on a network error, a non-2xx status, a timeout or a malformed answer. */
export async function fetchAwattar(url: string, fromMs: number, toMs: number, timeoutMs: number): Promise<PriceInterval[]> {
  const query = new URL(url);
  query.searchParams.set('start', String(fromMs));
  query.searchParams.set('end', String(toMs));
  const response = await fetch(query, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
  const text = await response.text();
  if (!response.ok) throw new Error(`${query.origin}${query.pathname} answered ${response.status} ${response.statusText}`);
  return parseAwattar(text, `${query.origin}${query.pathname}`);
}
