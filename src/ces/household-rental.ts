/**
 * A household's side of the rental clearing over MQTT (docs/ces.md §5): it answers each of the CES's
 * price rounds with its own plan (`planHouseholdDay` on its own forecast, which never leaves it: only
 * the booking, the account schedule and the P2P purchases are sent), and it decides on a booking:
 * it accepts exactly what it answered in the round the booking names — the kWh, the price and the
 * power of that round's offer — and nothing else, records the booking in its rental ledger (fsync'd)
 * and only then says so. A CES cannot make it book more, at another price, for a round it did not
 * answer, or a second booking for a day. The P2P energy it answered it buys when the CES names the
 * round (`ces-p2p`): it commits, as buyer, exactly its answer to that round at that round's posted
 * price (its mandate), once a day; a CES offering more energy or a dearer price finds no acceptance.
 *
 * After each metered hour of a booked day (`observeHour`, the gateway's hour record) it records the
 * hour's account movement by the rule of account-movements.ts in its rental ledger (fsync'd) and only
 * then reports it to the CES; once the day is over it records the settlement of the residue and
 * reports it. What it reports is what its own meter says: nothing the CES sends enters its ledger.
 * A report stays pending until the CES says it recorded it (or refused it), and pending reports are
 * sent again with every metered hour, so a CES that was away (restarted) gets them when it is back;
 * a restarted household re-sends the entries of its recent bookings (the CES records each once, by id).
 *
 * A booking's account trades are journaled with the booking, in the same line, before it is accepted:
 * a household killed between accepting a booking and committing them commits, once restarted
 * (`resume`), the recorded trades whose hours have not begun and that its market ledger does not
 * hold — exactly those, whatever the CES sends then — and tells the CES so (`ces-booked` again), which
 * commits its side of them again (docs/ces.md §4, "Restarts").
 */
import { accountMovement, meteredAccountKwh, settlementIdOf, type MeterHour } from './account-movements.ts';
import { planHouseholdDay, type CesOffer, type HouseholdDayInput } from './household-model.ts';
import { accountChangeKwh, type AccountMovement, type AccountSettlement, type RentalBooking, type RentalLedger } from './rental-ledger.ts';
import type { CommitOutcome } from '../market/node.ts';
import type { ProblemInput } from '../optimizer/types.ts';
import { accountTrades, mandateOf, openTrades, p2pTrades, type AnswerPayload, type BookPayload, type MovementPayload, type P2pPayload, type RentalChannel, type SettlementPayload } from './rental-protocol.ts';
import type { Clock } from '../time/clock.ts';
import type { CesSolver } from './solve.ts';
import { DAY_MS, HOUR_MS } from '../data/households.ts';

export interface HouseholdRentalOptions {
  channel: RentalChannel;
  /** The member whose offers this household answers. */
  cesId: string;
  ledger: RentalLedger;
  solver: CesSolver;
  /** The household's feed-in price: the least it accepts per kWh of a residue the CES buys back (it could have sold that energy). */
  feedInEurPerKwh: number;
  /** The household's day without an offer, from its own forecast (hourly, the CES's day), with its own fees on P2P energy. */
  dayInput: (dayMs: number) => HouseholdDayInput | Promise<HouseholdDayInput>;
  /** The clock the slots are on (the gateway's): a restarted household commits only account trades whose hour has not begun. */
  clock: Clock;
  /** Wall time the two-phase commit of a booking's account trades, or of a day's P2P purchases, may take (default 30 s). */
  commitTimeoutMs?: number;
  log?: (line: string) => void;
}

const tolerance = 1e-9;
/** Bookings whose entries a restarted household reports again: those of the newest days and any not settled. */
const RESEND_DAYS_MS = 2 * DAY_MS;

type Report = { name: 'ces-movement'; payload: MovementPayload } | { name: 'ces-settlement'; payload: SettlementPayload };

export class HouseholdRentalParty {
  /** What this household answered, per day and round, with the offer it answered. */
  private readonly answered = new Map<string, { offer: CesOffer; answer: AnswerPayload }>();
  private readonly inputs = new Map<number, Promise<HouseholdDayInput>>();
  /** One solve at a time, in the order the rounds arrive. */
  private queue: Promise<void> = Promise.resolve();
  /** The latest commit of each accepted booking's account trades, and those still running. */
  private readonly commits = new Map<string, Promise<CommitOutcome[]>>();
  private readonly committing = new Set<string>();
  /** The commit of each day's P2P purchases and the round they were answered in, started once. */
  private readonly p2pCommits = new Map<number, { round: number; commit: Promise<CommitOutcome[]> }>();
  /** Movements and settlements recorded here that the CES has not yet said it recorded, by entry id. */
  private readonly pending = new Map<string, Report>();

