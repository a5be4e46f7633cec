/**
 * Price sources (docs/configuration.md, `tariff`): the price file, watched and reloaded; a
 * day-ahead feed (aWATTar's API), polled and cached; or none (every hour at the flat fallback).
 */
import { join } from 'node:path';
import type { GatewayConfig } from '../config/gateway-config.ts';
import type { RuntimeLog } from '../runtime/log.ts';
import type { Clock } from '../time/clock.ts';
import { startDayAheadFeed } from './day-ahead-feed.ts';
import { DEFAULT_RELOAD_CHECK_S, watchPriceFile } from './file-source.ts';
import { HourlyPrices } from './hourly-prices.ts';
import type { PriceSource } from './source.ts';

export { HourlyPrices, hourIso, type HourPrice, type PriceInterval } from './hourly-prices.ts';
export { loadPriceFile, watchPriceFile } from './file-source.ts';
export { startDayAheadFeed, type DayAheadFeed } from './day-ahead-feed.ts';
export { fetchAwattar, parseAwattar, PriceFeedFormatError } from './awattar.ts';
export type { PriceSource } from './source.ts';

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
  if (tariff.feed !== undefined) {
    return startDayAheadFeed({ url: tariff.feed.url, clock: context.clock, wallClock: context.wallClock, pollEveryMs: tariff.feed.pollMinutes * 60_000, cacheFile: priceCacheFile(context.storageDir), log: context.log });
  }
  return { current: () => HourlyPrices.empty, close: () => undefined };
}
