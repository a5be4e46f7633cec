/**
 * Prices from a CSV file in the shared data's format (timestamp,price_eur_per_mwh), e.g. written
 * daily by a timer that downloads the next day's prices. The file is checked every `checkEveryMs`
 * of wall time (files change in wall time; a simulator's accelerated clock would only make the
 * checks more frequent) and read again when its modification time or size changed, so a new
 * download takes effect without a restart. A file that cannot be read or parsed is reported and
 * the last good prices stay in force.
 */
import { readFileSync, statSync } from 'node:fs';
import { HOUR_MS, parsePrices } from '../data/households.ts';
import type { RuntimeLog } from '../runtime/log.ts';
import type { Clock } from '../time/clock.ts';
import { hourIso, HourlyPrices } from './hourly-prices.ts';
import type { PriceSource } from './source.ts';

/** How often a price file is checked for a new version by default (wall-clock seconds). */
export const DEFAULT_RELOAD_CHECK_S = 60;

/** Reads and parses a price file; throws an error naming the file (and the line and column). */
export function loadPriceFile(file: string): HourlyPrices {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read the day-ahead price file ${file}: ${(error as Error).message}`);
  }
  const series = parsePrices(file, text, { allowGaps: true });
  return HourlyPrices.fromHours(Array.from(series.dayAheadEurPerMwh, (price, i) => [series.startMs + i * HOUR_MS, price]));
}

export interface PriceFileOptions {
  file: string;
  /** Paces the checks: the system clock in a gateway, a manual one in tests. */
  wallClock: Clock;
  /** How often the file's modification time and size are checked (ms). */
  checkEveryMs: number;
  log: RuntimeLog;
}

/** Loads the file (throwing when it is bad: at start that is a configuration error) and watches it. */
export function watchPriceFile(options: PriceFileOptions): PriceSource {
  const { file, wallClock, log } = options;
  let prices = loadPriceFile(file);
  let seen = fingerprint(file);
  let failing = '';
  const stop = new AbortController();

  const check = (): void => {
    const now = fingerprint(file);
    if (now === seen) return;
    seen = now;
    try {
      prices = loadPriceFile(file);
      failing = '';
      const range = prices.range();
      log('info', `prices: ${file} reloaded, ${prices.size} hours${range ? ` ${hourIso(range.firstHourMs)} – ${hourIso(range.lastHourMs)}` : ''}`);
    } catch (error) {
      const message = (error as Error).message;
      // One line per bad version of the file, not one per check.
      if (message !== failing) log('error', `prices: keeping the last good prices, the changed file is unusable: ${message}`);
      failing = message;
    }
  };

  void (async () => {
    while (await wallClock.sleep(options.checkEveryMs, stop.signal)) check();
  })();

  return {
    current: () => prices,
    close: () => stop.abort(),
  };
}

/** Modification time and size; a missing file is a state of its own (reported once when it is checked). */
function fingerprint(file: string): string {
  try {
    const stat = statSync(file);
    return `${stat.mtimeMs}:${stat.size}`;
  } catch (error) {
    return `missing:${(error as NodeJS.ErrnoException).code ?? ''}`;
  }
}
