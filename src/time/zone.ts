/**
 * Wall-clock times in an IANA time zone (`Europe/Berlin`), from the platform's time-zone data
 * through Intl — no Temporal, which Node LTS does not ship yet. Used where a person's schedule
 * ("the boiler at 5 in the morning") must follow daylight saving time.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Throws a RangeError naming the zone when the platform does not know it. */
export function checkTimeZone(timeZone: string): void {
  formatter(timeZone);
}

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone);
  if (!format) {
    try {
      format = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    } catch {
      throw new RangeError(`unknown time zone "${timeZone}" (an IANA name such as Europe/Berlin, or UTC)`);
    }
    formatters.set(timeZone, format);
  }
  return format;
}

/** The wall-clock reading at `atMs` in `timeZone`, as if it were UTC (ms): the local date and time fields. */
export function wallClockMs(atMs: number, timeZone: string): number {
  const parts = Object.fromEntries(formatter(timeZone).formatToParts(atMs).map((p) => [p.type, Number(p.value)]));
  return Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!) + (atMs - Math.floor(atMs / 1000) * 1000);
}

const HALF_DAY_MS = 12 * 3_600_000;

/**
 * The instant at which the clocks in `timeZone` show `wallMs` (local date and time as if UTC).
 * A time that occurs twice (the hour repeated when daylight saving ends) is its first occurrence;
 * a time that does not occur (the hour skipped when it starts) is moved on by the gap, to the
 * instant the clocks jumped past it (02:30 on the spring day in Europe/Berlin is 03:30 CEST).
 */
export function instantOfWallClock(wallMs: number, timeZone: string): number {
  const before = wallMs - wallClockMs(wallMs - HALF_DAY_MS, timeZone) + (wallMs - HALF_DAY_MS);
  const after = wallMs - wallClockMs(wallMs + HALF_DAY_MS, timeZone) + (wallMs + HALF_DAY_MS);
  const fits = [before, after].filter((t) => wallClockMs(t, timeZone) === wallMs);
  // No fit: in a gap; the offset before it carries the wall time past the jump.
  return fits.length > 0 ? Math.min(...fits) : before;
}
