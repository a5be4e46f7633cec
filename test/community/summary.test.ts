import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { householdIds, loadHousehold, loadPrices } from '../../src/data/households.ts';
import { noControl } from '../../src/eval/controllers/no-control.ts';
import { families } from '../../src/eval/metrics.ts';
import { runController, summarise } from '../../src/eval/run.ts';
import { buildHouseholdCase } from '../../src/eval/scenario.ts';
import type { HourRecord, SafetyEvent } from '../../src/runtime/types.ts';
import { completeDays, noControlRecords, summariseRun, type HouseholdRecords } from '../../src/community/summary.ts';
import type { NoLossAccount } from '../../src/household/bill.ts';
import type { SettlementRecord } from '../../src/runtime/no-loss.ts';
import { communityDataDir } from '../../sim/plant/household.ts';

const HOUR_MS = 3_600_000;
const day1 = Date.parse('2016-07-01T00:00:00Z');
const day2 = day1 + 24 * HOUR_MS;

/** An hour with nothing flowing, at a flat tariff: buy 0.30, sell 0.08, real time 0.40 / 0.04 EUR/kWh. */
function quietHour(hourStartMs: number, changes: Partial<HourRecord> = {}): HourRecord {
  return {
    hourStartMs, importKwh: 0, exportKwh: 0, peakImportKw: 0, pvKwh: 0, batteryDischargeKwh: 0, batteryChargeKwh: 0,
    shiftableRequestedKwh: 0, shiftableServedKwh: 0, scheduledGridKw: 0,
    buyEurPerKwh: 0.3, sellEurPerKwh: 0.08, realtimeBuyEurPerKwh: 0.4, realtimeSellEurPerKwh: 0.04,
    tradeKwh: 0, tradeCostEur: 0, trades: [], socMinFraction: 0.5, socMaxFraction: 0.5, violations: [], safeIterations: 0, iterations: 10,
    ...changes,
  };
}

function days(special: Record<number, Partial<HourRecord>>): HourRecord[] {
  return Array.from({ length: 48 }, (_, h) => quietHour(day1 + h * HOUR_MS, special[h]));
}

const event = (hour: number, action: SafetyEvent['action']): SafetyEvent => ({ atMs: day1 + hour * HOUR_MS + 60_000, reason: 'soc-guard', action, detail: 'test' });

// Household A, day 1: h0 imports 2 against a schedule of 1.5 with the battery discharging 1 kW;
// h1 exports 1 against a planned export of 2; h2 imports 1 of which 0.5 is bought from B at 0.11 (0.10 EUR
// with the 0.09 fee) on a schedule of 0.5; h3 imports 1 with no plan. Day 2: h10 imports 1 as scheduled.
// Its battery goes from 5 to 4 kWh. Household B, day 1: h2 exports 1 of which 0.5 is sold to A
// (earning 0.055) on a schedule of −0.5; h5 imports 3 as scheduled and violates its import row.
const a: HouseholdRecords = {
  household: 'a',
  hours: days({
    0: { importKwh: 2, scheduledGridKw: 1.5, batteryDischargeKwh: 1 },
    1: { exportKwh: 1, scheduledGridKw: -2 },
    2: { importKwh: 1, scheduledGridKw: 0.5, tradeKwh: 0.5, tradeCostEur: 0.1, trades: [{ tradeId: 'ab', peerId: 'b', energyKwh: 0.5, priceEurPerKwh: 0.11 }] },
    3: { importKwh: 1, scheduledGridKw: null },
    34: { importKwh: 1, scheduledGridKw: 1 },
  }),
  energy: [{ atMs: day1, energyKwh: 5 }, { atMs: day1 + 30 * HOUR_MS, energyKwh: 4.5 }, { atMs: day2 + 24 * HOUR_MS, energyKwh: 4 }],
  safetyEvents: [event(1, 'enter'), event(2, 'clear'), event(3, 'clip')],
};
const b: HouseholdRecords = {
  household: 'b',
  hours: days({
    2: { exportKwh: 1, scheduledGridKw: -0.5, tradeKwh: -0.5, tradeCostEur: -0.055, trades: [{ tradeId: 'ab', peerId: 'a', energyKwh: -0.5, priceEurPerKwh: 0.11 }] },
    5: { importKwh: 3, scheduledGridKw: 3, violations: ['import'] },
  }),
  energy: [],
  safetyEvents: [],
};