  constructor(private readonly options: HouseholdRentalOptions) {
    const { channel, cesId, ledger } = options;
    const mine = ledger.allBookings().filter((b) => b.household === channel.selfId);
    const newestDayMs = Math.max(...mine.map((b) => b.dayMs));
    for (const booking of mine) if (booking.dayMs > newestDayMs - RESEND_DAYS_MS || ledger.settlement(booking.bookingId) === undefined) this.pendAll(booking);
    channel.on('ces-recorded', ({ from, payload }) => {
      if (from !== cesId || payload.to !== channel.selfId || !this.pending.delete(payload.entryId)) return;
      if (!payload.accepted) options.log?.(`rental: the CES refused ${payload.entryId}: ${payload.reason ?? 'no reason'} (the books do not mirror)`);
    });
    channel.on('ces-price', ({ from, payload }) => {
      if (from !== cesId) return;
      this.serial(() => this.answer(payload.dayMs, payload.round, payload.offer));
    });
    channel.on('ces-book', ({ from, payload }) => {
      if (from !== cesId || payload.to !== channel.selfId) return;
      this.serial(() => this.decide(payload));
    });
    channel.on('ces-p2p', ({ from, payload }) => {
      if (from !== cesId || payload.to !== channel.selfId) return;
      this.serial(async () => this.buyP2p(payload));
    });
  }

  /**
   * A metered hour (the gateway's hour record): the account movements of the bookings whose day it is
   * in and, after a day's last hour, their settlement, each recorded here before it is reported; then
   * every report the CES has not acknowledged is sent (again).
   */
  observeHour(meter: MeterHour): void {
    const { ledger, channel } = this.options;
    for (const booking of ledger.allBookings()) {
      if (booking.household !== channel.selfId || ledger.settlement(booking.bookingId) !== undefined) continue;
      try {
        if (meter.hourStartMs >= booking.dayMs && meter.hourStartMs < booking.dayMs + DAY_MS) this.recordHour(booking, meter);
        if (meter.hourStartMs + HOUR_MS >= booking.dayMs + DAY_MS) {
          const settlement = { bookingId: booking.bookingId, residueKwh: ledger.accountKwh(booking.bookingId) };
          ledger.recordSettlement(settlement);
          this.pendSettlement(settlement);
        }
      } catch (error) {
        this.options.log?.(`rental: ${booking.bookingId} at ${new Date(meter.hourStartMs).toISOString()}: ${(error as Error).message}`);
      }
    }
    for (const report of this.pending.values()) {
      channel.send(report.name, report.payload).catch((error: Error) => this.options.log?.(`rental: ${report.name} not sent: ${error.message}`));
    }
    // Account trades a restart left uncommitted, whose hours have not begun: again, driven by the meter as the reports are.
    this.resume();
  }

  /** The hour's deposit, then its withdrawal, as metered, within what the account can take and hold. */
  private recordHour(booking: RentalBooking, meter: MeterHour): void {
    const { ledger, channel, cesId } = this.options;
    // An hour recorded before a restart keeps what was recorded: the first metered figure stands.
    if ([1, -1].some((sign) => ledger.movement(accountMovement(booking.bookingId, meter.hourStartMs, sign).movementId) !== undefined)) return;
    const metered = meteredAccountKwh(channel.committed(), channel.selfId, cesId, meter);
    // At the meter: what the account can still take, then what it holds.
    const roomKwh = (booking.capacityKwh - ledger.accountKwh(booking.bookingId)) / accountChangeKwh(booking, 1);
    const depositKwh = Math.min(metered.depositKwh, Math.max(0, roomKwh));
    if (depositKwh > tolerance) this.record(booking, meter.hourStartMs, depositKwh);
    const heldKwh = ledger.accountKwh(booking.bookingId) / -accountChangeKwh(booking, -1);
    const withdrawalKwh = Math.min(metered.withdrawalKwh, Math.max(0, heldKwh));
    if (withdrawalKwh > tolerance) this.record(booking, meter.hourStartMs, -withdrawalKwh);
  }

