/**
 * The CES operator as an agent of the community (docs/ces.md §5): with its own member identity it
 * runs a day's rental clearing over the community's signed MQTT messages (src/ces/rental-protocol.ts)
 * — the price iteration of `clearRentalPrice`, each round's answers computed by the households'
 * gateways from their own forecasts — then books the final round's answers, one household at a time,
 * commits the booked accounts' energy and the P2P energy the households answered as market trades
 * (the market's two-phase commit, each side inside its own answer or offer), and schedules its battery
 * with the bookings the households accepted and the P2P energy committed. A booking is in the CES's
 * rental ledger only once the household has recorded it in its own and said so.
 *
 * During and after a booked day it records what the households report of their accounts (docs/ces.md
 * §4): an hour's movement only from the booking's own household and only within the account trade of
 * that hour committed in its own market ledger (account-movements.ts), the settlement of the residue
 * only once the day is over by its clock and only when it equals its own account; each is in its
 * ledger (fsync'd, once by id) before it answers `ces-recorded`.
 */
import { isoDay } from '../data/split.ts';
import type { ClearedTrade } from '../market/ledger.ts';
import type { CesSchedule } from './ces-model.ts';
import type { CesOffer } from './household-model.ts';
import { DAY_MS, HOUR_MS } from '../data/households.ts';
import type { Clock } from '../time/clock.ts';
import { accountMovement, committedAccountKwh, settlementIdOf } from './account-movements.ts';
import type { RentalBooking, RentalLedger } from './rental-ledger.ts';
import { clearRentalPrice, scheduleWithBookings, type PriceIterationOptions, type RentalAnswer } from './rental-market.ts';
import { accountTrades, mandateOf, openTrades, p2pTrades, tradeKey, type AnswerPayload, type BookedPayload, type MovementPayload, type RentalChannel, type SettlementPayload } from './rental-protocol.ts';
import type { CesSettings } from './settings.ts';
import type { CesSolver } from './solve.ts';

export interface CesAgentOptions {
  channel: RentalChannel;
  ledger: RentalLedger;
  solver: CesSolver;
  settings: CesSettings;
  /** The households asked each round (members of the community). */
  households: readonly string[];
  throughputFeeEurPerKwh: number;
  withdrawalFeeEurPerKwh: number;
  /** What the CES pays per kWh left in an account after the day (the feed-in price, §4). */
  residueCreditEurPerKwh: number;
  /** The clock the days are on: a residue is settled only once its day is over. */
  clock: Clock;
  toleranceEurPerKwhDay?: number;
  /** Wall time a round waits for every household's answer, and a booking for its decision (default 20 s). */
  answerTimeoutMs?: number;
  /** Wall time between re-sends of an unanswered message (default 1 s). */
  resendMs?: number;
  /** Wall time the two-phase commit of the account trades, and of the P2P trades, may take (default 30 s). */
  commitTimeoutMs?: number;
  /**
   * How many times a booking's account trades are committed again at its household's word (a
   * household restarted before it committed them says `ces-booked` again; default 6): only trades
   * recorded with the booking, not in the CES's market ledger, whose hours have not begun by `clock`.
   */
  recommitLimit?: number;
  log?: (line: string) => void;
}

export interface CesDayResult {
  dayMs: number;
  priceEurPerKwhDay: number;
  rounds: { priceEurPerKwhDay: number; demandKwh: number; supplyKwh: number }[];
  /** Accepted bookings, as both ledgers hold them. */
  bookings: RentalBooking[];
  /** Households whose final answer booked capacity but that did not accept the booking (refused, or silent). */
  unbooked: { household: string; reason: string }[];
  /** Households that did not answer a round in time (counted as booking nothing in it). */
  silent: string[];
  /** The accepted accounts' energy as market trades (deposits bought, withdrawals sold), and how many the commit committed. */
  accountTrades: number;
  committedTrades: number;
  /** The CES's posted P2P price of each hour (EUR/kWh, before the buyers' fees and VAT). */
  p2pPriceEurPerKwh: number[];
  /** The P2P energy of the final round's answers as market trades (the CES sells), and how many the commit committed. */
  p2pTrades: number;
  committedP2pTrades: number;
  /** The P2P energy committed (kWh) and what it is worth at the posted prices (EUR, to the CES). */
  p2pKwh: number;
  p2pRevenueEur: number;
  /** The CES's schedule with the accepted bookings in its battery and the committed P2P energy sold. */
  schedule: CesSchedule;
}

