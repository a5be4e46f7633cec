/**
 * The households' meter in the account-movement tests, and the movements the rule of
 * src/ces/account-movements.ts gives on it, computed here by hand.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { committedAccountKwh, type MeterHour } from '../../src/ces/account-movements.ts';
import type { RentalBooking, RentalLedger } from '../../src/ces/rental-ledger.ts';
import type { ClearedTrade } from '../../src/market/ledger.ts';

/** Per hour: `exportShare` of the committed deposit exported, `importShare` of the withdrawal imported; 0.4 kWh of other exchange in an hour without one. */
export function meterOf(hourStartsMs: readonly number[], committed: readonly ClearedTrade[], household: string, exportShare: (t: number) => number, importShare: (t: number) => number): MeterHour[] {
  return hourStartsMs.map((hourStartMs, t) => {
    const account = committedAccountKwh(committed, household, 'ces', hourStartMs);
    return { hourStartMs, exportKwh: account.depositKwh > 0 ? account.depositKwh * exportShare(t) : 0.4, importKwh: account.withdrawalKwh > 0 ? account.withdrawalKwh * importShare(t) : 0.4 };
  });
}

/**
 * The movements by hour (kWh at the meter, + in, − out): each way the committed account trade times
 * the share of all the household's committed trades of the hour that way (its P2P purchases among
 * them) that its meter delivered, at most 1; a deposit no more than the account can take, a
 * withdrawal no more than it holds.
 */
export function expectedMovements(booking: RentalBooking, committed: readonly ClearedTrade[], meter: readonly MeterHour[]): Map<number, number[]> {
  const eta = booking.efficiency;
  const { household } = booking;
  let storedKwh = 0;
  const out = new Map<number, number[]>();
  for (const hour of meter) {
    const account = committedAccountKwh(committed, household, 'ces', hour.hourStartMs);
    const hourTrades = committed.filter((t) => t.slotStartMs === hour.hourStartMs && t.slotMinutes === 60);
    const soldKwh = hourTrades.filter((t) => t.seller === household).reduce((s, t) => s + t.powerKw, 0);
    const boughtKwh = hourTrades.filter((t) => t.buyer === household).reduce((s, t) => s + t.powerKw, 0);
    const deposit = Math.min(account.depositKwh * Math.min(1, hour.exportKwh / soldKwh || 0), (booking.capacityKwh - storedKwh) / eta);
    storedKwh += eta * deposit;
    const withdrawal = Math.min(account.withdrawalKwh * Math.min(1, hour.importKwh / boughtKwh || 0), storedKwh * eta);
    storedKwh -= withdrawal / eta;
    const moved = [deposit, -withdrawal].filter((kwh) => Math.abs(kwh) > 1e-9);
    if (moved.length > 0) out.set(hour.hourStartMs, moved);
  }
  return out;
}

/** A ledger's movements of a booking by hour, deposit before withdrawal. */
export function byHour(ledger: RentalLedger, bookingId: string): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const m of ledger.movementsOf(bookingId).sort((a, b) => a.slotStartMs - b.slotStartMs || b.meterKwh - a.meterKwh)) out.set(m.slotStartMs, [...(out.get(m.slotStartMs) ?? []), m.meterKwh]);
  return out;
}

/** The ids of a rental journal's entries of one type, as many as there are lines (a double would show twice). */
function journalIds(dir: string, type: 'booking' | 'movement'): string[] {
  return readFileSync(join(dir, 'rental-ledger.jsonl'), 'utf8').trim().split('\n')
    .map((l) => (JSON.parse(l) as { record: { type: string; movement?: { movementId: string }; booking?: { bookingId: string } } }).record)
    .filter((r) => r.type === type)
    .map((r) => (type === 'movement' ? r.movement!.movementId : r.booking!.bookingId));
}

/** The movement ids of a rental journal's lines, as many as there are lines (a double would show twice). */
export const journalMovementIds = (dir: string) => journalIds(dir, 'movement');

/** The booking ids of a rental journal's lines, as many as there are lines. */
export const journalBookingIds = (dir: string) => journalIds(dir, 'booking');