describe('the community summary', () => {
  const summary = summariseRun([a, b], [day1, day2]);
  const [sa, sb] = summary.households;

  it('settles each hour: schedule at the day-ahead tariff, the deviation in real time, wear, P2P, daily demand charges and stored energy', () => {
    // A day 1: 0.45 + 0.20 + 0.005 (h0) − 0.16 + 0.40 (h1) + 0.15 + 0.10 (h2) + 0.40 (h3) + 0.5 × 2 demand = 2.545
    expect(sa!.dailyCostEur[0]).toBeCloseTo(2.545, 9);
    expect(sa!.dailyCostEur[1]).toBeCloseTo(0.3 + 0.5, 9);
    // 1 kWh less stored at the end, at the median buy price × η^d = 0.3 × 0.95.
    expect(sa!.cost.storedEnergy).toBeCloseTo(0.285, 9);
    expect(sa!.cost).toMatchObject({ p2p: expect.closeTo(0.1, 9), demandCharge: expect.closeTo(1.5, 9), batteryWear: expect.closeTo(0.005, 9) });
    expect(sa!.cost.total).toBeCloseTo(2.545 + 0.8 + 0.285, 9);
    // B: −0.04 (h2 retailer export of 0.5) − 0.055 (P2P) + 0.90 (h5) + 0.5 × 3 demand; no energy measured, so no stored-energy term.
    expect(sb!.cost.total).toBeCloseTo(2.305, 9);
    expect(sb!.cost.storedEnergy).toBe(0);
    expect(summary.community.cost.total).toBeCloseTo(2.545 + 0.8 + 0.285 + 2.305, 9);
    expect(summary.community.dailyCostEur[0]).toBeCloseTo(2.545 + 2.305, 9);
  });

  it('computes peak import and PAR on hourly import, the community on its netted import at the connection point', () => {
    expect(sa).toMatchObject({ peakImportKw: 2, par: expect.closeTo(2 / (5 / 48), 9) });
    expect(sb).toMatchObject({ peakImportKw: 3, par: expect.closeTo(3 / (3 / 48), 9) });
    // h2: A's import of 1 is B's export of 1, so the connection point imports nothing.
    expect(summary.community.hourlyImportKw.slice(0, 6)).toEqual([2, 0, 0, 1, 0, 3]);
    expect(summary.community).toMatchObject({ peakImportKw: 3, par: expect.closeTo(3 / (7 / 48), 9) });
    // Daily peaks 3 and 1.
    expect(summary.community.kpis.avgDailyPeakKw).toBeCloseTo(2, 12);
  });

  it('bills each household on its meter: energy at the tariff, P2P paid to the peer, demand charge, wear and its share of the community charge', () => {
    // A day 1: retailer energy 2 × 0.3 − 1 × 0.08 + 0.5 × 0.3 + 1 × 0.3 = 0.97, wear 0.005, demand 0.5 × 2,
    // P2P 0.10; the community peak (3 kW at h5) is all B's import, so A's share is 0.
    expect(sa!.daily.bill[0]!.total).toBeCloseTo(0.97 + 0.005 + 1 + 0.1, 9);
    // A day 2: 0.3 + demand 0.5, and the whole community peak (1 kW at h10) at 1 €/kW.
    expect(sa!.daily.bill[1]!.total).toBeCloseTo(0.3 + 0.5 + 1, 9);
    expect(sa!.bill.total).toBeCloseTo(2.075 + 1.8 + 0.285, 9);
    // B day 1: −0.5 × 0.08 to the retailer, −0.055 from A, 3 × 0.3, demand 0.5 × 3, community charge 3 × 1.
    expect(sb!.bill.total).toBeCloseTo(-0.04 - 0.055 + 0.9 + 1.5 + 3, 9);
    expect(summary.community.bill.communityCharge).toBeCloseTo(4, 9);
    expect(summary.community.bill.total).toBeCloseTo(sa!.bill.total + sb!.bill.total, 9);
  });

  it('counts a day as violated if any row was, per family and jointly; the community if any household was', () => {
    expect(sa!.violation.joint).toBe(0);
    expect(sb!.violation).toMatchObject({ days: 2, joint: 0.5, perFamily: { import: 0.5, socMin: 0 } });
    expect(summary.community.violation).toMatchObject({ days: 2, joint: 0.5 });
  });

  it('counts traded energy once per trade for the community, and safety actions but not their clearing', () => {
    expect(sa!.tradedKwh).toBe(0.5);
    expect(summary.community.tradedKwh).toBe(0.5);
    expect(sa!.safetyEvents).toBe(2);
    expect(summary.community.dailySafetyEvents).toEqual([2, 0]);
    expect(sa!.hourlyEnergyKwh[0]).toBe(5);
    expect(sa!.hourlyEnergyKwh[30]).toBe(4.5);
    expect(sa!.hourlyEnergyKwh.at(-1)).toBe(4);
  });

  it('books the no-loss transfers of the summarised days, and reports the account over every day the gateway settled, the days between test days included', () => {
    // Three settled days, the middle one (day 2) not a test day: on day 1 a lost 2 € and b saved 4 €, and b
    // paid a 3 € (a ends at 1 € below alone, b at 1 €); day 2 was booked with no transfer; day 3, a test day, a refused day.
    const settlement = (dayMs: number, own: number, alone: number, withCommunity: number, booked: boolean, account: NoLossAccount): SettlementRecord => ({
      dayMs, participants: ['a', 'b'], transfersEur: {}, ownTransferEur: own, aloneEur: alone, withCommunityEur: withCommunity, booked, reason: 'test',
      household: { billEur: withCommunity, shadowBillEur: alone }, account,
    });
    const day3 = day2 + 24 * HOUR_MS;
    const settled = (h: HouseholdRecords, lines: SettlementRecord[]): HouseholdRecords => ({ ...h, hours: [...h.hours, ...days({}).map((r) => ({ ...r, hourStartMs: r.hourStartMs + 2 * 24 * HOUR_MS }))], settlements: lines });
    const withSettlements = summariseRun(
      [
        settled(a, [settlement(day1, -3, 10, 12, true, { aloneEur: 10, withCommunityEur: 12, transferEur: -3 }), settlement(day2, 0, 5, 5, true, { aloneEur: 15, withCommunityEur: 17, transferEur: -3 }), settlement(day3, 1, 5, 6, false, { aloneEur: 20, withCommunityEur: 23, transferEur: -3 })]),
        settled(b, [settlement(day1, 3, 10, 6, true, { aloneEur: 10, withCommunityEur: 6, transferEur: 3 }), settlement(day2, 0, 5, 5, true, { aloneEur: 15, withCommunityEur: 11, transferEur: 3 }), settlement(day3, -1, 5, 5, false, { aloneEur: 20, withCommunityEur: 16, transferEur: 3 })]),
      ],
      [day1, day3],
    );
    const [na, nb] = withSettlements.households.map((h) => h.noLoss!);
    expect(na).toEqual({ days: 2, bookedDays: 1, aloneEur: 15, withCommunityEur: 18, transferEur: -3, run: { days: 3, aloneEur: 20, withCommunityEur: 23, transferEur: -3 } });
    expect(nb!.run).toEqual({ days: 3, aloneEur: 20, withCommunityEur: 16, transferEur: 3 });
    expect(withSettlements.households[0]!.daily.bill.map((d) => d.communityTransfer)).toEqual([-3, 0]);
    expect(withSettlements.community.noLoss).toMatchObject({ days: 2, bookedDays: 1, transferEur: 0, run: { days: 3, aloneEur: 40, withCommunityEur: 39, transferEur: 0 } });
  });

  it('summarises only days every household recorded whole', () => {
    const gap: HouseholdRecords = { ...b, hours: b.hours.filter((h) => h.hourStartMs !== day2 + 7 * HOUR_MS) };
    expect(completeDays([a, gap], [day1, day2])).toEqual([day1]);
    expect(() => summariseRun([a, gap], [day1, day2])).toThrow(/b: no record of the hour 2016-07-02T07:00/);
  });
});