  private record(booking: RentalBooking, hourStartMs: number, meterKwh: number): void {
    const movement = accountMovement(booking.bookingId, hourStartMs, meterKwh);
    this.options.ledger.recordMovement(movement);
    this.pendMovement(movement);
  }

  /** Every entry of a booking in this ledger, to be reported (a restart does not know what the CES acknowledged). */
  private pendAll(booking: RentalBooking): void {
    const { ledger } = this.options;
    for (const movement of ledger.movementsOf(booking.bookingId)) this.pendMovement(movement);
    const settlement = ledger.settlement(booking.bookingId);
    if (settlement) this.pendSettlement(settlement);
  }

  private pendMovement({ movementId, bookingId, slotStartMs, meterKwh }: AccountMovement): void {
    this.pending.set(movementId, { name: 'ces-movement', payload: { to: this.options.cesId, bookingId, slotStartMs, meterKwh } });
  }

  private pendSettlement(settlement: AccountSettlement): void {
    this.pending.set(settlementIdOf(settlement.bookingId), { name: 'ces-settlement', payload: { to: this.options.cesId, ...settlement } });
  }

  /** Entries reported to the CES that it has not yet said it recorded (or refused). */
  unacknowledged(): string[] {
    return [...this.pending.keys()];
  }

  /** The households' answers so far (tests, the report). */
  answers(): AnswerPayload[] {
    return [...this.answered.values()].map((a) => a.answer);
  }

  /** The outcome of the latest commit of a booking's account trades (undefined: none started in this process). */
  committed(bookingId: string): Promise<CommitOutcome[]> | undefined {
    return this.commits.get(bookingId);
  }

  /** The outcome of the commit of a day's P2P purchases (undefined: none started). */
  p2pCommitted(dayMs: number): Promise<CommitOutcome[]> | undefined {
    return this.p2pCommits.get(dayMs)?.commit;
  }

  private serial(work: () => Promise<void>): void {
    this.queue = this.queue.then(work).catch((error: unknown) => this.options.log?.(`rental: ${(error as Error).message}`));
  }

  private async answer(dayMs: number, round: number, offer: CesOffer): Promise<void> {
    const key = `${dayMs}/${round}`;
    let known = this.answered.get(key);
    if (known === undefined) {
      let input = this.inputs.get(dayMs);
      if (input === undefined) {
        input = Promise.resolve(this.options.dayInput(dayMs));
        this.inputs.set(dayMs, input);
      }
      const plan = await planHouseholdDay({ ...(await input), ces: offer }, this.options.solver);
      const answer: AnswerPayload = {
        dayMs,
        round,
        rentedKwh: plan.rentedKwh,
        accountChargeKw: plan.accountChargeKw,
        accountDischargeKw: plan.accountDischargeKw,
        p2pKw: plan.p2pKw,
        rentalPaymentEur: plan.rentalPaymentEur,
      };
      known = { offer, answer };
      this.answered.set(key, known);
    }
    // A repeated round (the CES re-asks a silent household) gets the same answer.
    await this.options.channel.send('ces-answer', known.answer);
  }

  private async decide(book: BookPayload): Promise<void> {
    const { ledger, channel, cesId } = this.options;
    const recorded = ledger.bookingOf(book.bookingId);
    // A booking already in the ledger (accepted before, perhaps before a restart) is accepted again on exactly its recorded terms.
    let refusal = recorded !== undefined ? differsFromRecorded(book, recorded, cesId, channel.selfId) : this.refusal(book);
    if (recorded === undefined && refusal === undefined) {
      try {
        const { bookingId, dayMs, capacityKwh, powerKw, priceEurPerKwhDay, efficiency, throughputFeeEurPerKwh, residueCreditEurPerKwh } = book;
        // The account's energy as trades with the CES, exactly as answered, journaled with the booking: a restart commits from them.
        const trades = accountTrades(cesId, channel.selfId, book.dayMs, this.answered.get(`${book.dayMs}/${book.round}`)!.answer);
        ledger.recordBooking({ bookingId, ces: cesId, household: channel.selfId, dayMs, capacityKwh, powerKw, priceEurPerKwhDay, efficiency, throughputFeeEurPerKwh, residueCreditEurPerKwh }, trades);
      } catch (error) {
        refusal = (error as Error).message;
      }
    }
    if (refusal !== undefined) this.options.log?.(`rental: refused booking ${book.bookingId}: ${refusal}`);
    await channel.send('ces-booked', { to: cesId, bookingId: book.bookingId, accepted: refusal === undefined, ...(refusal === undefined ? {} : { reason: refusal }) });
    if (refusal === undefined) this.commitBooking(book.bookingId);
  }

