import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { RentalLedger } from '../../src/ces/rental-ledger.ts';
import { Ledger } from '../../src/market/ledger.ts';
import { rentalDay, rentalDayDueEur } from './rental-day.ts';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'pe-rental-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const writer = fileURLToPath(new URL('./rental-ledger-writer.ts', import.meta.url));

/** Books the whole day in both ledgers (what a restarted party does: entries already there are skipped). */
function bookDay(...books: RentalLedger[]): void {
  const day = rentalDay();
  for (const book of books) {
    book.recordBooking(day.booking);
    for (const m of day.movements) book.recordMovement(m);
    book.recordSettlement(day.settlement);
  }
}

describe('the rental ledgers of the CES and a household', () => {
  it('hold the same entries with opposite signs: the household pays what the CES receives', () => {
    const ces = RentalLedger.open(tempDir(), 'ces');
    const household = RentalLedger.open(tempDir(), 'residential1');
    bookDay(ces, household);
    const id = rentalDay().booking.bookingId;
    expect(ces.balanceEur(id)).toBeCloseTo(rentalDayDueEur(), 12);
    expect(household.balanceEur(id)).toBe(-ces.balanceEur(id));
    expect(household.accountKwh(id)).toBeCloseTo(rentalDay().settlement.residueKwh, 12);
  });

  it('the P2P energy the CES sells goes into both market ledgers (ledger.ts) with opposite signs', () => {
    const cesDir = tempDir();
    const householdDir = tempDir();
    const trade = { tradeId: 'p2p-2016-07-01T18-residential1', offerId: 'ces-day-2016-07-01', seller: 'ces', buyer: 'residential1', slotStartMs: Date.UTC(2016, 6, 1, 18), slotMinutes: 60, powerKw: 1.2, priceEurPerKwh: 0.05 };
    const books = [Ledger.open(cesDir, 'ces'), Ledger.open(householdDir, 'residential1')];
    for (const book of books) book.recordDecision(trade, 'committed');
    for (const book of books) book.close();
    const [ces, household] = [Ledger.open(cesDir, 'ces'), Ledger.open(householdDir, 'residential1')];
    expect(ces.committedKw('residential1', [trade.slotStartMs])).toEqual([-1.2]);
    expect(household.committedKw('ces', [trade.slotStartMs])).toEqual([1.2]);
    ces.close();
    household.close();
  });

  it('refuse a movement that overdraws or overfills the account, and other terms under a known id', () => {
    const book = RentalLedger.open(tempDir(), 'ces');
    const { booking, movements } = rentalDay();
    book.recordBooking(booking);
    // Withdrawing 0.1 kWh at the meter takes 0.1 / 0.95 from the empty account; depositing 6.5 stores 6.175 of 6.
    expect(() => book.recordMovement({ ...movements[0]!, meterKwh: -0.1 })).toThrow(/would hold -0.105\d* kWh of 6/);
    expect(() => book.recordMovement({ ...movements[0]!, meterKwh: 6.5 })).toThrow(/would hold 6.175\d* kWh of 6/);
    book.recordMovement(movements[0]!);
    expect(() => book.recordMovement({ ...movements[0]!, meterKwh: 1 })).toThrow(/already recorded with other terms/);
    expect(() => book.recordBooking({ ...booking, priceEurPerKwhDay: 0.02 })).toThrow(/already recorded/);
  });

  it('a writer killed with SIGKILL mid-day loses nothing it reported; replaying the day completes both books without doubles', async () => {
    const cesDir = tempDir();
    const householdDir = tempDir();
    const child = spawn(process.execPath, ['--import', 'tsx', writer, cesDir, householdDir, '150'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const reported: string[] = [];
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += String(chunk)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk) => {
        reported.push(...String(chunk).split('\n').filter(Boolean));
        if (reported.length >= 4) child.kill('SIGKILL');
      });
      child.on('exit', () => resolve());
      child.on('error', reject);
    });
    expect(stderr).toBe('');
    expect(reported).not.toContain('settled');
    const id = rentalDay().booking.bookingId;
    const ces = RentalLedger.open(cesDir, 'ces');
    const household = RentalLedger.open(householdDir, 'residential1');
    // Every movement the writer reported is in both books (one more may be in one of them).
    for (const book of [ces, household]) {
      const held = book.movementsOf(id).map((m) => m.movementId);
      for (const movementId of reported.filter((r) => r.includes('-m'))) expect(held).toContain(movementId);
    }
    bookDay(ces, household);
    expect(ces.balanceEur(id)).toBeCloseTo(rentalDayDueEur(), 12);
    expect(household.balanceEur(id)).toBe(-ces.balanceEur(id));
    ces.close();
    household.close();
    const reopened = RentalLedger.open(cesDir, 'ces');
    expect(reopened.balanceEur(id)).toBeCloseTo(rentalDayDueEur(), 12);
    reopened.close();
  }, 60_000);
});
