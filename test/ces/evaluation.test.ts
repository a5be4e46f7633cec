import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/eval/ces/command.ts';
import { loadHousehold, loadPrices } from '../../src/data/households.ts';
import { hourTariff, tariffParams } from '../../src/data/tariff.ts';
import type { AloneResult, CesDayFigures, SetupResult } from '../../src/eval/ces/run.ts';

const dataDir = resolve(import.meta.dirname, '../../../shared/data');
const HOUR_MS = 3_600_000;

describe('prosumer-edge ces, end to end on the real data', () => {
  let outDir = '';
  afterAll(async () => {
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  it('runs 2 households for 2 test days at two risk weights; bills and the CES books agree with what is computed from the data', async () => {
    outDir = await mkdtemp(join(tmpdir(), 'ces-'));
    const printed: string[] = [];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (printed.push(String(chunk)), true));
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    let code: number;
    try {
      code = await run(['--data', dataDir, '--out', outDir, '--households', '1,4', '--days', '2', '--risk-weights', '0,2', '--degradation', '0.002']);
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
    expect(code).toBe(0);
    expect(printed.join('')).toMatch(/\| c: rent\+P2P, λ=2 \|/);
    const json = JSON.parse(await readFile(join(outDir, 'ces.json'), 'utf8')) as { days: string[]; setups: SetupResult[]; alone: AloneResult[] };
    expect(json.days).toEqual(['2016-07-01', '2016-07-02']);
    expect(json.setups.map((s) => s.setup.name)).toEqual(['a: no storage', 'b: own batteries', 'c: rent, λ=0', 'c: rent+P2P, λ=0', 'd: own+rent+P2P, λ=0', 'c: rent, λ=2', 'c: rent+P2P, λ=2', 'd: own+rent+P2P, λ=2']);

    // (a) has nothing to plan: the meter is the measured net load, billed at the tariff of the hour.
    const prices = await loadPrices(dataDir);
    const series = await Promise.all(['residential1', 'residential4'].map((id) => loadHousehold(dataDir, id)));
    const expected = [0, 0];
    for (const day of json.days) {
      const dayMs = Date.parse(`${day}T00:00:00Z`);
      const net = series.map((h) => Array.from({ length: 24 }, (_, t) => {
        const i = (dayMs + t * HOUR_MS - h.startMs) / HOUR_MS;
        return h.loadKw[i]! - h.pvKw[i]!;
      }));
      const community = Array.from({ length: 24 }, (_, t) => Math.max(0, net[0]![t]! + net[1]![t]!));
      const peakHour = community.indexOf(Math.max(...community));
      const inPeak = net.map((n) => Math.max(0, n[peakHour]!));
      net.forEach((n, k) => {
        for (const [t, kw] of n.entries()) {
          const tariff = hourTariff(prices.dayAheadEurPerMwh[(dayMs + t * HOUR_MS - prices.startMs) / HOUR_MS]!);
          expected[k]! += kw > 0 ? kw * tariff.buyEurPerKwh : kw * tariff.sellEurPerKwh;
        }
        expected[k]! += tariffParams.demandChargeEurPerKwDay * Math.max(0, ...n);
        expected[k]! += (1.0 * Math.max(...community) * inPeak[k]!) / (inPeak[0]! + inPeak[1]!);
      });
    }
    const none = json.setups[0]!;
    none.households.forEach((h, k) => expect(h.bill.total).toBeCloseTo(expected[k]!, 9));

    // What the households pay for the CES's products is what the CES books, plus the grid fees and VAT on P2P.
    for (const s of json.setups.filter((x) => x.ces)) {
      const days = s.ces as CesDayFigures[];
      const paid = s.households.reduce((sum, h) => sum + h.bill.p2p, 0);
      const booked = days.reduce((sum, d) => sum + d.rentalRevenueEur + tariffParams.p2pGridFeeEurPerKwh * d.accountOutKwh + tariffParams.vatFactor * (d.p2pRevenueEur + tariffParams.p2pGridFeeEurPerKwh * d.p2pKwh), 0);
      expect(paid).toBeCloseTo(booked, 9);
      for (const d of days) expect(d.realisedProfitEur).toBeCloseTo(d.marketEur + d.p2pRevenueEur + d.rentalRevenueEur + d.residueValueEur - d.degradationEur, 9);
    }
    // Renting lowers the bill of a household without a battery; trading alone, a risk-averse CES expects less and fears less.
    const bill = (name: string) => json.setups.find((s) => s.setup.name === name)!.communityBillEur;
    expect(bill('c: rent+P2P, λ=0')).toBeLessThan(bill('a: no storage'));
    const [neutral, averse] = json.alone.map((a) => ({ expected: a.days.reduce((sum, d) => sum + d.expectedProfitEur, 0), cvar: a.days.reduce((sum, d) => sum + d.cvarEur, 0) }));
    expect(averse!.expected).toBeLessThanOrEqual(neutral!.expected + 1e-9);
    expect(averse!.cvar).toBeGreaterThanOrEqual(neutral!.cvar - 1e-9);
  }, 120_000);

  it('refuses a bad option with exit code 2 and a message naming it, before loading any data', async () => {
    for (const [args, message] of [[['--risk-weights', '0,x'], /--risk-weights: expected numbers ≥ 0, got "x"/], [['--confidence', '1.5'], /confidence must be in \(0, 1\) \(got 1.5\)/], [['--households', '9'], /--households: unknown household "residential9"/]] as const) {
      const errors: string[] = [];
      const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (errors.push(String(chunk)), true));
      try {
        expect(await run(['--data', dataDir, ...args])).toBe(2);
      } finally {
        stderr.mockRestore();
      }
      expect(errors.join('')).toMatch(message);
    }
  });
});
