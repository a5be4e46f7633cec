/**
 * Day-ahead prices by UTC hour, as one source last knew them. Immutable: a reload or a poll makes
 * a new one and swaps it in, so a plan being built never sees half of an update. Sources that
 * publish shorter intervals (15-minute day-ahead products) are averaged over the hour, weighted
 * by how much of the hour each interval covers, because the tariff and the hour records are hourly.
 */
import { DAY_MS, HOUR_MS } from '../data/households.ts';

/** How far back the last known day's profile is looked for before the flat fallback takes over. */
export const REPEAT_DAYS = 7;

/** One priced interval, as a feed publishes it. */
export interface PriceInterval {
  startMs: number;
  endMs: number;
  eurPerMwh: number;
}

/** A price and where it came from: the source's own, or the same hour of the latest earlier day it knows. */
export interface HourPrice {
  eurPerMwh: number;
  from: 'known' | 'repeated';
}

export class HourlyPrices {
  static readonly empty = new HourlyPrices(new Map());

  private readonly first: number | undefined;
  private readonly last: number | undefined;

  /** `byHour` in time order. */
  private constructor(private readonly byHour: ReadonlyMap<number, number>) {
    for (const hourMs of byHour.keys()) {
      this.first ??= hourMs;
      this.last = hourMs;
    }
  }

  /** Hour start (ms, UTC) → EUR/MWh; hours that are not whole UTC hours are an error of the caller. */
  static fromHours(entries: Iterable<[number, number]>): HourlyPrices {
    return new HourlyPrices(new Map([...entries].filter(([, p]) => Number.isFinite(p)).sort(([a], [b]) => a - b)));
  }

  /** Hourly means of `intervals` (each may be shorter or longer than an hour). */
  static fromIntervals(intervals: readonly PriceInterval[]): HourlyPrices {
    const sums = new Map<number, { eurMwhMs: number; ms: number }>();
    for (const { startMs, endMs, eurPerMwh } of intervals) {
      for (let hourMs = Math.floor(startMs / HOUR_MS) * HOUR_MS; hourMs < endMs; hourMs += HOUR_MS) {
        const overlapMs = Math.min(endMs, hourMs + HOUR_MS) - Math.max(startMs, hourMs);
        const sum = sums.get(hourMs) ?? { eurMwhMs: 0, ms: 0 };
        sum.eurMwhMs += eurPerMwh * overlapMs;
        sum.ms += overlapMs;
        sums.set(hourMs, sum);
      }
    }
    return HourlyPrices.fromHours([...sums].map(([hourMs, s]) => [hourMs, s.eurMwhMs / s.ms]));
  }

  get size(): number {
    return this.byHour.size;
  }

  /** First and last hour known (null when empty). */
  range(): { firstHourMs: number; lastHourMs: number } | null {
    return this.first === undefined ? null : { firstHourMs: this.first, lastHourMs: this.last! };
  }

  /**
   * The price of the hour starting at `hourStartMs`: the known one, else the same hour of the
   * latest of the previous REPEAT_DAYS days that is known (a feed that stopped keeps the daily
   * shape of its last day), else null.
   */
  at(hourStartMs: number): HourPrice | null {
    const known = this.byHour.get(hourStartMs);
    if (known !== undefined) return { eurPerMwh: known, from: 'known' };
    for (let day = 1; day <= REPEAT_DAYS; day++) {
      const earlier = this.byHour.get(hourStartMs - day * DAY_MS);
      if (earlier !== undefined) return { eurPerMwh: earlier, from: 'repeated' };
    }
    return null;
  }

  /** These prices updated by `newer` (newer wins hour by hour), without hours before `keepFromMs`. */
  merged(newer: HourlyPrices, keepFromMs: number): HourlyPrices {
    const byHour = new Map([...this.byHour, ...newer.byHour].filter(([hourMs]) => hourMs >= keepFromMs));
    return HourlyPrices.fromHours(byHour);
  }

  hours(): [number, number][] {
    return [...this.byHour];
  }
}

/** An hour boundary as logs show it: 2016-10-30T01:00Z. */
export function hourIso(ms: number): string {
  return new Date(ms).toISOString().replace(':00.000Z', 'Z');
}
