/**
 * The day-ahead feed against a local HTTP server that answers as aWATTar's API does (recorded
 * answers in test/fixtures/prices): the DST days and 15-minute products are priced by the hour,
 * the gateway tariff follows each poll, a feed that goes down is retried with back-off while the
 * gateway plans on the last known prices (and says so), and a restart while it is down plans on
 * the prices kept on disk.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { hourTariff, tariffParams } from '../../src/data/tariff.ts';
import { fetchAwattar, HourlyPrices, loadPriceFile, parseAwattar, priceCacheFile, startDayAheadFeed, type DayAheadFeed } from '../../src/prices/index.ts';
import { createTariffSource } from '../../src/runtime/prices.ts';
import { ManualClock } from '../../src/time/clock.ts';
import { recordedAnswer, startPriceServer, type PriceServer } from './price-server.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** The shipped price file the fixtures were recorded from. */
const csv = loadPriceFile(fileURLToPath(new URL('../../data/community/prices/day_ahead_DE_2015-2016.csv', import.meta.url)));
const tariffConfig = { ...tariffParams, fallbackDayAheadEurPerMwh: 500 };

let server: PriceServer;
const feeds: DayAheadFeed[] = [];
beforeAll(async () => {
  server = await startPriceServer();
});
afterEach(() => {
  for (const feed of feeds.splice(0)) feed.close();
  server.mode = 'up';
  server.requests.length = 0;
});
afterAll(() => server.close());

/** The real day-ahead price of an hour (the CSV the fixtures were recorded from). */
const real = (hourMs: number) => csv.at(hourMs)!.eurPerMwh;

function feedAt(iso: string, storageDir = mkdtempSync(join(tmpdir(), 'pe-feed-'))) {
  const clock = new ManualClock(Date.parse(iso));
  const lines: string[] = [];
  const feed = startDayAheadFeed({
    source: server.url,
    fetchPrices: (fromMs, toMs, timeoutMs) => fetchAwattar(server.url, fromMs, toMs, timeoutMs),
    clock,
    pollEveryMs: HOUR_MS,
    cacheFile: priceCacheFile(storageDir),
    log: (level, text) => lines.push(`${level} ${text}`),
  });
  feeds.push(feed);
  return { clock, feed, lines, storageDir, tariff: createTariffSource(tariffConfig, { prices: feed, log: (level, text) => lines.push(`${level} ${text}`) }) };
}

/** Lets the feed's pending request and its handlers run. */
async function advance(clock: ManualClock, feed: DayAheadFeed, ms: number): Promise<void> {
  const polled = feed.polled();
  clock.advance(ms);
  await polled;
}

describe('the aWATTar answer', () => {
  it('has 25 hourly entries on the autumn DST day and 23 on the spring one, each the real price of its UTC hour', async () => {
    for (const [fromIso, toIso, hours] of [['2016-10-29T22:00:00Z', '2016-10-30T23:00:00Z', 25], ['2016-03-26T23:00:00Z', '2016-03-27T22:00:00Z', 23]] as const) {
      const intervals = await fetchAwattar(server.url, Date.parse(fromIso), Date.parse(toIso), 5_000);
      expect(intervals).toHaveLength(hours);
      const prices = HourlyPrices.fromIntervals(intervals);
      for (let h = Date.parse(fromIso); h < Date.parse(toIso); h += HOUR_MS) expect(prices.at(h)).toEqual({ eurPerMwh: real(h), from: 'known' });
    }
    // The request carries the window as aWATTar's start/end query (ms).
    expect(server.requests[0]).toEqual({ startMs: Date.parse('2016-10-29T22:00:00Z'), endMs: Date.parse('2016-10-30T23:00:00Z') });
  });

  it('prices an hour of 15-minute products at the mean of its quarters', () => {
    const intervals = parseAwattar(recordedAnswer('awattar-2016-10-31-15min.json'), 'fixture');
    expect(intervals).toHaveLength(96);
    const prices = HourlyPrices.fromIntervals(intervals);
    for (let h = Date.parse('2016-10-30T23:00:00Z'); h < Date.parse('2016-10-31T23:00:00Z'); h += HOUR_MS) expect(prices.at(h)!.eurPerMwh).toBeCloseTo(real(h), 9);
  });

  it('rejects an answer that is not the documented shape, naming the entry and the field', () => {
    expect(() => parseAwattar('<html>', 'api')).toThrow(/api: not JSON/);
    expect(() => parseAwattar('{"object":"list"}', 'api')).toThrow(/no "data" array/);
    expect(() => parseAwattar('{"data":[{"start_timestamp":0,"end_timestamp":3600000,"marketprice":"12"}]}', 'api')).toThrow(/data\[0\]\.marketprice must be a number/);
    expect(() => parseAwattar('{"data":[{"start_timestamp":0,"end_timestamp":3600000,"marketprice":12,"unit":"ct/kWh"}]}', 'api')).toThrow(/data\[0\]\.unit must be Eur\/MWh/);
  });
});