describe("the community summary's P2P settlement", () => {
  // Day 1, h6: A bought 1 kWh from B at 0.11 EUR/kWh, but B's meter exported only 0.4 kWh (its
  // battery covered its own load instead); A imported 1.5 kWh. h7: A sold 0.5 kWh to the CES (no
  // meter in the run) and exported 0.5. Flat tariff: buy 0.30, sell 0.08, real time 0.40 / 0.04,
  // P2P fee 0.09 (evaluation.md).
  const trade = (tradeId: string, peerId: string, energyKwh: number) => ({ tradeId, peerId, energyKwh, priceEurPerKwh: 0.11 });
  const buyer: HouseholdRecords = {
    household: 'a',
    hours: days({ 6: { importKwh: 1.5, scheduledGridKw: 0.5, tradeKwh: 1, tradeCostEur: 0.2, trades: [trade('t6', 'b', 1)] }, 7: { exportKwh: 0.5, scheduledGridKw: 0, tradeKwh: -0.5, tradeCostEur: -0.055, trades: [trade('t7', 'ces', -0.5)] } }),
    energy: [],
    safetyEvents: [],
  };
  const seller: HouseholdRecords = { household: 'b', hours: days({ 6: { exportKwh: 0.4, scheduledGridKw: 0, tradeKwh: -1, tradeCostEur: -0.11, trades: [trade('t6', 'a', -1)] } }), energy: [], safetyEvents: [] };
  const summary = summariseRun([buyer, seller], [day1]);
  const [sa, sb] = summary.households;

  it('pays a seller only for what its meter injected, and makes it compensate the buyer for the rest at the real-time price', () => {
    // Paid 0.4 kWh: A pays 0.4 × (0.11 + 0.09) = 0.08; B earns 0.4 × 0.11 = 0.044 and compensates the
    // 0.6 kWh A took from the grid instead at 0.40 − 0.11 − 0.09 = 0.20 EUR/kWh: 0.12.
    // h7: the CES takes what A sold; A earns 0.5 × 0.11 = 0.055.
    expect(sa!.daily.bill[0]!.p2p).toBeCloseTo(0.08 - 0.12 - 0.055, 9);
    expect(sb!.daily.bill[0]!.p2p).toBeCloseTo(-(0.044 - 0.12), 9);
    // On the retailer's side of A's meter: h6 1.5 − 0.4 = 1.1 kWh bought at 0.30, h7 nothing (all sold to the CES).
    // B's 0.4 kWh all went to A: nothing to the retailer.
    expect(sa!.daily.bill[0]!.energy).toBeCloseTo(1.1 * 0.3, 9);
    expect(sb!.daily.bill[0]!.energy).toBeCloseTo(0, 9);
  });

  it('counts the energy delivered and the energy contracted, each trade once for the community', () => {
    expect(sa).toMatchObject({ tradedKwh: expect.closeTo(0.9, 9), contractedTradeKwh: expect.closeTo(1.5, 9) });
    expect(sb).toMatchObject({ tradedKwh: expect.closeTo(0.4, 9), contractedTradeKwh: expect.closeTo(1, 9) });
    expect(summary.community).toMatchObject({ tradedKwh: expect.closeTo(0.9, 9), contractedTradeKwh: expect.closeTo(1.5, 9), dailyTradedKwh: [expect.closeTo(0.9, 9)] });
  });
});

