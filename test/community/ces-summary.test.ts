/**
 * The community summary's rental market, read from the books a CES run leaves behind: the CES's day
 * line (written at its clearing), both parties' rental ledgers and both parties' market ledgers.
 */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RentalLedger } from '../../src/ces/rental-ledger.ts';
import { summariseCes } from '../../src/community/ces-summary.ts';
import { Ledger, type ClearedTrade } from '../../src/market/index.ts';
import { rentalDay } from '../ces/rental-day.ts';

describe('the community summary of a CES run', () => {
  it('counts the account trades a restarted CES committed after its clearing as committed, as both market ledgers hold them', () => {
    const root = mkdtempSync(join(tmpdir(), 'ces-summary-'));
    const cesDir = join(root, 'ces');
    const householdMarketDir = join(root, 'residential1', 'market');
    const { booking, movements, settlement } = rentalDay();
    // One account trade per metered hour of the day: a deposit is the household selling to the CES at 0 EUR/kWh, a withdrawal the reverse.
    const trades: ClearedTrade[] = movements.map((m) => ({
      seller: m.meterKwh > 0 ? booking.household : booking.ces,
      buyer: m.meterKwh > 0 ? booking.ces : booking.household,
      slotStartMs: m.slotStartMs,
      slotMinutes: 60,
      powerKw: Math.abs(m.meterKwh),
      priceEurPerKwh: 0,
    }));
    for (const [dir, id] of [[cesDir, booking.ces], [householdMarketDir, booking.household]] as const) {
      mkdirSync(dir, { recursive: true });
      const rental = RentalLedger.open(dir, id);
      rental.recordBooking(booking, trades);
      for (const m of movements) rental.recordMovement(m);
      rental.recordSettlement(settlement);
      rental.close();
      const market = Ledger.open(id === booking.ces ? join(dir, 'market') : dir, id);
      trades.forEach((t, k) => market.recordDecision({ ...t, tradeId: `t${k}`, offerId: `o${k}` }, 'committed'));
      market.close();
    }
    // The clearing committed the first four; the CES, killed and restarted, committed the other three at the household's word.
    const day = new Date(booking.dayMs).toISOString().slice(0, 10);
    const line = { day, priceEurPerKwhDay: booking.priceEurPerKwhDay, rounds: 5, bookings: [booking], accountTrades: trades.length, committedTrades: 4, p2pTrades: 0, committedP2pTrades: 0, p2pKwh: 0, p2pRevenueEur: 0, schedule: { marketKw: new Array<number>(24).fill(0), expectedProfitEur: 0 } };
    writeFileSync(join(cesDir, 'ces-days.jsonl'), `${JSON.stringify(line)}\n`);
    const prices = { file: 'prices', startMs: booking.dayMs, dayAheadEurPerMwh: new Float64Array(24).fill(40) };

    const summary = summariseCes(booking.ces, cesDir, { [booking.household]: householdMarketDir }, prices, [day])!;

    expect(summary.days.map((d) => [d.accountTrades, d.committedTrades])).toEqual([[7, 7]]);
    expect(summary.tradesMirrored).toBe(true);
    expect(summary.booksBalance).toBe(true);
    expect(summary.depositedKwh).toBeCloseTo(1.5 + 2.5 + 1.2, 9);
    expect(summary.withdrawnKwh).toBeCloseTo(1.0 + 2.0 + 1.0 + 0.4, 9);
  });
});
