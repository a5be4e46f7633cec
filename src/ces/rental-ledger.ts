/**
 * One party's book of the CES rentals (docs/ces.md §4): the day's booking (kWh, kW, price and the
 * account's terms), every energy movement into and out of the virtual account, and the settlement
 * of what is left in it.
 * Each party — the CES and every household — keeps its own, journaled (fsync'd JSON lines,
 * `rental-ledger.jsonl`, src/storage/journal.ts) before it acts on an entry, so a kill -9 loses
 * nothing that was acted on. Entries are keyed by id: recording the same entry again (a restart
 * replaying its day) changes nothing, and a different entry under a known id is refused. Amounts
 * are signed from this party's side, so the CES's book and its households' books sum to zero.
 * The P2P energy the CES sells is a market trade and goes into the market ledger (ledger.ts).
 */
import { join } from 'node:path';
import type { ClearedTrade } from '../market/ledger.ts';
import { Journal } from '../storage/journal.ts';

export interface RentalBooking {
  bookingId: string;
  ces: string;
  household: string;
  dayMs: number;
  capacityKwh: number;
  powerKw: number;
  priceEurPerKwhDay: number;
  /** The account's one-way efficiency (the CES battery's): a deposit of x kWh stores η·x, a withdrawal of x takes x/η. */
  efficiency: number;
  /** Per kWh moved at the household's meter, into or out of the account (the CES's degradation passed on). */
  throughputFeeEurPerKwh: number;
  /** What the CES pays per kWh left in the account after the day (the household's feed-in price). */
  residueCreditEurPerKwh: number;
}

/**
 * One hour's energy of the account at the household's meter (kWh): + deposited (exported into the
 * account), − withdrawn (imported from it). A deposit and a withdrawal in the same hour are two movements.
 */
export interface AccountMovement {
  movementId: string;
  bookingId: string;
  slotStartMs: number;
  meterKwh: number;
}

/** After the day: what was left in the account (stored kWh), bought back by the CES at the booking's residue credit. */
export interface AccountSettlement {
  bookingId: string;
  residueKwh: number;
}

/** What a movement does to the account (stored kWh): the efficiency is on the account's side of the meter, as in the household's plan. */
export function accountChangeKwh(booking: Pick<RentalBooking, 'efficiency'>, meterKwh: number): number {
  return meterKwh >= 0 ? booking.efficiency * meterKwh : meterKwh / booking.efficiency;
}

/**
 * Whether two parties' books hold a booking alike: the same booking, the same movements (id and
 * energy), the same settlement; then their balances are opposite by construction.
 */
export function booksMirror(a: RentalLedger, b: RentalLedger, bookingId: string): boolean {
  // By field, not by the order the fields were written in.
  const canonical = (entry: object | undefined) => (entry === undefined ? null : Object.entries(entry).sort(([x], [y]) => x.localeCompare(y)));
  const entries = (book: RentalLedger) => {
    const movements = book.movementsOf(bookingId).sort((x, y) => x.movementId.localeCompare(y.movementId));
    return JSON.stringify([canonical(book.bookingOf(bookingId)), movements.map(canonical), canonical(book.settlement(bookingId))]);
  };
  return a.bookingOf(bookingId) !== undefined && entries(a) === entries(b);
}

type Record_ =
  /** `accountTrades`: the account's energy as the market trades this party commits to for the booking (its own answer or offer), in the same line. */
  | { type: 'booking'; booking: RentalBooking; accountTrades?: ClearedTrade[] }
  | { type: 'movement'; movement: AccountMovement }
  | { type: 'settlement'; settlement: AccountSettlement };

export class RentalLedger {
  private readonly bookings = new Map<string, RentalBooking>();
  private readonly trades = new Map<string, ClearedTrade[]>();
  private readonly movements = new Map<string, AccountMovement>();
  private readonly settlements = new Map<string, AccountSettlement>();

  private constructor(
    readonly selfId: string,
    private readonly journal: Journal<Record_>,
  ) {}

  static open(dataDir: string, selfId: string): RentalLedger {
    const { journal, records } = Journal.open<Record_>(join(dataDir, 'rental-ledger.jsonl'));
    const ledger = new RentalLedger(selfId, journal);
    for (const record of records) ledger.apply(record);
    return ledger;
  }

