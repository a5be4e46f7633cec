/** What the tariff reads prices from: a file, a day-ahead feed, or nothing (the flat fallback). */
import type { HourlyPrices } from './hourly-prices.ts';

export interface PriceSource {
  /** What the source knows now; replaced as a whole when the file changes or a poll succeeds. */
  current(): HourlyPrices;
  /** Stops watching or polling. */
  close(): void;
}

/** An answer of a price API that is not shaped as its documentation says (names the entry and field). */
export class PriceFeedFormatError extends Error {
  override name = 'PriceFeedFormatError';
}
