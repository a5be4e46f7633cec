/**
 * A day-ahead price feed polled on a schedule (aWATTar's or ENTSO-E's API): at start and then every
 * `pollEveryMs` of wall time it asks for yesterday to the day after tomorrow and merges
 * the answer into what it knew. A failed poll is reported and retried with back-off (1 min, 2, 4 …
 * up to the poll period); meanwhile the last known prices stay in force and the tariff repeats the
 * last known day beyond them. What is known is kept on disk (`cacheFile`, written atomically), so a
 * restart while the feed is down still plans on real prices.
 */
import { DAY_MS, HOUR_MS } from '../data/households.ts';
import type { RuntimeLog } from '../runtime/log.ts';
import { readStateFile, writeStateFile } from '../storage/state-file.ts';
import type { Clock } from '../time/clock.ts';
import { hourIso, HourlyPrices, REPEAT_DAYS, type PriceInterval } from './hourly-prices.ts';
import type { PriceSource } from './source.ts';

/** First retry after a failed poll; each further failure doubles it, up to the poll period. */
const FIRST_RETRY_MS = 60_000;
/** A poll that has not answered by then has failed. */
const REQUEST_TIMEOUT_MS = 30_000;

export interface DayAheadFeedOptions {
  /** Names the feed in log lines (its URL without the query: never a token). */
  source: string;
  /** One request for the prices of [fromMs, toMs) (awattar.ts, entsoe.ts). */
  fetchPrices: (fromMs: number, toMs: number, timeoutMs: number) => Promise<PriceInterval[]>;
  /** The gateway's clock: which days to ask for. */
  clock: Clock;
  /**
   * What the poll period and the back-off are paced by (default `clock`): the API lives in wall
   * time, so a gateway on an accelerated simulator must not poll it faster.
   */
  wallClock?: Clock;
  pollEveryMs: number;
  /** Where the known prices are kept across restarts. */
  cacheFile: string;
  log: RuntimeLog;
}

export interface DayAheadFeed extends PriceSource {
  /** Settles after the next poll (succeeded or failed): for tests and for a start that wants fresh prices. */
  polled(): Promise<void>;
}

export function startDayAheadFeed(options: DayAheadFeedOptions): DayAheadFeed {
  const { clock, log, cacheFile } = options;
  const wallClock = options.wallClock ?? clock;
  let prices = readCache(cacheFile, log);
  let failures = 0;
  /** What the last success line said, so an hourly poll that brings nothing new stays quiet. */
  let reported = '';
  const stop = new AbortController();
  let waiters: (() => void)[] = [];

  const poll = async (): Promise<void> => {
    const nowMs = clock.nowMs();
    const fromMs = Math.floor(nowMs / DAY_MS) * DAY_MS - DAY_MS;
    try {
      const fetched = HourlyPrices.fromIntervals(await options.fetchPrices(fromMs, fromMs + 3 * DAY_MS, REQUEST_TIMEOUT_MS));
      // The repeat fallback looks back REPEAT_DAYS: older hours are of no use and would grow the cache for ever.
      prices = prices.merged(fetched, Math.floor(nowMs / HOUR_MS) * HOUR_MS - (REPEAT_DAYS + 1) * DAY_MS);
      writeCache(cacheFile, prices, log);
      const range = prices.range();
      const until = range ? `known until ${hourIso(range.lastHourMs + HOUR_MS)}` : 'no prices known (the answers held none)';
      if (failures > 0) log('info', `prices: ${options.source} answers again after ${failures} failed poll(s); ${until}`);
      else if (until !== reported) log('info', `prices: ${fetched.size} hours from ${options.source}; ${until}`);
      reported = until;
      failures = 0;
    } catch (error) {
      failures++;
      const range = prices.range();
      log('warn', `prices: poll ${failures} of ${options.source} failed (${(error as Error).message}); planning on the last known prices${range ? ` (known until ${hourIso(range.lastHourMs + HOUR_MS)}, the last known day repeated beyond)` : ' (none yet: the flat fallback price)'}; retry in ${Math.round(retryMs() / 60_000)} min`);
    }
  };
  const retryMs = () => (failures === 0 ? options.pollEveryMs : Math.min(options.pollEveryMs, FIRST_RETRY_MS * 2 ** (failures - 1)));

  void (async () => {
    for (;;) {
      await poll();
      // The next wait is armed before anyone waiting for this poll hears of it.
      const next = wallClock.sleep(retryMs(), stop.signal);
      for (const wake of waiters.splice(0)) wake();
      if (!(await next)) break;
    }
  })();

  return {
    current: () => prices,
    polled: () => new Promise<void>((resolve) => waiters.push(resolve)),
    close: () => {
      stop.abort();
      for (const wake of waiters.splice(0)) wake();
      waiters = [];
    },
  };
}

interface CacheFile {
  /** [hour start ms, EUR/MWh] */
  hours: [number, number][];
}

function readCache(file: string, log: RuntimeLog): HourlyPrices {
  try {
    const cache = readStateFile(file) as CacheFile | undefined;
    if (cache === undefined) return HourlyPrices.empty;
    if (!Array.isArray(cache.hours) || !cache.hours.every((h) => Array.isArray(h) && h.length === 2 && h.every(Number.isFinite))) throw new Error('"hours" must be [hour start ms, EUR/MWh] pairs');
    return HourlyPrices.fromHours(cache.hours);
  } catch (error) {
    // The cache is ours and only a convenience: a damaged one is dropped, the next poll rebuilds it.
    log('warn', `prices: ignoring the damaged price cache ${file}: ${(error as Error).message}`);
    return HourlyPrices.empty;
  }
}

function writeCache(file: string, prices: HourlyPrices, log: RuntimeLog): void {
  try {
    writeStateFile(file, { hours: prices.hours() } satisfies CacheFile);
  } catch (error) {
    log('warn', `prices: cannot keep the prices in ${file}: ${(error as Error).message}`);
  }
}
