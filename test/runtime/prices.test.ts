import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GatewayConfig } from '../../src/config/gateway-config.ts';
import { defaultDataDir, HOUR_MS, loadPrices } from '../../src/data/households.ts';
import { hourTariff, tariffParams, tariffWindow } from '../../src/data/tariff.ts';
import { createTariffSource } from '../../src/runtime/prices.ts';

const h0 = Date.UTC(2016, 6, 1);
/** A gateway's own tariff, deliberately not the evaluation's. */
const params = {
  gridFeesEurPerKwh: 0.2,
  vatFactor: 1.2,
  feedInEurPerKwh: 0.07,
  realtimeBuyAdderEurPerKwh: 0.05,
  realtimeSellDiscountEurPerKwh: 0.03,
  demandChargeEurPerKwDay: 0.6,
  p2pGridFeeEurPerKwh: 0.1,
};

function priceFile(rows: [number, number][]): string {
  const file = join(mkdtempSync(join(tmpdir(), 'prices-')), 'prices.csv');
  writeFileSync(file, `timestamp,price_eur_per_mwh,bidding_zone,flags\n${rows.map(([h, p]) => `${new Date(h0 + h * HOUR_MS).toISOString().replace('.000Z', 'Z')},${p},DE-LU,`).join('\n')}\n`);
  return file;
}

function source(pricesFile?: string): ReturnType<typeof createTariffSource> {
  const config: GatewayConfig['tariff'] = { ...params, fallbackDayAheadEurPerMwh: 40, ...(pricesFile ? { pricesFile } : {}) };
  return createTariffSource(config);
}

describe('the gateway tariff', () => {
  it("prices each step at the time-weighted mean of the hours it covers, with the gateway's tariff parameters", () => {
    const tariff = source(priceFile([[0, 0], [1, 100], [2, 60]]));
    const at = (dayAhead: number) => hourTariff(dayAhead, params);
    // 00:30–00:45 inside hour 0; 00:45–01:45 a quarter of hour 0 and three of hour 1; 01:45–03:15 crosses
    // a quarter of hour 1, all of hour 2 and a quarter of hour 3, which the file does not cover (fallback 40).
    const w = tariff.window(h0 + 0.5 * HOUR_MS, [0.25, 1, 1.5]);
    const expected = [at(0).buyEurPerKwh, 0.25 * at(0).buyEurPerKwh + 0.75 * at(100).buyEurPerKwh, (0.25 * at(100).buyEurPerKwh + at(60).buyEurPerKwh + 0.25 * at(40).buyEurPerKwh) / 1.5];
    w.buyEurPerKwh.forEach((v, k) => expect(v).toBeCloseTo(expected[k]!, 12));
    expect(at(60).buyEurPerKwh).toBeCloseTo((0.06 + 0.2) * 1.2, 12);
    expect(w.sellEurPerKwh).toEqual([0.07, 0.07, 0.07].map((v) => expect.closeTo(v, 12)));
    w.realtimeBuyEurPerKwh.forEach((v, k) => expect(v).toBeCloseTo(expected[k]! + 0.05, 12));
    w.realtimeSellEurPerKwh.forEach((v) => expect(v).toBeCloseTo(0.04, 12));
    // The daily demand charge on the one day the 2.75 h horizon is in, nothing paid for yet.
    expect(w.peakEurPerKw).toBeCloseTo(0.6, 12);
    expect(w.peakDayOfStep).toEqual([0, 0, 0]);
    expect(w.peakSoFarKw).toEqual([0]);
    expect(tariff.p2pGridFeeEurPerKwh).toBe(0.1);
  });

  it('prices hours the file skips, and hours before and after it, at the fallback day-ahead price', () => {
    const tariff = source(priceFile([[0, 10], [1, 20], [3, 30]]));
    const fallback = hourTariff(40, params);
    expect(tariff.hour(h0 + HOUR_MS)).toEqual(hourTariff(20, params));
    expect(tariff.hour(h0 + 2 * HOUR_MS)).toEqual(fallback);
    expect(tariff.hour(h0 - HOUR_MS)).toEqual(fallback);
    expect(tariff.hour(h0 + 4 * HOUR_MS)).toEqual(fallback);
    // Any instant in an hour gets that hour's tariff.
    expect(tariff.hour(h0 + 3.5 * HOUR_MS)).toEqual(hourTariff(30, params));
    expect(tariff.window(h0 + 2 * HOUR_MS, [1, 1]).buyEurPerKwh).toEqual([fallback.buyEurPerKwh, hourTariff(30, params).buyEurPerKwh]);
    // Without a price file every hour is at the fallback price.
    expect(source().window(h0, [0.25, 0.25]).buyEurPerKwh).toEqual([fallback.buyEurPerKwh, fallback.buyEurPerKwh]);
  });

  it("equals the evaluation's tariff on the shared price file with the evaluation's parameters", async () => {
    const prices = await loadPrices(defaultDataDir);
    const tariff = createTariffSource({ ...tariffParams, pricesFile: prices.file, fallbackDayAheadEurPerMwh: 0 });
    const w = tariff.window(h0 + 7 * HOUR_MS, new Array<number>(24).fill(1));
    const { peakEurPerKw, peakDayOfStep, peakSoFarKw, ...arrays } = w;
    expect(arrays).toEqual(tariffWindow(prices, h0 + 7 * HOUR_MS, 24));
    expect(peakEurPerKw).toBeCloseTo(tariffParams.demandChargeEurPerKwDay, 12);
    // From 07:00 the horizon runs into tomorrow: each day's peak is charged, today's so far paid for.
    expect(peakDayOfStep).toEqual([...new Array<number>(17).fill(0), ...new Array<number>(7).fill(1)]);
    expect(peakSoFarKw).toEqual([0, 0]);
    expect(tariff.window(h0 + 7 * HOUR_MS, new Array<number>(24).fill(1), 1.3).peakSoFarKw).toEqual([1.3, 0]);
  });
});