  /**
   * After a restart (call it once the market node is connected; it is called again with every metered
   * hour): every booking of this household whose recorded account trades are not all in its market
   * ledger and whose hours have not begun says so to the CES again (`ces-booked`, accepted: the CES
   * then commits its side of them again) and commits them — exactly the recorded trades, nothing the
   * CES sends now, inside a mandate that is exactly them.
   */
  resume(): void {
    const { ledger, channel, cesId, clock } = this.options;
    for (const booking of ledger.allBookings()) {
      if (booking.household !== channel.selfId || this.committing.has(booking.bookingId)) continue;
      if (openTrades(channel, ledger.accountTradesOf(booking.bookingId) ?? [], clock.nowMs()).length === 0) continue;
      channel.send('ces-booked', { to: cesId, bookingId: booking.bookingId, accepted: true }).catch((error: Error) => this.options.log?.(`rental: ces-booked of ${booking.bookingId} not sent: ${error.message}`));
      this.commitBooking(booking.bookingId);
    }
  }

  /**
   * Commits, as the household, the account trades recorded with the booking that are still open (their
   * hour not begun, not in its market ledger committed or in doubt): one commit of a booking at a time.
   */
  private commitBooking(bookingId: string): void {
    const { ledger, channel, clock } = this.options;
    if (this.committing.has(bookingId)) return;
    const recorded = ledger.accountTradesOf(bookingId);
    if (recorded === undefined) return this.options.log?.(`rental: ${bookingId} has no account trades recorded: nothing to commit`);
    const open = openTrades(channel, recorded, clock.nowMs());
    if (open.length === 0) return;
    this.committing.add(bookingId);
    const commit = channel.commitTrades(open, mandateOf(channel.selfId, open), this.options.commitTimeoutMs ?? 30_000);
    this.commits.set(bookingId, commit);
    commit.then(
      (outcomes) => {
        const missed = outcomes.filter((o) => o.state !== 'committed');
        if (missed.length > 0) this.options.log?.(`rental: ${missed.length} of ${outcomes.length} account trades of ${bookingId} not committed (${[...new Set(missed.map((o) => o.state))].join(', ')}); tried again with the next metered hour`);
      },
      (error: Error) => this.options.log?.(`rental: commit of ${bookingId}: ${error.message}`),
    ).finally(() => this.committing.delete(bookingId));
  }

  /**
   * Commits the P2P purchases of its answer to the round the CES names, at that round's posted price:
   * the trades and the mandate are its own answer, whatever the CES offers. One round a day: the CES
   * re-sends `ces-p2p` until its commit is decided, and a re-send starts nothing new.
   */
  private buyP2p({ dayMs, round }: P2pPayload): void {
    const started = this.p2pCommits.get(dayMs);
    if (started !== undefined) {
      if (started.round !== round) this.options.log?.(`rental: P2P of round ${round} refused: the day's P2P was committed from round ${started.round}`);
      return;
    }
    const known = this.answered.get(`${dayMs}/${round}`);
    const price = known?.offer.p2p?.priceEurPerKwh;
    if (known === undefined || price === undefined) return this.options.log?.(`rental: P2P of round ${round} refused: no answer of mine to a P2P offer in that round`);
    const { channel, cesId } = this.options;
    const trades = p2pTrades(cesId, channel.selfId, dayMs, known.answer.p2pKw, price);
    const commit = trades.length > 0 ? channel.commitTrades(trades, mandateOf(channel.selfId, trades), this.options.commitTimeoutMs ?? 30_000) : Promise.resolve([]);
    this.p2pCommits.set(dayMs, { round, commit });
    commit.catch((error: Error) => this.options.log?.(`rental: commit of the P2P purchases of ${new Date(dayMs).toISOString().slice(0, 10)}: ${error.message}`));
  }

