/**
 * The rental market of a community run with a CES (`--ces`, docs/ces.md §5): what the CES agent
 * cleared and booked each day (its `ces-days.jsonl`), what its battery did (`ces-metered.json`), both
 * parties' rental ledgers (the bookings, the accounts' metered movements and the settlements of their
 * residues: each booking must be held alike by both and settled, and their totals mirror each other)
 * and the account and P2P trades in both parties' market ledgers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { booksMirror, RentalLedger, type RentalBooking } from '../ces/rental-ledger.ts';
import type { MeteredHour } from '../ces/storage.ts';
import { dayPrices } from '../ces/price-scenarios.ts';
import { isAccountTrade } from '../ces/rental-protocol.ts';
import { defaultCesSettings } from '../ces/settings.ts';
import { DAY_MS, type PriceSeries } from '../data/households.ts';
import { Ledger } from '../market/ledger.ts';

export interface CesDaySummary {
  day: string;
  priceEurPerKwhDay: number;
  rounds: number;
  bookedKwh: number;
  households: number;
  /** The account trades of the day's bookings, and how many of them the CES's market ledger holds committed (a commit after a restart included). */
  accountTrades: number;
  committedTrades: number;
  /** The P2P energy of the households' final answers as trades, how many were committed, their kWh and what they are worth at the CES's posted prices (EUR). */
  p2pTrades: number;
  committedP2pTrades: number;
  p2pKwh: number;
  p2pEur: number;
  /** The CES's day-ahead position at the day's real prices (EUR, + received). */
  marketEur: number;
  expectedProfitEur: number;
  /** The accounts' movements in the CES's rental ledger (kWh at the households' meters), and the residue settled after the day (stored kWh). */
  movedInKwh: number;
  movedOutKwh: number;
  residueKwh: number;
  /** Bookings of the day settled in both parties' ledgers, of `households`. */
  settled: number;
  /** What the households paid the CES for the day (rent + throughput fees − residue bought back, EUR), from the CES's ledger. */
  rentalEur: number;
  /** Every booking of the day is held alike by both parties (booking, movements, settlement) and settled: both books sum to zero. */
  booksBalance: boolean;
}

export interface CesRunSummary {
  days: CesDaySummary[];
  bookedKwhPerDay: number;
  /** What the CES's rental ledger holds (rent + fees − residues, EUR, + received) and the households' ledgers together (− paid): they mirror. */
  cesRentalEur: number;
  householdsRentalEur: number;
  mirrored: boolean;
  /** Every day's `booksBalance`. */
  booksBalance: boolean;
  /** Account energy committed as trades, from the CES's market ledger (kWh): deposits bought, withdrawals sold; and whether every household's market ledger holds the same trades. */
  depositedKwh: number;
  withdrawnKwh: number;
  tradesMirrored: boolean;
  /** P2P energy the CES sold, committed in its market ledger (kWh), and what the buyers pay it for it at its posted prices (EUR, before their fees and VAT). */
  p2pKwh: number;
  p2pEur: number;
  /** What the battery did, metered (kWh), and its degradation at the CES's cost per kWh of throughput (EUR). */
  chargeKwh: number;
  dischargeKwh: number;
  degradationEur: number;
  /** Market position at the real prices + P2P sales + what the households paid for the rental (rent + fees − residues bought back) − degradation on metered throughput (EUR). */
  profitEur: number;
}

interface DayLine {
  day: string;
  priceEurPerKwhDay: number;
  rounds: number;
  bookings: RentalBooking[];
  accountTrades: number;
  p2pTrades: number;
  committedP2pTrades: number;
  p2pKwh: number;
  p2pRevenueEur: number;
  schedule: { marketKw: number[]; expectedProfitEur: number };
}

