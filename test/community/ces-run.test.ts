/**
 * END TO END — the community run with a CES (`--ces`): four `prosumer-edge run` gateways and
 * `prosumer-edge ces-agent` on one broker and one lock-step time, over one simulated day (two to
 * four minutes of wall time on two shared cores). The CES clears the day's rental with the gateways,
 * the bookings are in both parties' rental ledgers with opposite signs, the account energy and the
 * P2P energy the CES sells are committed as trades in both parties' market ledgers (the P2P trades
 * counted in the buyers' hour records at their price), and the CES's battery, metered, did what its
 * schedule said. The gateways solve with 5 error samples instead of 20: the test checks the
 * rental's mechanics, not its figures.
 */
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAccountTrade } from '../../src/ces/rental-protocol.ts';
import type { MeteredHour } from '../../src/ces/storage.ts';
import { runCommunity } from '../../src/community/runner.ts';
import { householdIds } from '../../src/data/households.ts';
import { tariffParams } from '../../src/data/tariff.ts';
import { Ledger } from '../../src/market/ledger.ts';
import { openRuntimeStore } from '../../src/storage/store.ts';

describe('the community run with a CES (end to end)', () => {
  it('clears, books and commits the rental with the gateways on lock-step time; the ledgers mirror each other and the CES battery meters its schedule', async () => {
    const summary = await runCommunity({ days: 1, ces: true, samples: 5, outDir: mkdtempSync(join(tmpdir(), 'community-ces-')), progress: { write: () => undefined } });
    expect(summary.gateways.map((g) => g.status)).toEqual(householdIds.map(() => 'ok'));
    expect(summary.ces?.outcome.status, summary.ces?.outcome.stderrTail).toBe('ok');
    const market = summary.ces!.market!;
    expect(market.days.map((d) => d.day)).toEqual(summary.summarisedDays);
    const [day] = market.days;
    // Every household answered every round (none silent) and accepted what it was booked.
    expect(day!.rounds).toBeGreaterThan(0);
    expect(day!.committedTrades).toBe(day!.accountTrades);
    expect(market.mirrored).toBe(true);
    expect(market.tradesMirrored).toBe(true);
    const lines = readFileSync(join(summary.runDir, 'ces', 'data', 'ces-days.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { silent: string[]; unbooked: unknown[]; schedule: { physicalChargeKw: number[]; physicalDischargeKw: number[] } });
    expect(lines.map((l) => [l.silent, l.unbooked])).toEqual([[[], []]]);

    // The CES's battery did what the schedule says, hour by hour (within the registers' resolution).
    const dayMs = Date.parse(`${day!.day}T00:00:00Z`);
    const { hours } = JSON.parse(readFileSync(join(summary.runDir, 'ces', 'data', 'ces-metered.json'), 'utf8')) as { hours: MeteredHour[] };
    const { physicalChargeKw: charge, physicalDischargeKw: discharge } = lines[0]!.schedule;
    const dayHours = hours.filter((h) => h.hourStartMs >= dayMs && h.hourStartMs < dayMs + 86_400_000);
    expect(dayHours).toHaveLength(24);
    dayHours.forEach((h, t) => {
      const both = Math.min(charge[t]!, discharge[t]!);
      expect(Math.abs(h.chargeKwh - (charge[t]! - both))).toBeLessThan(0.02);
      expect(Math.abs(h.dischargeKwh - (discharge[t]! - both))).toBeLessThan(0.02);
    });
    expect(market.chargeKwh).toBeCloseTo(dayHours.reduce((s, h) => s + h.chargeKwh, 0), 9);

    // The P2P energy the CES sold is committed, and every gateway's hour records count its committed
    // trades — the CES's P2P sales at their price, its account trades at 0 — plus the local fee on purchases.
    expect(day!.committedP2pTrades).toBe(day!.p2pTrades);
    expect(market.p2pKwh).toBeGreaterThan(0);
    expect(market.p2pKwh).toBeCloseTo(day!.p2pKwh, 9);
    let boughtEur = 0;
    for (const household of householdIds) {
      const store = join(summary.runDir, household, 'store');
      const ledger = Ledger.open(join(store, 'market'), household);
      const runtime = openRuntimeStore(store, { log: () => undefined });
      try {
        const committed = ledger.committed();
        boughtEur += committed.filter((t) => t.seller === 'ces' && !isAccountTrade(t)).reduce((s, t) => s + (t.powerKw * t.slotMinutes * t.priceEurPerKwh) / 60, 0);
        for (const hour of runtime.hours().filter((h) => h.hourStartMs >= dayMs && h.hourStartMs < dayMs + 86_400_000)) {
          const energyKwh = committed.map((t) => (t.buyer === household ? 1 : -1) * t.powerKw * Math.max(0, (Math.min(t.slotStartMs + t.slotMinutes * 60_000, hour.hourStartMs + 3_600_000) - Math.max(t.slotStartMs, hour.hourStartMs)) / 3_600_000));
          expect(hour.tradeKwh).toBeCloseTo(energyKwh.reduce((s, e) => s + e, 0), 9);
          expect(hour.tradeCostEur).toBeCloseTo(energyKwh.reduce((s, e, k) => s + e * committed[k]!.priceEurPerKwh + Math.max(0, e) * tariffParams.p2pGridFeeEurPerKwh, 0), 9);
          // Each committed trade of the hour is in the record, for the summary to settle on the meters.
          const inHour = committed.flatMap((t, k) => (energyKwh[k] !== 0 ? [{ tradeId: t.tradeId, peerId: t.buyer === household ? t.seller : t.buyer, energyKwh: energyKwh[k]! }] : []));
          expect(hour.trades.map(({ tradeId, peerId, energyKwh: e }) => ({ tradeId, peerId, energyKwh: e }))).toEqual(expect.arrayContaining(inHour));
          expect(hour.trades).toHaveLength(inHour.length);
        }
      } finally {
        runtime.close();
        ledger.close();
      }
    }
    expect(boughtEur).toBeCloseTo(market.p2pEur, 9);

    // The CES takes no part in the community clearing: the live guard never waits for its imports.
    for (const household of householdIds) expect(readFileSync(join(summary.runDir, household, 'gateway.log'), 'utf8')).not.toMatch(/live guard: no report .* from .*\bces\b/);
  }, 600_000);
});