  /**
   * Records a booking and, in the same journal line (one fsync: both or neither survive a kill), the
   * account trades this party commits to for it — what a restarted party commits from (docs/ces.md §4,
   * "Restarts"). The same booking again changes nothing, its trades included: the first ones stand.
   */
  recordBooking(booking: RentalBooking, accountTrades?: readonly ClearedTrade[]): void {
    if (booking.ces !== this.selfId && booking.household !== this.selfId) throw new Error(`booking ${booking.bookingId} is not ${this.selfId}'s`);
    if (!(booking.capacityKwh >= 0 && booking.powerKw >= 0 && booking.priceEurPerKwhDay >= 0 && booking.throughputFeeEurPerKwh >= 0 && booking.residueCreditEurPerKwh >= 0)) throw new RangeError(`booking ${booking.bookingId}: capacityKwh, powerKw, priceEurPerKwhDay, throughputFeeEurPerKwh and residueCreditEurPerKwh must be ≥ 0`);
    if (!(booking.efficiency > 0 && booking.efficiency <= 1)) throw new RangeError(`booking ${booking.bookingId}: efficiency must be in (0, 1]`);
    this.once(this.bookings, booking.bookingId, booking, { type: 'booking', booking, ...(accountTrades !== undefined ? { accountTrades: accountTrades.map((t) => ({ ...t })) } : {}) });
  }

  recordMovement(movement: AccountMovement): void {
    const booking = this.booking(movement.bookingId);
    if (this.settlements.has(movement.bookingId)) throw new Error(`booking ${movement.bookingId} is settled: no movement after it`);
    const known = this.movements.get(movement.movementId);
    if (known === undefined) {
      const balance = this.accountKwh(movement.bookingId) + accountChangeKwh(booking, movement.meterKwh);
      if (balance < -1e-9 || balance > booking.capacityKwh + 1e-9) throw new RangeError(`movement ${movement.movementId}: the account would hold ${balance} kWh of ${booking.capacityKwh}`);
    }
    this.once(this.movements, movement.movementId, movement, { type: 'movement', movement });
  }

  recordSettlement(settlement: AccountSettlement): void {
    this.booking(settlement.bookingId);
    if (!this.settlements.has(settlement.bookingId) && Math.abs(settlement.residueKwh - this.accountKwh(settlement.bookingId)) > 1e-9) {
      throw new RangeError(`settlement of ${settlement.bookingId}: residue ${settlement.residueKwh} kWh, the account holds ${this.accountKwh(settlement.bookingId)}`);
    }
    this.once(this.settlements, settlement.bookingId, settlement, { type: 'settlement', settlement });
  }

  /** Energy in the account now (stored kWh). */
  accountKwh(bookingId: string): number {
    const booking = this.booking(bookingId);
    let kwh = 0;
    for (const m of this.movements.values()) if (m.bookingId === bookingId) kwh += accountChangeKwh(booking, m.meterKwh);
    return kwh;
  }

  /**
   * Money for the booking from this party's side (EUR, + received): the rent and the fees flow from
   * the household to the CES, the residue's credit back.
   */
  balanceEur(bookingId: string): number {
    const booking = this.booking(bookingId);
    let toCes = booking.priceEurPerKwhDay * booking.capacityKwh;
    for (const m of this.movements.values()) if (m.bookingId === bookingId) toCes += booking.throughputFeeEurPerKwh * Math.abs(m.meterKwh);
    const settlement = this.settlements.get(bookingId);
    if (settlement) toCes -= booking.residueCreditEurPerKwh * settlement.residueKwh;
    return booking.ces === this.selfId ? toCes : -toCes;
  }

  movementsOf(bookingId: string): AccountMovement[] {
    return [...this.movements.values()].filter((m) => m.bookingId === bookingId);
  }

  movement(movementId: string): AccountMovement | undefined {
    return this.movements.get(movementId);
  }

  settlement(bookingId: string): AccountSettlement | undefined {
    return this.settlements.get(bookingId);
  }

  bookingOf(bookingId: string): RentalBooking | undefined {
    return this.bookings.get(bookingId);
  }

  /** The account trades this party recorded with the booking (undefined: none recorded, e.g. a journal from before they were). */
  accountTradesOf(bookingId: string): ClearedTrade[] | undefined {
    return this.trades.get(bookingId)?.map((t) => ({ ...t }));
  }

  bookingIds(): string[] {
    return [...this.bookings.keys()];
  }

  allBookings(): RentalBooking[] {
    return [...this.bookings.values()];
  }

  close(): void {
    this.journal.close();
  }

  private booking(bookingId: string): RentalBooking {
    const booking = this.bookings.get(bookingId);
    if (!booking) throw new Error(`no booking ${bookingId} in ${this.selfId}'s rental ledger`);
    return booking;
  }

  private once<T>(map: Map<string, T>, id: string, value: T, record: Record_): void {
    const known = map.get(id);
    if (known !== undefined) {
      if (JSON.stringify(known) !== JSON.stringify(value)) throw new Error(`${record.type} ${id} is already recorded with other terms`);
      return;
    }
    this.journal.append(record);
    this.apply(record);
  }

  private apply(record: Record_): void {
    if (record.type === 'booking') {
      this.bookings.set(record.booking.bookingId, record.booking);
      if (record.accountTrades !== undefined) this.trades.set(record.booking.bookingId, record.accountTrades);
    }
    else if (record.type === 'movement') this.movements.set(record.movement.movementId, record.movement);
    else this.settlements.set(record.settlement.bookingId, record.settlement);
  }
}
