/**
 * P2P trades in the evaluation's metered bill: a trade fixed before its hour is settled against
 * the realised meters as the market settles it. Checked against what the bill must become on the
 * hours where both meters cover the trade: the seller is paid the trade price instead of the
 * feed-in price for that energy, the buyer pays price plus fee instead of the grid's price; the
 * fee is what leaves the community.
 */
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHousehold, loadPrices } from '../../src/data/households.ts';
import { tariffParams } from '../../src/data/tariff.ts';
import type { FleetController } from '../../src/eval/controller.ts';
import { noControl } from '../../src/eval/controllers/no-control.ts';
import { runController, type ControllerRun } from '../../src/eval/run.ts';
import { buildHouseholdCase, type HouseholdCase } from '../../src/eval/scenario.ts';

const dataDir = resolve(import.meta.dirname, '../../data/community');
const runSettings = { batteryWearEurPerKw2h: 0, communityChargeEurPerKwDay: 1 };
const priceEurPerKwh = 0.12;
const tradeKwh = 0.3;
let cases: HouseholdCase[];
let alone: ControllerRun;
let traded: ControllerRun;
let hours: number[];

/** No control for both households; residential1 sells residential2 `tradeKwh` in each of `hours`. */
function withSales(sellingHours: readonly number[]): FleetController {
  const each = [noControl(), noControl()];
  return {
    async decide(contexts) {
      const decisions = await Promise.all(contexts.map((c, n) => each[n]!.decide(c)));
      if (sellingHours.includes(contexts[0]!.hourOfDay)) decisions[0] = { ...decisions[0]!, sales: [{ buyer: 1, energyKwh: tradeKwh, priceEurPerKwh }] };
      return decisions;
    },
  };
}

beforeAll(async () => {
  const prices = await loadPrices(dataDir);
  const series = await Promise.all(['residential1', 'residential2'].map((id) => loadHousehold(dataDir, id)));
  cases = series.map((s) => buildHouseholdCase(s, prices, [Date.UTC(2016, 6, 2)], { steps: 24, sampleCount: 3 }));
  alone = await runController({ name: 'alone', createFleet: () => withSales([]) }, cases, runSettings, () => undefined);
  // The hours in which residential1 exports and residential2 imports at least the trade: it is delivered in full.
  const [seller, buyer] = alone.households;
  hours = seller!.gridKw.flatMap((g, h) => (-g >= tradeKwh && buyer!.gridKw[h]! >= tradeKwh ? [h] : []));
  traded = await runController({ name: 'traded', createFleet: () => withSales(hours) }, cases, runSettings, () => undefined);
});

describe('P2P trades in the metered bill', () => {
  it('pay the seller the trade price and charge the buyer price and fee, instead of feed-in and the grid price', () => {
    expect(hours.length).toBeGreaterThan(2);
    const tariff = (h: number) => cases[0]!.days[0]!.hours[h]!.tariff;
    const sellerGain = hours.reduce((sum, h) => sum + tradeKwh * (priceEurPerKwh - tariff(h).sellEurPerKwh[0]!), 0);
    const buyerSaving = hours.reduce((sum, h) => sum + tradeKwh * (cases[1]!.days[0]!.hours[h]!.tariff.buyEurPerKwh[0]! - priceEurPerKwh - tariffParams.p2pGridFeeEurPerKwh), 0);
    const [seller, buyer] = [0, 1].map((n) => traded.households[n]!.bill.total - alone.households[n]!.bill.total);
    expect(seller).toBeCloseTo(-sellerGain, 9);
    expect(buyer).toBeCloseTo(-buyerSaving, 9);
    // What the two paid each other nets out; the fee leaves the community.
    const p2p = traded.households.reduce((sum, h) => sum + h.bill.p2p, 0);
    expect(p2p).toBeCloseTo(hours.length * tradeKwh * tariffParams.p2pGridFeeEurPerKwh, 9);
  });

  it('leave the meters, the peaks and the community charge as they are', () => {
    for (const n of [0, 1]) expect(traded.households[n]!.gridKw).toEqual(alone.households[n]!.gridKw);
    expect(traded.communityChargeEur).toEqual(alone.communityChargeEur);
  });
});