const none = (T: number): RentalAnswer => ({ rentedKwh: 0, accountChargeKw: new Array(T).fill(0), accountDischargeKw: new Array(T).fill(0), p2pKw: new Array(T).fill(0), rentalPaymentEur: 0 });
const tolerance = 1e-6;
/** A reported movement may exceed the committed trade by rounding only. */
const energyToleranceKwh = 1e-9;

export class CesAgent {
  private collect: ((from: string, answer: AnswerPayload) => void) | undefined;
  private decided: ((from: string, booked: BookedPayload) => void) | undefined;
  /** Bookings whose account trades are being committed (the day's clearing, or again for a restarted household), and how often they were committed again. */
  private readonly committing = new Set<string>();
  private readonly recommits = new Map<string, number>();
  /** The days being cleared: their bookings are committed by the clearing, not again. */
  private readonly clearing = new Set<number>();

  constructor(private readonly options: CesAgentOptions) {
    const members = new Set(options.households);
    options.channel.on('ces-answer', ({ from, payload }) => {
      if (members.has(from)) this.collect?.(from, payload);
    });
    options.channel.on('ces-booked', ({ from, payload }) => {
      if (!members.has(from) || payload.to !== options.channel.selfId) return;
      this.decided?.(from, payload);
      // A booking it holds, accepted again: the household restarted before its trades were committed.
      if (payload.accepted) this.recommit(from, payload.bookingId);
    });
    options.channel.on('ces-movement', ({ from, payload }) => {
      if (payload.to === options.channel.selfId) void this.answerRecord(from, accountMovement(payload.bookingId, payload.slotStartMs, payload.meterKwh).movementId, () => this.recordMovement(from, payload));
    });
    options.channel.on('ces-settlement', ({ from, payload }) => {
      if (payload.to !== options.channel.selfId) return;
      const booking = options.ledger.bookingOf(payload.bookingId);
      // Not yet: no answer, the household sends it again with its next metered hour.
      if (booking !== undefined && options.clock.nowMs() < booking.dayMs + DAY_MS) return options.log?.(`ces: settlement of ${payload.bookingId} before its day is over: not yet`);
      void this.answerRecord(from, settlementIdOf(payload.bookingId), () => this.recordSettlement(from, payload));
    });
  }

  /** Records a household's report, or refuses it with the reason, and says which; a report already recorded is answered again. */
  private async answerRecord(from: string, entryId: string, record: () => void): Promise<void> {
    let reason: string | undefined;
    try {
      record();
    } catch (error) {
      reason = (error as Error).message;
      this.options.log?.(`ces: ${from}'s ${entryId} refused: ${reason}`);
    }
    await this.options.channel
      .send('ces-recorded', { to: from, entryId, accepted: reason === undefined, ...(reason !== undefined ? { reason: reason.slice(0, 200) } : {}) })
      .catch((error: Error) => this.options.log?.(`ces: answer on ${entryId} not sent: ${error.message}`));
  }

  /**
   * Commits again, as the CES, the account trades it recorded with `from`'s booking that its market
   * ledger does not hold (committed or in doubt) and whose hours have not begun by its clock: at most
   * `recommitLimit` times a booking, one commit at a time, never while the booking's day is being cleared.
   * The trades are the CES's own record of the booked answer: a household cannot widen them.
   */
  private recommit(from: string, bookingId: string): void {
    const { ledger, channel, clock } = this.options;
    const booking = ledger.bookingOf(bookingId);
    if (booking === undefined || booking.household !== from || this.clearing.has(booking.dayMs) || this.committing.has(bookingId)) return;
    const open = openTrades(channel, ledger.accountTradesOf(bookingId) ?? [], clock.nowMs());
    if (open.length === 0) return;
    const count = this.recommits.get(bookingId) ?? 0;
    if (count >= (this.options.recommitLimit ?? 6)) return this.options.log?.(`ces: ${bookingId}: ${open.length} account trades still open, not committed again (${count} times already)`);
    this.recommits.set(bookingId, count + 1);
    this.committing.add(bookingId);
    channel
      .commitTrades(open, mandateOf(channel.selfId, open), this.options.commitTimeoutMs ?? 30_000)
      .then(
        (outcomes) => this.options.log?.(`ces: ${outcomes.filter((o) => o.state === 'committed').length} of ${open.length} open account trades of ${bookingId} committed again at ${from}'s word`),
        (error: Error) => this.options.log?.(`ces: commit of ${bookingId} again: ${error.message}`),
      )
      .finally(() => this.committing.delete(bookingId));
  }

