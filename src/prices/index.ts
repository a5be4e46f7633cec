/**
 * Price sources (docs/configuration.md, `tariff`): the price file, watched and reloaded; a
 * day-ahead feed (aWATTar's or ENTSO-E's API), polled and cached; or none (every hour at the flat
 * fallback).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GatewayConfig } from '../config/gateway-config.ts';
import type { RuntimeLog } from '../runtime/log.ts';
import type { Clock } from '../time/clock.ts';
import { fetchAwattar } from './awattar.ts';
import { startDayAheadFeed } from './day-ahead-feed.ts';
import { fetchEntsoe } from './entsoe.ts';
import { DEFAULT_RELOAD_CHECK_S, watchPriceFile } from './file-source.ts';
import { HourlyPrices } from './hourly-prices.ts';
import type { PriceSource } from './source.ts';

export { HourlyPrices, hourIso, type HourPrice, type PriceInterval } from './hourly-prices.ts';
export { loadPriceFile, watchPriceFile } from './file-source.ts';
export { startDayAheadFeed, type DayAheadFeed } from './day-ahead-feed.ts';
export { fetchAwattar, parseAwattar } from './awattar.ts';
export { fetchEntsoe, parseEntsoe } from './entsoe.ts';
export { PriceFeedFormatError, type PriceSource } from './source.ts';

/** Where each feed source is asked by default. */
export const FEED_URLS = { awattar: 'https://api.awattar.de/v1/marketdata', entsoe: 'https://web-api.tp.entsoe.eu/api' } as const;

/** The ENTSO-E token, from its own file (kept out of the config and out of every log line). */
export function readSecurityToken(file: string): string {
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new Error(`cannot read the ENTSO-E security token file ${file}: ${(error as Error).message}`);
  }
  if (!/^[A-Za-z0-9-]{8,}$/.test(token)) throw new Error(`${file} must hold the ENTSO-E security token alone (letters, digits and '-')`);
  return token;
}

/** The feed's cache, with the gateway's other state. */
export function priceCacheFile(storageDir: string): string {
  return join(storageDir, 'prices', 'day-ahead.json');
}

/**
 * The configured source. A bad price file throws (the config loader has reported it before this
 * runs). `clock` is the gateway's (which days are today and tomorrow); checks and polls are paced
 * by `wallClock`, since files and APIs change in wall time.
 */
export function openPriceSource(tariff: GatewayConfig['tariff'], context: { clock: Clock; wallClock: Clock; storageDir: string; log: RuntimeLog }): PriceSource {
  if (tariff.pricesFile !== undefined) return watchPriceFile({ file: tariff.pricesFile, wallClock: context.wallClock, checkEveryMs: (tariff.reloadCheckS ?? DEFAULT_RELOAD_CHECK_S) * 1000, log: context.log });
  const feed = tariff.feed;
  if (feed !== undefined) {
    const url = feed.url ?? FEED_URLS[feed.source];
    const source = `${new URL(url).origin}${new URL(url).pathname}`;
    const common = { source, clock: context.clock, wallClock: context.wallClock, pollEveryMs: feed.pollMinutes * 60_000, cacheFile: priceCacheFile(context.storageDir), log: context.log };
    if (feed.source === 'awattar') return startDayAheadFeed({ ...common, fetchPrices: (fromMs, toMs, timeoutMs) => fetchAwattar(url, fromMs, toMs, timeoutMs) });
    const query = { url, biddingZone: feed.biddingZone!, securityToken: readSecurityToken(feed.securityTokenFile!) };
    return startDayAheadFeed({ ...common, fetchPrices: (fromMs, toMs, timeoutMs) => fetchEntsoe(query, fromMs, toMs, timeoutMs) });
  }
  return { current: () => HourlyPrices.empty, close: () => undefined };
}