describe('the day-ahead feed', () => {
  it("asks for yesterday to the day after tomorrow at start and every poll period, and the tariff plans on what it answered", async () => {
    const { clock, feed, tariff, lines } = feedAt('2016-10-30T12:00:00Z');
    await feed.polled();
    const day = Date.parse('2016-10-30T00:00:00Z');
    expect(server.requests).toEqual([{ startMs: day - DAY_MS, endMs: day + 2 * DAY_MS }]);
    // 12:00 on the 30th to 12:00 on the 31st: the 25-hour day's end and the 15-minute day's start.
    const from = Date.parse('2016-10-30T12:00:00Z');
    const window = tariff.window(from, new Array<number>(24).fill(1));
    window.buyEurPerKwh.forEach((buy, k) => expect(buy).toBeCloseTo(hourTariff(real(from + k * HOUR_MS), tariffParams).buyEurPerKwh, 9));
    expect(window.sellEurPerKwh.every((sell) => sell === tariffParams.feedInEurPerKwh)).toBe(true);

    await advance(clock, feed, HOUR_MS);
    expect(server.requests).toHaveLength(2);
    // One line when prices arrive; a poll that brings nothing new says nothing.
    expect(lines).toEqual([`info prices: 49 hours from ${server.url}; known until 2016-10-31T23:00Z`]);
  });

  it('retries a feed that is down after 1, 2, 4 … minutes up to the poll period, planning meanwhile on the last known prices, and says so', async () => {
    const { clock, feed, tariff, lines } = feedAt('2016-10-31T06:00:00Z');
    await feed.polled();
    server.mode = 'down';
    await advance(clock, feed, HOUR_MS);
    for (const minutes of [1, 2, 4, 8, 16, 32, 60, 60]) {
      const before = server.requests.length;
      clock.advance(minutes * 60_000 - 1);
      await new Promise((r) => setTimeout(r, 20));
      expect(server.requests.length, `no retry before ${minutes} min`).toBe(before);
      await advance(clock, feed, 1);
      expect(server.requests.length, `a retry after ${minutes} min`).toBe(before + 1);
    }
    expect(lines.filter((l) => l.startsWith('warn prices: poll'))).toHaveLength(9);
    expect(lines.at(-1)).toMatch(/poll 9 of .* failed \(.*503 Service Unavailable\); planning on the last known prices \(known until 2016-10-31T23:00Z/);

    // 2 h past the last known hour: the last known day's hours stand in, and the plan says so.
    const from = Date.parse('2016-11-01T01:00:00Z');
    const window = tariff.window(from, [1, 1]);
    window.buyEurPerKwh.forEach((buy, k) => expect(buy).toBeCloseTo(hourTariff(real(from + k * HOUR_MS - DAY_MS), tariffParams).buyEurPerKwh, 9));
    expect(lines.at(-1)).toBe('warn prices: known until 2016-10-31T23:00Z; of the 2 hours planned from 2016-11-01T01:00Z, 2 repeat the last known day and 0 are at the flat 500 EUR/MWh');

    server.mode = 'up';
    await advance(clock, feed, HOUR_MS);
    expect(lines.at(-1)).toMatch(/answers again after 9 failed poll\(s\)/);
  });

  it('treats an answer that is not the API\'s as a failed poll and keeps what it knew', async () => {
    const { clock, feed, lines } = feedAt('2016-10-31T06:00:00Z');
    await feed.polled();
    const known = feed.current();
    server.mode = 'garbage';
    await advance(clock, feed, HOUR_MS);
    expect(feed.current()).toBe(known);
    expect(lines.at(-1)).toMatch(/poll 1 .* failed \(.*not JSON/);
  });

  it('keeps what it knew on disk, so a restart while the feed is down plans on the last known prices', async () => {
    const first = feedAt('2016-10-31T06:00:00Z');
    await first.feed.polled();
    first.feed.close();
    const cached = JSON.parse(readFileSync(priceCacheFile(first.storageDir), 'utf8')) as { hours: [number, number][] };
    // Asked for the 30th to the 1st: the recorded answers hold the 30th and the 31st up to 22:00Z.
    expect(cached.hours.map(([h]) => h)).toEqual(Array.from({ length: 47 }, (_, k) => Date.parse('2016-10-30T00:00:00Z') + k * HOUR_MS));

    server.mode = 'down';
    const restarted = feedAt('2016-10-31T20:00:00Z', first.storageDir);
    // Before its first poll answers, the restarted feed already knows the cached prices.
    expect(restarted.feed.current().at(Date.parse('2016-10-31T20:00:00Z'))).toEqual({ eurPerMwh: expect.closeTo(real(Date.parse('2016-10-31T20:00:00Z')), 9), from: 'known' });
    await restarted.feed.polled();
    const window = restarted.tariff.window(Date.parse('2016-10-31T20:00:00Z'), [1, 1, 1, 1, 1]);
    const expected = [0, 1, 2, 3, 4].map((k) => {
      const h = Date.parse('2016-10-31T20:00:00Z') + k * HOUR_MS;
      // 20:00–22:00 known; from 23:00 on (Nov 1st) the 31st's hours repeat.
      return hourTariff(real(h < Date.parse('2016-10-31T23:00:00Z') ? h : h - DAY_MS), tariffParams).buyEurPerKwh;
    });
    window.buyEurPerKwh.forEach((buy, k) => expect(buy).toBeCloseTo(expected[k]!, 9));
    expect(restarted.lines.some((l) => /^warn prices: poll 1 .*planning on the last known prices \(known until 2016-10-31T23:00Z/.test(l))).toBe(true);
  });
});