  /** The booking `from` reports on: its own, or a refusal. */
  private bookingOf(from: string, bookingId: string): RentalBooking {
    const booking = this.options.ledger.bookingOf(bookingId);
    if (booking === undefined || booking.household !== from) throw new Error(`no booking ${bookingId} of ${from}`);
    return booking;
  }

  private recordMovement(from: string, { bookingId, slotStartMs, meterKwh }: MovementPayload): void {
    const booking = this.bookingOf(from, bookingId);
    if (slotStartMs < booking.dayMs || slotStartMs >= booking.dayMs + DAY_MS || (slotStartMs - booking.dayMs) % HOUR_MS !== 0) throw new RangeError(`${new Date(slotStartMs).toISOString()} is no hour of the booked day`);
    const committed = committedAccountKwh(this.options.channel.committed(), from, this.options.channel.selfId, slotStartMs);
    const committedKwh = meterKwh >= 0 ? committed.depositKwh : committed.withdrawalKwh;
    if (Math.abs(meterKwh) > committedKwh + energyToleranceKwh) throw new RangeError(`${Math.abs(meterKwh)} kWh ${meterKwh >= 0 ? 'deposited' : 'withdrawn'}, ${committedKwh} kWh committed in that hour`);
    this.options.ledger.recordMovement(accountMovement(bookingId, slotStartMs, meterKwh));
  }

  private recordSettlement(from: string, { bookingId, residueKwh }: SettlementPayload): void {
    this.bookingOf(from, bookingId);
    this.options.ledger.recordSettlement({ bookingId, residueKwh });
  }

  /** Clears day `dayMs` (its hours = the scenarios' length) with the households, books it, and schedules the CES. */
  async clearDay(dayMs: number, priceScenariosEurPerKwh: number[][]): Promise<CesDayResult> {
    this.clearing.add(dayMs);
    try {
      return await this.clear(dayMs, priceScenariosEurPerKwh);
    } finally {
      this.clearing.delete(dayMs);
    }
  }

