import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shiftableRule } from '../../src/data/assets.ts';
import { DataFormatError } from '../../src/data/csv.ts';
import { DAY_MS, HOUR_MS, householdIds, loadHousehold, loadPrices, parseHousehold, parsePrices } from '../../src/data/households.ts';
import { dayIsClean, splitMs, testDays } from '../../src/data/split.ts';

const dataDir = resolve(import.meta.dirname, '../../../shared/data');
const header = 'timestamp,load_kw,pv_kw,dishwasher_kw,washing_machine_kw,flags';

function rows(count: number, fromMs: number, flagAt = -1): string {
  const lines = [header];
  for (let i = 0; i < count; i++) {
    const ts = new Date(fromMs + i * HOUR_MS).toISOString().replace('.000Z', 'Z');
    lines.push(`${ts},0.500,0.100,0.000,0.200,${i === flagAt ? 'copy_suspect:imp' : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

describe('loading the shared household and price data', () => {
  it('reads all four households on UTC interval-start hours with the README row counts and flags', async () => {
    const expected = { residential1: [14168, 605], residential2: [15038, 946], residential4: [10759, 159], residential6: [10422, 3105] };
    for (const id of householdIds) {
      const h = await loadHousehold(dataDir, id);
      const copyRows = h.copySuspect.reduce((n, f) => n + f, 0);
      expect([h.loadKw.length, copyRows]).toEqual(expected[id]);
    }
    const r1 = await loadHousehold(dataDir, 'residential1');
    expect(new Date(r1.startMs).toISOString()).toBe('2015-05-21T16:00:00.000Z');
    expect(r1.loadKw[0]).toBe(0.875);
    expect(r1.pvKw[0]).toBe(0.754);
  });

  it('gives the consumer without PV zero PV rather than missing PV, and appliance traces to shift', async () => {
    const r2 = await loadHousehold(dataDir, 'residential2');
    expect(r2.pvKw.every((v) => v === 0)).toBe(true);
    expect(shiftableRule(r2).kind).toBe('appliances');
    expect(shiftableRule(r2).maxDelayHours).toBe(6);
  });

  it('reads the day-ahead prices as a gap-free hourly series', async () => {
    const prices = await loadPrices(dataDir);
    expect(prices.dayAheadEurPerMwh.length).toBe(17545);
    expect(new Date(prices.startMs).toISOString()).toBe('2014-12-31T23:00:00.000Z');
    expect(prices.dayAheadEurPerMwh[0]).toBe(25.02);
  });

  it('never offers a test day that holds a copy_suspect row, in any household', async () => {
    const households = await Promise.all(householdIds.map((id) => loadHousehold(dataDir, id)));
    const { daysMs, dropped } = testDays(households, Date.UTC(2016, 11, 30));
    expect(daysMs.length).toBeGreaterThan(100);
    expect(dropped.length).toBeGreaterThan(0);
    for (const day of daysMs) {
      expect(day).toBeGreaterThanOrEqual(splitMs);
      for (const h of households) {
        const from = (day - h.startMs) / HOUR_MS;
        expect(Array.from(h.copySuspect.subarray(from, from + 24)).every((f) => f === 0)).toBe(true);
      }
    }
  });

  it('drops a day with one flagged hour and keeps the clean day next to it', () => {
    const h = parseHousehold('x', 'x.csv', rows(48, splitMs, 30));
    expect(dayIsClean(h, splitMs)).toBe(true);
    expect(dayIsClean(h, splitMs + DAY_MS)).toBe(false);
    expect(testDays([h], splitMs + DAY_MS).daysMs).toEqual([splitMs]);
  });

  it('uses the 20 % share of load, shiftable 4 h, where there are no appliance columns', () => {
    const text = 'timestamp,load_kw,flags\n2016-07-01T00:00:00Z,1.000,\n';
    const rule = shiftableRule(parseHousehold('y', 'y.csv', text));
    expect(rule).toMatchObject({ kind: 'share-of-load', maxDelayHours: 4 });
    expect(rule.requestKw[0]).toBeCloseTo(0.2, 12);
  });
});

describe('malformed input is refused with file, line and column', () => {
  const good = rows(3, splitMs).split('\n');
  const withLine = (line: number, text: string) => good.map((l, i) => (i === line - 1 ? text : l)).join('\n');
  const cases: [string, string, RegExp][] = [
    ['a number cell that is not a number', withLine(3, '2016-07-01T01:00:00Z,abc,0.1,0,0,'), /bad\.csv:3 column "load_kw": not a number: "abc"/],
    ['a negative power', withLine(2, '2016-07-01T00:00:00Z,0.5,-1,0,0,'), /bad\.csv:2 column "pv_kw": negative power/],
    ['a missing hour', withLine(3, '2016-07-01T02:00:00Z,0.5,0.1,0,0,'), /bad\.csv:3 column "timestamp": expected 2016-07-01T01:00:00.000Z/],
    ['a timestamp that is not UTC', withLine(2, '2016-07-01T00:00:00+02:00,0.5,0.1,0,0,'), /bad\.csv:2 column "timestamp": not a UTC whole-hour timestamp/],
    ['an impossible date', withLine(2, '2016-02-30T00:00:00Z,0.5,0.1,0,0,'), /bad\.csv:2 column "timestamp"/],
    ['a short row', withLine(4, '2016-07-01T02:00:00Z,0.5'), /bad\.csv:4: expected 6 fields, found 2/],
    ['a missing column', good.join('\n').replace('load_kw', 'lod_kw'), /bad\.csv:1 column "load_kw": missing required column/],
  ];
  for (const [what, text, message] of cases) {
    it(`rejects ${what}`, () => {
      const attempt = () => parseHousehold('bad', 'bad.csv', text);
      expect(attempt).toThrow(DataFormatError);
      expect(attempt).toThrow(message);
    });
  }

  it('rejects an empty price cell', () => {
    const text = 'timestamp,price_eur_per_mwh,bidding_zone,flags\n2016-07-01T00:00:00Z,,DE-AT-LU,\n';
    expect(() => parsePrices('p.csv', text)).toThrow(/p\.csv:2 column "price_eur_per_mwh": empty price/);
  });

  it('names the folder option when the data folder is missing', async () => {
    await expect(loadPrices('/nonexistent/data')).rejects.toThrow(/--data/);
  });
});
