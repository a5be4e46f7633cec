/**
 * The rental market of a community run with a CES (`--ces`, docs/ces.md §5): what the CES agent
 * cleared and booked each day (its `ces-days.jsonl`), what its battery did (`ces-metered.json`), both
 * parties' rental ledgers (their totals must mirror each other) and the account trades in both
 * parties' market ledgers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RentalLedger, type RentalBooking } from '../ces/rental-ledger.ts';
import type { MeteredHour } from '../ces/storage.ts';
import { dayPrices } from '../ces/price-scenarios.ts';
import { defaultCesSettings } from '../ces/settings.ts';
import { HOUR_MS, type PriceSeries } from '../data/households.ts';
import { Ledger } from '../market/ledger.ts';

export interface CesDaySummary {
  day: string;
  priceEurPerKwhDay: number;
  rounds: number;
  bookedKwh: number;
  households: number;
  accountTrades: number;
  committedTrades: number;
  /** The CES's day-ahead position at the day's real prices (EUR, + received). */
  marketEur: number;
  expectedProfitEur: number;
}

export interface CesRunSummary {
  days: CesDaySummary[];
  bookedKwhPerDay: number;
  /** Rent the CES's rental ledger holds (EUR, + received) and the households' ledgers together (− paid): they mirror. */
  cesRentalEur: number;
  householdsRentalEur: number;
  mirrored: boolean;
  /** Account energy committed as trades, from the CES's market ledger (kWh): deposits bought, withdrawals sold; and whether every household's market ledger holds the same trades. */
  depositedKwh: number;
  withdrawnKwh: number;
  tradesMirrored: boolean;
  /** What the battery did, metered (kWh), and its degradation at the CES's cost per kWh of throughput (EUR). */
  chargeKwh: number;
  dischargeKwh: number;
  degradationEur: number;
  /** Market position at the real prices + rent − degradation on metered throughput (EUR). */
  profitEur: number;
}

interface DayLine {
  day: string;
  priceEurPerKwhDay: number;
  rounds: number;
  bookings: RentalBooking[];
  accountTrades: number;
  committedTrades: number;
  schedule: { marketKw: number[]; expectedProfitEur: number };
}

/** `cesDataDir`: the agent's data folder; `householdMarketDirs`: each household's market folder (its rental and market ledgers). */
export function summariseCes(cesId: string, cesDataDir: string, householdMarketDirs: Record<string, string>, prices: PriceSeries, summarisedDays: readonly string[]): CesRunSummary | null {
  const daysFile = join(cesDataDir, 'ces-days.jsonl');
  if (!existsSync(daysFile)) return null;
  const lines = readFileSync(daysFile, 'utf8').trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as DayLine);
  const cleared = lines.filter((l) => summarisedDays.includes(l.day));
  const days = cleared.map((l): CesDaySummary => {
    const real = dayPrices(prices, Date.parse(`${l.day}T00:00:00Z`));
    return {
      day: l.day,
      priceEurPerKwhDay: l.priceEurPerKwhDay,
      rounds: l.rounds,
      bookedKwh: l.bookings.reduce((s, b) => s + b.capacityKwh, 0),
      households: l.bookings.length,
      accountTrades: l.accountTrades,
      committedTrades: l.committedTrades,
      marketEur: l.schedule.marketKw.reduce((s, kw, t) => s + kw * real[t]!, 0),
      expectedProfitEur: l.schedule.expectedProfitEur,
    };
  });
  const dayStarts = new Set(cleared.map((l) => Date.parse(`${l.day}T00:00:00Z`)));
  const inDays = (ms: number) => dayStarts.has(Math.floor(ms / (24 * HOUR_MS)) * 24 * HOUR_MS);

  const rental = (dir: string, id: string, bookings: readonly RentalBooking[]) => {
    const ledger = RentalLedger.open(dir, id);
    try {
      return bookings.reduce((s, b) => s + (ledger.allBookings().some((k) => k.bookingId === b.bookingId) ? ledger.balanceEur(b.bookingId) : 0), 0);
    } finally {
      ledger.close();
    }
  };
  const bookings = cleared.flatMap((l) => l.bookings);
  const cesRentalEur = rental(cesDataDir, cesId, bookings);
  const householdsRentalEur = Object.entries(householdMarketDirs).reduce((s, [id, dir]) => s + rental(dir, id, bookings.filter((b) => b.household === id)), 0);

  const trades = (dir: string, id: string) => {
    const ledger = Ledger.open(dir, id);
    try {
      return ledger.committed().filter((t) => (t.seller === cesId || t.buyer === cesId) && inDays(t.slotStartMs));
    } finally {
      ledger.close();
    }
  };
  const cesTrades = trades(join(cesDataDir, 'market'), cesId);
  const key = (t: { tradeId: string; seller: string; buyer: string; powerKw: number }) => `${t.tradeId}/${t.seller}/${t.buyer}/${t.powerKw}`;
  const householdTrades = Object.entries(householdMarketDirs).flatMap(([id, dir]) => trades(dir, id));
  const tradesMirrored = cesTrades.length === householdTrades.length && cesTrades.map(key).sort().join() === householdTrades.map(key).sort().join();

  const meteredFile = join(cesDataDir, 'ces-metered.json');
  // Written when the agent stops; a killed agent leaves none.
  const { hours } = existsSync(meteredFile) ? (JSON.parse(readFileSync(meteredFile, 'utf8')) as { hours: MeteredHour[] }) : { hours: [] };
  const metered = hours.filter((h) => inDays(h.hourStartMs));
  const chargeKwh = metered.reduce((s, h) => s + h.chargeKwh, 0);
  const dischargeKwh = metered.reduce((s, h) => s + h.dischargeKwh, 0);
  const degradationEur = defaultCesSettings.degradationEurPerKwh * (chargeKwh + dischargeKwh);
  return {
    days,
    bookedKwhPerDay: days.length > 0 ? days.reduce((s, d) => s + d.bookedKwh, 0) / days.length : 0,
    cesRentalEur,
    householdsRentalEur,
    mirrored: Math.abs(cesRentalEur + householdsRentalEur) < 1e-9,
    depositedKwh: cesTrades.filter((t) => t.buyer === cesId).reduce((s, t) => s + (t.powerKw * t.slotMinutes) / 60, 0),
    withdrawnKwh: cesTrades.filter((t) => t.seller === cesId).reduce((s, t) => s + (t.powerKw * t.slotMinutes) / 60, 0),
    tradesMirrored,
    chargeKwh,
    dischargeKwh,
    degradationEur,
    profitEur: days.reduce((s, d) => s + d.marketEur, 0) + cesRentalEur - degradationEur,
  };
}