describe('the no-control baseline', () => {
  it("is src/eval's no-control controller on the same day and data: the measured grid balance, with the same cost, peak, PAR and violations", async () => {
    const [prices, ...series] = await Promise.all([loadPrices(communityDataDir), ...householdIds.map((id) => loadHousehold(communityDataDir, id))]);
    const baseline = summariseRun(await noControlRecords(series, prices!, [day1]), [day1]);

    const cases = series.map((s) => buildHouseholdCase(s, prices!, [day1], { steps: 24, sampleCount: 5 }));
    const evalRun = summarise(await runController({ name: 'no-control', create: () => noControl() }, cases, 0.005, () => undefined), families);
    for (const [i, h] of baseline.households.entries()) {
      const e = evalRun.households[i]!;
      expect(h.household).toBe(e.household);
      expect(h.cost.total).toBeCloseTo(e.cost.total, 9);
      expect(h.cost.realtime).toBeCloseTo(e.cost.realtime, 9);
      expect(h.peakImportKw).toBeCloseTo(e.peakImportKw, 9);
      expect(h.par).toBeCloseTo(e.par, 9);
      expect(h.violation.joint).toBe(e.violation.joint);
    }
    expect(baseline.community.cost.total).toBeCloseTo(evalRun.community.cost.total, 9);
    expect(baseline.community.par).toBeCloseTo(evalRun.community.par, 9);

    // Independently of src/data and src/eval: the import is the CSV's load − PV wherever positive.
    for (const [i, id] of householdIds.entries()) {
      const [header, ...lines] = readFileSync(join(communityDataDir, 'buildings', `${id}_hourly.csv`), 'utf8').trim().split('\n');
      const cols = header!.split(',');
      const rows = lines.map((l) => l.split(',')).filter((c) => c[0]!.startsWith('2016-07-01T'));
      const importKw = rows.map((c) => Math.max(0, Number(c[cols.indexOf('load_kw')]) - Number(c[cols.indexOf('pv_kw')] || 0)));
      baseline.households[i]!.hourlyImportKw.forEach((v, h) => expect(v).toBeCloseTo(importKw[h]!, 9));
    }
  });
});