/** `cesDataDir`: the agent's data folder; `householdMarketDirs`: each household's market folder (its rental and market ledgers). */
export function summariseCes(cesId: string, cesDataDir: string, householdMarketDirs: Record<string, string>, prices: PriceSeries, summarisedDays: readonly string[]): CesRunSummary | null {
  const daysFile = join(cesDataDir, 'ces-days.jsonl');
  if (!existsSync(daysFile)) return null;
  const lines = readFileSync(daysFile, 'utf8').trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as DayLine);
  const cleared = lines.filter((l) => summarisedDays.includes(l.day));
  const dayStarts = new Set(cleared.map((l) => Date.parse(`${l.day}T00:00:00Z`)));
  const dayStartOf = (ms: number) => Math.floor(ms / DAY_MS) * DAY_MS;
  const inDays = (ms: number) => dayStarts.has(dayStartOf(ms));

  const trades = (dir: string, id: string) => {
    const ledger = Ledger.open(dir, id);
    try {
      return ledger.committed().filter((t) => (t.seller === cesId || t.buyer === cesId) && inDays(t.slotStartMs));
    } finally {
      ledger.close();
    }
  };
  const cesTrades = trades(join(cesDataDir, 'market'), cesId);
  const accountTrades = cesTrades.filter(isAccountTrade);

  const cesLedger = RentalLedger.open(cesDataDir, cesId);
  const householdLedgers = new Map(Object.entries(householdMarketDirs).map(([id, dir]) => [id, RentalLedger.open(dir, id)]));
  let days: CesDaySummary[];
  let householdsRentalEur = 0;
  try {
    // A household whose gateway did not finish has no ledger here: its bookings cannot balance.
    const balanceOf = (ledger: RentalLedger | undefined, b: RentalBooking) => (ledger?.bookingOf(b.bookingId) !== undefined ? ledger.balanceEur(b.bookingId) : 0);
    days = cleared.map((l): CesDaySummary => {
      const real = dayPrices(prices, Date.parse(`${l.day}T00:00:00Z`));
      const movements = l.bookings.flatMap((b) => (cesLedger.bookingOf(b.bookingId) !== undefined ? cesLedger.movementsOf(b.bookingId) : []));
      const balanced = l.bookings.filter((b) => {
        const theirs = householdLedgers.get(b.household);
        return theirs !== undefined && cesLedger.settlement(b.bookingId) !== undefined && booksMirror(cesLedger, theirs, b.bookingId);
      });
      householdsRentalEur += l.bookings.reduce((s, b) => s + balanceOf(householdLedgers.get(b.household), b), 0);
      return {
        day: l.day,
        priceEurPerKwhDay: l.priceEurPerKwhDay,
        rounds: l.rounds,
        bookedKwh: l.bookings.reduce((s, b) => s + b.capacityKwh, 0),
        households: l.bookings.length,
        accountTrades: l.accountTrades,
        // From the market ledger, not the day line: account trades committed again after a restart (§4) count too.
        committedTrades: accountTrades.filter((t) => dayStartOf(t.slotStartMs) === Date.parse(`${l.day}T00:00:00Z`)).length,
        p2pTrades: l.p2pTrades,
        committedP2pTrades: l.committedP2pTrades,
        p2pKwh: l.p2pKwh,
        p2pEur: l.p2pRevenueEur,
        marketEur: l.schedule.marketKw.reduce((s, kw, t) => s + kw * real[t]!, 0),
        expectedProfitEur: l.schedule.expectedProfitEur,
        movedInKwh: movements.filter((m) => m.meterKwh > 0).reduce((s, m) => s + m.meterKwh, 0),
        movedOutKwh: -movements.filter((m) => m.meterKwh < 0).reduce((s, m) => s + m.meterKwh, 0),
        residueKwh: l.bookings.reduce((s, b) => s + (cesLedger.settlement(b.bookingId)?.residueKwh ?? 0), 0),
        settled: balanced.length,
        rentalEur: l.bookings.reduce((s, b) => s + balanceOf(cesLedger, b), 0),
        booksBalance: balanced.length === l.bookings.length,
      };
    });
  } finally {
    cesLedger.close();
    for (const ledger of householdLedgers.values()) ledger.close();
  }
  const cesRentalEur = days.reduce((s, d) => s + d.rentalEur, 0);
  const energyKwh = (t: { powerKw: number; slotMinutes: number }) => (t.powerKw * t.slotMinutes) / 60;
  const p2pSales = cesTrades.filter((t) => !isAccountTrade(t));
  const p2pEur = p2pSales.reduce((s, t) => s + energyKwh(t) * t.priceEurPerKwh, 0);
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
    booksBalance: days.every((d) => d.booksBalance),
    depositedKwh: accountTrades.filter((t) => t.buyer === cesId).reduce((s, t) => s + energyKwh(t), 0),
    withdrawnKwh: accountTrades.filter((t) => t.seller === cesId).reduce((s, t) => s + energyKwh(t), 0),
    tradesMirrored,
    p2pKwh: p2pSales.reduce((s, t) => s + energyKwh(t), 0),
    p2pEur,
    chargeKwh,
    dischargeKwh,
    degradationEur,
    profitEur: days.reduce((s, d) => s + d.marketEur, 0) + p2pEur + cesRentalEur - degradationEur,
  };
}
