/**
 * The account's movements from metered energy (docs/ces.md §4, "The rule"): what both parties record
 * for one hour of a booked day. The account's energy was committed as 0 EUR/kWh market trades with
 * the CES (rental-protocol.ts `accountTrades`); an hour's movement is that hour's committed account
 * trade as the household's meter delivered it, the way src/market/settlement.ts settles committed
 * trades: a deposit is the committed deposit scaled by the share of the household's committed sales
 * of the hour its meter exported (min(1, export / sold)), a withdrawal the committed withdrawal
 * scaled by the share of its committed purchases it imported (min(1, import / bought)); pro rata
 * over all the household's trades of the hour (its P2P purchases from the CES among them), so the
 * account is not served before the other peers nor after them. Never more than committed, hence
 * never more than booked (the answers' power is within the booking's). Both sides compute the same
 * movement from the same figure: the household from its meter, the CES from the household's signed
 * report, which it records only within the committed trade of its own market ledger.
 */
import { HOUR_MS } from '../data/households.ts';
import type { ClearedTrade } from '../market/ledger.ts';
import type { AccountMovement } from './rental-ledger.ts';
import { isAccountTrade } from './rental-protocol.ts';

/** The household's meter over one hour (kWh, both ≥ 0): the fields of its HourRecord. */
export interface MeterHour {
  hourStartMs: number;
  importKwh: number;
  exportKwh: number;
}

export interface AccountHourKwh {
  depositKwh: number;
  withdrawalKwh: number;
}

const inHour = (trade: ClearedTrade, hourStartMs: number) => trade.slotStartMs >= hourStartMs && trade.slotStartMs < hourStartMs + HOUR_MS;
const energyKwh = (trade: ClearedTrade) => (trade.powerKw * trade.slotMinutes) / 60;
const sum = (trades: readonly ClearedTrade[], pick: (t: ClearedTrade) => boolean) => trades.filter(pick).reduce((s, t) => s + energyKwh(t), 0);

/** The account trades committed between `household` and `ces` in the hour (kWh at the household's meter); its P2P purchases from the CES are not the account's. */
export function committedAccountKwh(committed: readonly ClearedTrade[], household: string, ces: string, hourStartMs: number): AccountHourKwh {
  const hour = committed.filter((t) => inHour(t, hourStartMs) && isAccountTrade(t));
  return {
    depositKwh: sum(hour, (t) => t.seller === household && t.buyer === ces),
    withdrawalKwh: sum(hour, (t) => t.seller === ces && t.buyer === household),
  };
}

/** The hour's committed account trades as the household's meter delivered them (the rule above). */
export function meteredAccountKwh(committed: readonly ClearedTrade[], household: string, ces: string, meter: MeterHour): AccountHourKwh {
  const hour = committed.filter((t) => inHour(t, meter.hourStartMs));
  const share = (meteredKwh: number, promisedKwh: number) => (promisedKwh > 0 ? Math.min(1, Math.max(0, meteredKwh) / promisedKwh) : 1);
  const account = committedAccountKwh(hour, household, ces, meter.hourStartMs);
  return {
    depositKwh: account.depositKwh * share(meter.exportKwh, sum(hour, (t) => t.seller === household)),
    withdrawalKwh: account.withdrawalKwh * share(meter.importKwh, sum(hour, (t) => t.buyer === household)),
  };
}

/**
 * The movement both ledgers record for `meterKwh` (+ deposit, − withdrawal) in the hour; its id names
 * the booking, the hour (UTC, a booking is for one UTC day) and the direction, so a report sent again
 * is the same entry.
 */
export function accountMovement(bookingId: string, hourStartMs: number, meterKwh: number): AccountMovement {
  return { movementId: `${bookingId}-h${new Date(hourStartMs).toISOString().slice(11, 13)}-${meterKwh >= 0 ? 'in' : 'out'}`, bookingId, slotStartMs: hourStartMs, meterKwh };
}

/** The id under which the settlement of a booking is acknowledged. */
export const settlementIdOf = (bookingId: string) => `${bookingId}-settlement`;
