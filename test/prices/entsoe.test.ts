/**
 * ENTSO-E's day-ahead prices (A44) against a local stand-in that answers with recorded documents
 * of the real shape (test/fixtures/prices): hourly periods on the DST days (25 and 23 points),
 * 15-minute "variable sized blocks" (curve A03, repeated prices left out), the acknowledgement that
 * says there is nothing, a refused token that never shows in an error, and the gateway config
 * that asks for this feed.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayConfigError, loadGatewayConfig } from '../../src/config/gateway.ts';
import { fetchEntsoe, HourlyPrices, loadPriceFile, openPriceSource, parseEntsoe } from '../../src/prices/index.ts';
import { ManualClock } from '../../src/time/clock.ts';
import { ENTSOE_TOKEN, ENTSOE_ZONE, recordedAnswer, startPriceServer, type PriceServer } from './price-server.ts';

const HOUR_MS = 3_600_000;
const root = fileURLToPath(new URL('../../', import.meta.url));
const csv = loadPriceFile(join(root, 'data/community/prices/day_ahead_DE_2015-2016.csv'));
const real = (hourMs: number) => csv.at(hourMs)!.eurPerMwh;

let server: PriceServer;
beforeAll(async () => {
  server = await startPriceServer();
});
afterAll(() => server.close());

const query = () => ({ url: server.entsoeUrl, biddingZone: ENTSOE_ZONE, securityToken: ENTSOE_TOKEN });

describe('the ENTSO-E A44 answer', () => {
  it('has 25 hourly points on the autumn DST day and 23 on the spring one, each the real price of its UTC hour', async () => {
    for (const [fromIso, toIso, hours] of [['2016-10-29T22:00:00Z', '2016-10-30T23:00:00Z', 25], ['2016-03-26T23:00:00Z', '2016-03-27T22:00:00Z', 23]] as const) {
      const intervals = await fetchEntsoe(query(), Date.parse(fromIso), Date.parse(toIso), 5_000);
      expect(intervals).toHaveLength(hours);
      expect(intervals.every((i) => i.endMs - i.startMs === HOUR_MS)).toBe(true);
      const prices = HourlyPrices.fromIntervals(intervals);
      for (let h = Date.parse(fromIso); h < Date.parse(toIso); h += HOUR_MS) expect(prices.at(h)).toEqual({ eurPerMwh: real(h), from: 'known' });
    }
    // periodStart/periodEnd as yyyyMMddHHmm UTC.
    expect(server.requests.at(-1)).toEqual({ startMs: Date.parse('2016-03-26T23:00:00Z'), endMs: Date.parse('2016-03-27T22:00:00Z') });
  });

  it('fills the 15-minute positions a variable-sized-block curve leaves out with the price before them', () => {
    const intervals = parseEntsoe(recordedAnswer('entsoe-a44-2016-10-31-pt15m-a03.xml'), 'fixture');
    // 48 points for 96 quarters: each hour's four quarters are its price −2, −2, +2, +2.
    expect(intervals).toHaveLength(48);
    const first = Date.parse('2016-10-30T23:00:00Z');
    expect(intervals.slice(0, 2)).toEqual([
      { startMs: first, endMs: first + HOUR_MS / 2, eurPerMwh: Math.round((real(first) - 2) * 100) / 100 },
      { startMs: first + HOUR_MS / 2, endMs: first + HOUR_MS, eurPerMwh: Math.round((real(first) + 2) * 100) / 100 },
    ]);
    const prices = HourlyPrices.fromIntervals(intervals);
    for (let h = first; h < first + 24 * HOUR_MS; h += HOUR_MS) expect(prices.at(h)!.eurPerMwh).toBeCloseTo(real(h), 9);
  });

  it('keeps the finest series where a zone publishes an hourly and a quarter-hourly one for the same time', () => {
    const hourly = recordedAnswer('entsoe-a44-2016-10-30.xml');
    const quarter = /<TimeSeries>[\s\S]*<\/TimeSeries>/.exec(recordedAnswer('entsoe-a44-2016-10-31-pt15m-a03.xml'))![0];
    // The hourly 2016-10-31 series beside its quarter-hourly one: same period, hourly prices 1000 EUR/MWh off.
    const hourlyCopy = quarter.replace('<curveType>A03</curveType>', '<curveType>A01</curveType>').replace('<resolution>PT15M</resolution>', '<resolution>PT60M</resolution>').replace(/<Point>[\s\S]*<\/Point>/, Array.from({ length: 24 }, (_, k) => `<Point><position>${k + 1}</position><price.amount>1000</price.amount></Point>`).join(''));
    const both = hourly.replace('</TimeSeries>', `</TimeSeries>${hourlyCopy}${quarter}`);
    const prices = HourlyPrices.fromIntervals(parseEntsoe(both, 'two series'));
    expect(prices.at(Date.parse('2016-10-31T05:00:00Z'))!.eurPerMwh).toBeCloseTo(real(Date.parse('2016-10-31T05:00:00Z')), 9);
    expect(prices.at(Date.parse('2016-10-30T05:00:00Z'))!.eurPerMwh).toBe(real(Date.parse('2016-10-30T05:00:00Z')));
  });

  it('reports no data, a refused token (without showing it), and a document it cannot read, naming what is wrong', async () => {
    await expect(fetchEntsoe(query(), Date.parse('2016-11-02T00:00:00Z'), Date.parse('2016-11-05T00:00:00Z'), 5_000)).rejects.toThrow(/no prices: No matching data found for Data item Day-ahead Prices \[12\.1\.D\].*\(code 999\)/);
    const refused = fetchEntsoe({ ...query(), securityToken: 'not-my-token-0000' }, Date.parse('2016-10-30T00:00:00Z'), Date.parse('2016-10-31T00:00:00Z'), 5_000);
    await expect(refused).rejects.toThrow(`${server.entsoeUrl} answered 401 Unauthorized: Unauthorized. Missing or invalid security token (code 999)`);
    await expect(refused).rejects.not.toThrow(/not-my-token/);
    const daily = recordedAnswer('entsoe-a44-2016-10-30.xml').replace('<resolution>PT60M</resolution>', '<resolution>P1D</resolution>');
    expect(() => parseEntsoe(daily, 'api')).toThrow('api TimeSeries[0] Period[0]: resolution must be one of PT15M, PT30M, PT60M, got "P1D"');
    expect(() => parseEntsoe(recordedAnswer('entsoe-a44-2016-10-30.xml').replace('<position>25</position>', '<position>26</position>'), 'api')).toThrow('api TimeSeries[0] Period[0] Point[24]: position must be 1..25, got 26');
    expect(() => parseEntsoe('<Publication_MarketDocument><TimeSeries>', 'api')).toThrow(/api: not well-formed XML/);
  });
});

describe('an ENTSO-E feed in the gateway config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pe-entsoe-'));
  const config = (name: string, feed: string) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, `gatewayId: home\nboard: {file: ${join(root, 'boards/raspberry-pi-4.yaml')}}\nstorage: {dir: state}\ntariff:\n  feed: ${feed}\n`);
    return file;
  };
  const problems = (file: string) => {
    try {
      loadGatewayConfig(file);
    } catch (e) {
      expect(e).toBeInstanceOf(GatewayConfigError);
      return (e as Error).message;
    }
    throw new Error('loaded');
  };

  it('needs the bidding zone and a readable token file, and then plans on what the API answered', async () => {
    expect(problems(config('no-zone', '{source: entsoe, securityTokenFile: token}'))).toContain('/tariff/feed/biddingZone: is required');
    expect(problems(config('awattar-zone', `{source: awattar, biddingZone: ${ENTSOE_ZONE}}`))).toContain('/tariff/feed/biddingZone: is for source: entsoe');
    expect(problems(config('bad-zone', '{source: entsoe, securityTokenFile: token, biddingZone: DE}'))).toContain('/tariff/feed/biddingZone: must be an EIC area code of 16 characters');
    expect(problems(config('no-token', `{source: entsoe, securityTokenFile: token, biddingZone: ${ENTSOE_ZONE}}`))).toContain(`/tariff/feed/securityTokenFile: cannot read the ENTSO-E security token file ${join(dir, 'token')}`);

    writeFileSync(join(dir, 'token'), `${ENTSOE_TOKEN}\n`);
    const loaded = loadGatewayConfig(config('good', `{source: entsoe, securityTokenFile: token, biddingZone: ${ENTSOE_ZONE}, url: '${server.entsoeUrl}'}`));
    const clock = new ManualClock(Date.parse('2016-10-31T06:00:00Z'));
    const lines: string[] = [];
    const source = openPriceSource(loaded.tariff, { clock, wallClock: clock, storageDir: join(dir, 'state'), log: (level, text) => lines.push(`${level} ${text}`) });
    try {
      await new Promise((r) => setTimeout(r, 300));
      // Asked for the 30th to the 1st: the two recorded periods that overlap it, from 22:00Z on the 29th (local midnight).
      const first = Date.parse('2016-10-29T22:00:00Z');
      for (let h = first; h < first + 49 * HOUR_MS; h += HOUR_MS) expect(source.current().at(h)!.eurPerMwh).toBeCloseTo(real(h), 9);
      // The URL in the log, never the token.
      expect(lines).toEqual([`info prices: 49 hours from ${server.entsoeUrl}; known until 2016-10-31T23:00Z`]);
    } finally {
      source.close();
    }
  });
});