  private async clear(dayMs: number, priceScenariosEurPerKwh: number[][]): Promise<CesDayResult> {
    const { options } = this;
    const T = priceScenariosEurPerKwh[0]?.length ?? 0;
    const iteration: PriceIterationOptions = {
      settings: options.settings,
      priceScenariosEurPerKwh,
      throughputFeeEurPerKwh: options.throughputFeeEurPerKwh,
      withdrawalFeeEurPerKwh: options.withdrawalFeeEurPerKwh,
      rental: true,
      p2p: options.settings.p2pMaxKwPerHousehold > 0,
      ...(options.toleranceEurPerKwhDay !== undefined ? { toleranceEurPerKwhDay: options.toleranceEurPerKwhDay } : {}),
      cesSolver: options.solver,
    };
    const silent = new Set<string>();
    const offers: CesOffer[] = [];
    const answersByRound: Map<string, RentalAnswer>[] = [];
    const cleared = await clearRentalPrice(iteration, async (offer, round) => {
      offers.push(offer);
      // A household silent in a round of the day is not waited for again: one round's timeout, not every round's.
      const answers = await this.ask(dayMs, round, offer, T, options.households.filter((h) => !silent.has(h)));
      answersByRound.push(answers);
      for (const household of options.households) if (!answers.has(household)) silent.add(household);
      return options.households.map((h) => answers.get(h) ?? none(T));
    });

    const rent = offers[cleared.finalRound]!.rent!;
    const finalAnswers = answersByRound[cleared.finalRound]!;
    const bookings: RentalBooking[] = [];
    const unbooked: CesDayResult['unbooked'] = [];
    const accepted: RentalAnswer[] = [];
    for (const household of options.households) {
      const answer = finalAnswers.get(household);
      if (answer === undefined || answer.rentedKwh <= tolerance) continue;
      const booking: RentalBooking = {
        bookingId: `${options.channel.selfId}-${isoDay(dayMs)}-${household}`,
        ces: options.channel.selfId,
        household,
        dayMs,
        capacityKwh: answer.rentedKwh,
        powerKw: rent.kwPerKwh * answer.rentedKwh,
        priceEurPerKwhDay: rent.priceEurPerKwhDay,
        efficiency: rent.efficiency,
        throughputFeeEurPerKwh: rent.throughputFeeEurPerKwh,
        residueCreditEurPerKwh: options.residueCreditEurPerKwh,
      };
      const decision = await this.book(booking, cleared.finalRound);
      if (decision.accepted) {
        // With the account trades the CES commits to for it: what it commits again for a household that restarts before committing them.
        options.ledger.recordBooking(booking, accountTrades(options.channel.selfId, household, dayMs, answer));
        bookings.push(booking);
        accepted.push(answer);
      } else {
        unbooked.push({ household, reason: decision.reason ?? 'refused' });
        options.log?.(`ces: ${household} did not accept ${booking.bookingId}: ${decision.reason}`);
      }
    }
    // The accounts' energy goes through the market's two-phase commit, each household committing its own answer.
    const self = options.channel.selfId;
    const trades = bookings.flatMap((b, n) => accountTrades(self, b.household, dayMs, accepted[n]!));
    const committedTrades = (await this.commitOnce(trades)).length;
    if (committedTrades < trades.length) options.log?.(`ces: ${committedTrades} of ${trades.length} account trades committed`);

    // The P2P energy of the final round's answers, sold at the posted price: each household commits
    // its own answer as buyer (told which round by `ces-p2p`), the CES the same trades as seller.
    const p2pPrice = cleared.p2pPriceEurPerKwh;
    const salesTo = [...finalAnswers].map(([household, answer]) => [household, p2pTrades(self, household, dayMs, answer.p2pKw, p2pPrice)] as const).filter(([, trades]) => trades.length > 0);
    const sales = salesTo.flatMap(([, trades]) => trades);
    const selling = this.commitOnce(sales);
    // Re-sent until the commit is decided: a household that missed it would leave the CES's offers unaccepted.
    if (salesTo.length > 0) {
      await this.repeat(async () => {
        for (const [to] of salesTo) await options.channel.send('ces-p2p', { to, dayMs, round: cleared.finalRound });
      }, selling.then(() => undefined));
    }
    const sold = await selling;
    if (sold.length < sales.length) options.log?.(`ces: ${sold.length} of ${sales.length} P2P trades committed`);

    // Scheduled with what was accepted and committed: a booking refused or a P2P sale not committed is not in the battery.
    const allSold = sold.length === sales.length;
    const soldKw = (household: string) => Array.from({ length: T }, (_, t) => sold.filter((s) => s.buyer === household && s.slotStartMs === dayMs + t * HOUR_MS).reduce((sum, s) => sum + s.powerKw, 0));
    const scheduled = [...finalAnswers].map(([household, answer]): RentalAnswer => {
      const booked = bookings.some((b) => b.household === household);
      return { ...(booked ? answer : none(T)), p2pKw: allSold ? answer.p2pKw : soldKw(household) };
    });
    const schedule = unbooked.length === 0 && allSold ? cleared.ces : await scheduleWithBookings(iteration, scheduled);
    const p2pKwh = sold.reduce((sum, s) => sum + s.powerKw, 0);
    const p2pRevenueEur = sold.reduce((sum, s) => sum + s.powerKw * s.priceEurPerKwh, 0);
    return {
      dayMs, priceEurPerKwhDay: cleared.priceEurPerKwhDay, rounds: cleared.rounds, bookings, unbooked, silent: [...silent],
      accountTrades: trades.length, committedTrades, p2pPriceEurPerKwh: p2pPrice, p2pTrades: sales.length, committedP2pTrades: sold.length, p2pKwh, p2pRevenueEur, schedule,
    };
  }