  /** Why this booking is not what the household answered; undefined when it is exactly that. */
  private refusal(book: BookPayload): string | undefined {
    const known = this.answered.get(`${book.dayMs}/${book.round}`);
    if (known === undefined) return `no answer of mine to round ${book.round} of that day`;
    const rent = known.offer.rent;
    if (rent === undefined) return 'that round offered no rental';
    if (Math.abs(book.capacityKwh - known.answer.rentedKwh) > tolerance) return `${book.capacityKwh} kWh, I answered ${known.answer.rentedKwh}`;
    if (Math.abs(book.priceEurPerKwhDay - rent.priceEurPerKwhDay) > tolerance) return `price ${book.priceEurPerKwhDay}, the round offered ${rent.priceEurPerKwhDay}`;
    if (Math.abs(book.powerKw - rent.kwPerKwh * book.capacityKwh) > tolerance) return `${book.powerKw} kW, the round offered ${rent.kwPerKwh} kW per kWh`;
    if (book.efficiency !== rent.efficiency) return `efficiency ${book.efficiency}, the round offered ${rent.efficiency}`;
    if (book.throughputFeeEurPerKwh !== rent.throughputFeeEurPerKwh) return `throughput fee ${book.throughputFeeEurPerKwh}, the round offered ${rent.throughputFeeEurPerKwh}`;
    if (book.residueCreditEurPerKwh < this.options.feedInEurPerKwh - tolerance) return `residue credit ${book.residueCreditEurPerKwh}, below my feed-in price ${this.options.feedInEurPerKwh}`;
    const other = this.options.ledger.allBookings().find((b) => b.dayMs === book.dayMs && b.bookingId !== book.bookingId);
    if (other !== undefined) return `the day is booked already (${other.bookingId})`;
    return undefined;
  }
}

/** Why a booking re-sent under a recorded id is not the recorded one; undefined when it is exactly that. */
function differsFromRecorded(book: BookPayload, recorded: RentalBooking, cesId: string, self: string): string | undefined {
  const fields = ['dayMs', 'capacityKwh', 'powerKw', 'priceEurPerKwhDay', 'efficiency', 'throughputFeeEurPerKwh', 'residueCreditEurPerKwh'] as const;
  if (recorded.ces !== cesId || recorded.household !== self) return `booking ${book.bookingId} is recorded between ${recorded.ces} and ${recorded.household}`;
  const differs = fields.filter((f) => book[f] !== recorded[f]);
  return differs.length === 0 ? undefined : `booking ${book.bookingId} is recorded with other ${differs.join(', ')}`;
}

/**
 * A gateway's day for the rental clearing from its planner's latest problem (its forecast, tariff,
 * grid and battery as of its latest solve): hourly means over the steps that start in each hour of
 * the day; an hour beyond the plan's horizon takes the same hour a day earlier (a seasonal-naive
 * fill: a clearing an hour before midnight on a 24-hour plan lacks the day's last hour).
 */
export function dayInputFromProblem(problem: { input: ProblemInput; slotStartsMs: readonly number[] }, dayMs: number): HouseholdDayInput {
  const { input, slotStartsMs } = problem;
  const hourly = (series: readonly number[]) =>
    Array.from({ length: 24 }, (_, h) => {
      for (const hourMs of [dayMs + h * HOUR_MS, dayMs + h * HOUR_MS - DAY_MS]) {
        let weight = 0;
        let total = 0;
        slotStartsMs.forEach((startMs, t) => {
          if (startMs >= hourMs && startMs < hourMs + HOUR_MS) {
            weight += input.stepHours[t]!;
            total += input.stepHours[t]! * series[t]!;
          }
        });
        if (weight > 0) return total / weight;
      }
      throw new RangeError(`the plan from ${new Date(slotStartsMs[0] ?? 0).toISOString()} does not reach hour ${h} of ${new Date(dayMs).toISOString().slice(0, 10)}`);
    });
  const { battery } = input;
  const buy = hourly(input.tariff.buyEurPerKwh);
  const sortedBuy = [...buy].sort((a, b) => a - b);
  return {
    netLoadKw: hourly(input.netLoadForecastKw),
    buyEurPerKwh: buy,
    sellEurPerKwh: hourly(input.tariff.sellEurPerKwh),
    demandChargeEurPerKwDay: input.tariff.peakEurPerKw ?? 0,
    gridKw: Math.min(input.grid.maxImportKw, input.grid.maxExportKw),
    ...(battery.capacityKwh > 0
      ? { battery: { params: battery, initialEnergyKwh: input.initial.energyKwh, wearEurPerKw2h: input.weights.batteryWearEurPerKw2h, terminalEurPerKwh: input.weights.terminalEnergyEurPerKwh ?? sortedBuy[12]! * battery.dischargeEfficiency } }
      : {}),
  };
}
