/**
 * A household's side of the rental clearing over MQTT (docs/ces.md §5): it answers each of the CES's
 * price rounds with its own plan (`planHouseholdDay` on its own forecast, which never leaves it: only
 * the booking, the account schedule and the P2P purchases are sent), and it decides on a booking:
 * it accepts exactly what it answered in the round the booking names — the kWh, the price and the
 * power of that round's offer — and nothing else, records the booking in its rental ledger (fsync'd)
 * and only then says so. A CES cannot make it book more, at another price, for a round it did not
 * answer, or a second booking for a day.
 */
import { planHouseholdDay, type CesOffer, type HouseholdDayInput } from './household-model.ts';
import type { RentalLedger } from './rental-ledger.ts';
import type { CommitOutcome } from '../market/node.ts';
import type { ProblemInput } from '../optimizer/types.ts';
import { accountTrades, mandateOf, type AnswerPayload, type BookPayload, type RentalChannel } from './rental-protocol.ts';
import type { CesSolver } from './solve.ts';
import { DAY_MS, HOUR_MS } from '../data/households.ts';

export interface HouseholdRentalOptions {
  channel: RentalChannel;
  /** The member whose offers this household answers. */
  cesId: string;
  ledger: RentalLedger;
  solver: CesSolver;
  /** The household's day without an offer, from its own forecast (hourly, the CES's day). */
  dayInput: (dayMs: number) => HouseholdDayInput | Promise<HouseholdDayInput>;
  /** Wall time the two-phase commit of a booking's account trades may take (default 30 s). */
  commitTimeoutMs?: number;
  log?: (line: string) => void;
}

const tolerance = 1e-9;

export class HouseholdRentalParty {
  /** What this household answered, per day and round, with the offer it answered. */
  private readonly answered = new Map<string, { offer: CesOffer; answer: AnswerPayload }>();
  private readonly inputs = new Map<number, Promise<HouseholdDayInput>>();
  /** One solve at a time, in the order the rounds arrive. */
  private queue: Promise<void> = Promise.resolve();
  /** The commit of each accepted booking's account trades, started once. */
  private readonly commits = new Map<string, Promise<CommitOutcome[]>>();

  constructor(private readonly options: HouseholdRentalOptions) {
    const { channel, cesId } = options;
    channel.on('ces-price', ({ from, payload }) => {
      if (from !== cesId) return;
      this.serial(() => this.answer(payload.dayMs, payload.round, payload.offer));
    });
    channel.on('ces-book', ({ from, payload }) => {
      if (from !== cesId || payload.to !== channel.selfId) return;
      this.serial(() => this.decide(payload));
    });
  }

  /** The households' answers so far (tests, the report). */
  answers(): AnswerPayload[] {
    return [...this.answered.values()].map((a) => a.answer);
  }

  /** The outcome of the commit of a booking's account trades (undefined: not accepted). */
  committed(bookingId: string): Promise<CommitOutcome[]> | undefined {
    return this.commits.get(bookingId);
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
    let refusal = this.refusal(book);
    if (refusal === undefined) {
      const self = this.options.channel.selfId;
      try {
        this.options.ledger.recordBooking({ bookingId: book.bookingId, ces: this.options.cesId, household: self, dayMs: book.dayMs, capacityKwh: book.capacityKwh, powerKw: book.powerKw, priceEurPerKwhDay: book.priceEurPerKwhDay });
      } catch (error) {
        refusal = (error as Error).message;
      }
    }
    if (refusal !== undefined) this.options.log?.(`rental: refused booking ${book.bookingId}: ${refusal}`);
    await this.options.channel.send('ces-booked', { to: this.options.cesId, bookingId: book.bookingId, accepted: refusal === undefined, ...(refusal === undefined ? {} : { reason: refusal }) });
    if (refusal === undefined && !this.commits.has(book.bookingId)) {
      // The account's energy as trades with the CES, exactly as answered: the household's mandate is its own answer.
      const { channel, cesId } = this.options;
      const trades = accountTrades(cesId, channel.selfId, book.dayMs, this.answered.get(`${book.dayMs}/${book.round}`)!.answer);
      const commit = channel.commitTrades(trades, mandateOf(channel.selfId, trades), this.options.commitTimeoutMs ?? 30_000);
      this.commits.set(book.bookingId, commit);
      commit.catch((error: Error) => this.options.log?.(`rental: commit of ${book.bookingId}: ${error.message}`));
    }
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
    const other = this.options.ledger.allBookings().find((b) => b.dayMs === book.dayMs && b.bookingId !== book.bookingId);
    if (other !== undefined) return `the day is booked already (${other.bookingId})`;
    return undefined;
  }
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