  /**
   * Commits these trades as the CES, inside a mandate that is exactly them; returns those committed in
   * its market ledger. A day cleared again after a restart: what was committed before stays, nothing
   * is committed twice.
   */
  private async commitOnce(trades: ClearedTrade[]): Promise<ClearedTrade[]> {
    const { channel } = this.options;
    const already = new Set(channel.committed().map(tradeKey));
    const open = trades.filter((t) => !already.has(tradeKey(t)));
    const outcomes = open.length > 0 ? await channel.commitTrades(open, mandateOf(channel.selfId, open), this.options.commitTimeoutMs ?? 30_000) : [];
    const committed = new Set(outcomes.filter((o) => o.state === 'committed').map((o) => o.trade));
    return trades.filter((t) => already.has(tradeKey(t)) || committed.has(t));
  }

  /** One round: the offer to everyone, re-sent until every awaited household answered it or the timeout. */
  private async ask(dayMs: number, round: number, offer: CesOffer, T: number, awaited: readonly string[]): Promise<Map<string, RentalAnswer>> {
    const answers = new Map<string, RentalAnswer>();
    const done = new Promise<void>((resolve) => {
      if (awaited.length === 0) resolve();
      this.collect = (from, answer) => {
        if (answer.dayMs !== dayMs || answer.round !== round || answers.has(from)) return;
        const problem = implausible(answer, offer, T);
        if (problem !== undefined) {
          this.options.log?.(`ces: ${from}'s answer to round ${round} ignored: ${problem}`);
          return;
        }
        answers.set(from, answer);
        if (awaited.every((h) => answers.has(h))) resolve();
      };
    });
    await this.repeat(() => this.options.channel.send('ces-price', { dayMs, round, offer }), done);
    this.collect = undefined;
    return answers;
  }

  private async book(booking: RentalBooking, round: number): Promise<{ accepted: boolean; reason?: string }> {
    let decision: { accepted: boolean; reason?: string } = { accepted: false, reason: 'no answer' };
    const done = new Promise<void>((resolve) => {
      this.decided = (from, booked) => {
        if (from !== booking.household || booked.bookingId !== booking.bookingId) return;
        decision = { accepted: booked.accepted, ...(booked.reason !== undefined ? { reason: booked.reason } : {}) };
        resolve();
      };
    });
    const { bookingId, household: to, dayMs, capacityKwh, powerKw, priceEurPerKwhDay, efficiency, throughputFeeEurPerKwh, residueCreditEurPerKwh } = booking;
    await this.repeat(() => this.options.channel.send('ces-book', { to, dayMs, round, bookingId, capacityKwh, powerKw, priceEurPerKwhDay, efficiency, throughputFeeEurPerKwh, residueCreditEurPerKwh }), done);
    this.decided = undefined;
    return decision;
  }

  /** Sends now and every `resendMs` until `done` or the timeout. */
  private async repeat(send: () => Promise<void>, done: Promise<void>): Promise<void> {
    const resendMs = this.options.resendMs ?? 1000;
    const deadline = Date.now() + (this.options.answerTimeoutMs ?? 20_000);
    let finished = false;
    void done.then(() => (finished = true));
    while (!finished && Date.now() < deadline) {
      await send();
      await Promise.race([done, new Promise((wake) => setTimeout(wake, Math.min(resendMs, Math.max(0, deadline - Date.now()))))]);
    }
  }
}

/** An answer the CES cannot hold: more than offered, an account moving more than its power, more P2P power than offered. */
function implausible(answer: RentalAnswer, offer: CesOffer, T: number): string | undefined {
  const rent = offer.rent!;
  if ([answer.accountChargeKw, answer.accountDischargeKw, answer.p2pKw].some((s) => s.length !== T)) return `schedules must have ${T} hours`;
  if (answer.rentedKwh > rent.maxKwh + tolerance) return `${answer.rentedKwh} kWh of ${rent.maxKwh} offered`;
  const powerKw = rent.kwPerKwh * answer.rentedKwh + tolerance;
  if ([...answer.accountChargeKw, ...answer.accountDischargeKw].some((kw) => kw > powerKw)) return `account power above ${powerKw} kW`;
  const p2pMaxKw = (offer.p2p?.maxKw ?? 0) + tolerance;
  if (answer.p2pKw.some((kw) => kw > p2pMaxKw)) return offer.p2p === undefined ? 'P2P energy was not offered' : `P2P power above the ${offer.p2p.maxKw} kW offered`;
  return undefined;
}
