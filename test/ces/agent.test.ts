/**
 * The CES and two households clear a day's rental over a real community broker (each a member's
 * market node: signed messages, member logins), each with its own identity, ledger and solver: the same price and bookings as
 * the clearing computed in one place, both ledgers mirror each other, and a hostile CES cannot make
 * a household book anything but what it answered.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { clearRentalDay } from '../../src/ces/rental-market.ts';
import type { AnswerPayload, BookedPayload } from '../../src/ces/rental-protocol.ts';
import type { HouseholdRentalParty } from '../../src/ces/household-rental.ts';
import type { RentalLedger } from '../../src/ces/rental-ledger.ts';
import { dayMs, fees, feedInEurPerKwh, inputs, prices, rentalStreet, settings, until, type Street } from './rental-street.ts';

let street: Street;
afterEach(() => street?.close());
const parties = new Map<string, HouseholdRentalParty>();
const householdBook = async (id: string): Promise<RentalLedger> => {
  const { ledger, party } = await street.household(id);
  parties.set(id, party);
  return ledger;
};

describe('the CES agent and the households over the community broker', () => {
  it('clear the day as the clearing in one place does, and both ledgers hold each booking with opposite signs', async () => {
    street = await rentalStreet();
    const books = { h1: await householdBook('h1'), h2: await householdBook('h2') };
    const { agent, ledger: cesBook } = await street.agent(['h1', 'h2']);
    const result = await agent.clearDay(dayMs, prices);

    const local = await clearRentalDay({ settings, priceScenariosEurPerKwh: prices, households: [inputs.h1!, inputs.h2!], ...fees, p2pBuyerFeeEurPerKwh: 0, vatFactor: 1, rental: true, p2p: false, toleranceEurPerKwhDay: 1e-4, solvers: { ces: street.solver(), households: [street.solver(), street.solver()] } });
    expect(result.priceEurPerKwhDay).toBeGreaterThan(0);
    expect(result.priceEurPerKwhDay).toBe(local.priceEurPerKwhDay);
    expect(result.rounds).toEqual(local.rounds);
    expect(result.silent).toEqual([]);
    expect(result.unbooked).toEqual([]);
    expect(result.schedule.objectiveEur).toBeCloseTo(local.ces.objectiveEur, 9);
    const booked = Object.fromEntries(result.bookings.map((b) => [b.household, b.capacityKwh]));
    ['h1', 'h2'].forEach((h, n) => expect(booked[h] ?? 0).toBeCloseTo(local.plans[n]!.rentedKwh, 9));
    expect(result.bookings.length).toBeGreaterThan(0);

    let cesTotal = 0;
    let householdsTotal = 0;
    for (const b of result.bookings) {
      const mine = books[b.household as 'h1' | 'h2'];
      expect(mine.allBookings()).toEqual([b]);
      expect(cesBook.balanceEur(b.bookingId)).toBeCloseTo(b.priceEurPerKwhDay * b.capacityKwh, 12);
      expect(mine.balanceEur(b.bookingId)).toBe(-cesBook.balanceEur(b.bookingId));
      expect(b.powerKw).toBeCloseTo(settings.rentalKwPerKwh * b.capacityKwh, 12);
      cesTotal += cesBook.balanceEur(b.bookingId);
      householdsTotal += mine.balanceEur(b.bookingId);
    }
    expect(cesTotal + householdsTotal).toBe(0);
    expect(cesBook.allBookings()).toEqual(result.bookings);
    // The CES's battery holds the accepted accounts: physical − own energy = Σ accounts' planned energy.
    expect(result.schedule.rentedKwh).toBeCloseTo(result.bookings.reduce((s, b) => s + b.capacityKwh, 0), 9);

    // The accounts' energy is committed as market trades, in both parties' market ledgers with opposite sides.
    expect(result.accountTrades).toBeGreaterThan(0);
    expect(result.committedTrades).toBe(result.accountTrades);
    const cesTrades = street.nodes.get('ces')!.ledger.committed();
    for (const b of result.bookings) {
      const outcomes = await parties.get(b.household)!.committed(b.bookingId)!;
      expect(outcomes.every((o) => o.state === 'committed')).toBe(true);
      const theirs = street.nodes.get(b.household)!.ledger.committed().map((t) => ({ ...t })).sort((x, y) => x.tradeId.localeCompare(y.tradeId));
      const ours = cesTrades.filter((t) => t.seller === b.household || t.buyer === b.household).sort((x, y) => x.tradeId.localeCompare(y.tradeId));
      expect(theirs).toEqual(ours);
      const n = ['h1', 'h2'].indexOf(b.household);
      const kwh = (sell: boolean) => theirs.filter((t) => (t.seller === b.household) === sell).reduce((s, t) => s + t.powerKw, 0);
      const planned = (series: number[]) => series.filter((kw) => kw >= 0.001).reduce((s, kw) => s + kw, 0);
      expect(kwh(true)).toBeCloseTo(planned(local.plans[n]!.accountChargeKw), 9);
      expect(kwh(false)).toBeCloseTo(planned(local.plans[n]!.accountDischargeKw), 9);
    }
  }, 60_000);

  it('waits for a silent household in one round of the day only, and books the others', async () => {
    street = await rentalStreet();
    const books = { h1: await householdBook('h1'), h2: await householdBook('h2') };
    const { agent } = await street.agent(['h1', 'h2', 'h3'], { answerTimeoutMs: 1_500, resendMs: 300 });
    const startedMs = Date.now();
    const result = await agent.clearDay(dayMs, prices);
    expect(result.silent).toEqual(['h3']);
    expect(result.rounds.length).toBeGreaterThan(3);
    expect(Date.now() - startedMs).toBeLessThan(1_500 * 2 + 10_000);
    expect(result.bookings.map((b) => b.household).sort()).toEqual(Object.keys(books).filter((h) => books[h as 'h1' | 'h2'].allBookings().length > 0).sort());
    expect(result.committedTrades).toBe(result.accountTrades);
  }, 60_000);

  it('a hostile CES cannot make a household book more, at another price, for a round it did not answer, or twice a day', async () => {
    street = await rentalStreet();
    const book = await householdBook('h1');
    const ces = await street.channel('ces');
    const answers: AnswerPayload[] = [];
    const decisions: BookedPayload[] = [];
    ces.on('ces-answer', ({ payload }) => answers.push(payload));
    ces.on('ces-booked', ({ payload }) => decisions.push(payload));
    const rent = { priceEurPerKwhDay: 0.005, maxKwh: 8, kwPerKwh: 0.5, efficiency: Math.sqrt(0.9), ...fees };
    await ces.send('ces-price', { dayMs, round: 0, offer: { rent } });
    await until(() => answers.length === 1);
    const answered = answers[0]!;
    expect(answered.rentedKwh).toBeGreaterThan(1);
    const honest = { to: 'h1', dayMs, round: 0, bookingId: 'ces-2016-11-01-h1', capacityKwh: answered.rentedKwh, powerKw: 0.5 * answered.rentedKwh, priceEurPerKwhDay: 0.005, efficiency: rent.efficiency, throughputFeeEurPerKwh: fees.throughputFeeEurPerKwh, residueCreditEurPerKwh: feedInEurPerKwh };
    const hostile = [
      { ...honest, bookingId: 'more', capacityKwh: answered.rentedKwh + 1, powerKw: 0.5 * (answered.rentedKwh + 1) },
      { ...honest, bookingId: 'dearer', priceEurPerKwhDay: 0.05 },
      { ...honest, bookingId: 'more-power', powerKw: answered.rentedKwh },
      { ...honest, bookingId: 'unasked-round', round: 3 },
      { ...honest, bookingId: 'other-day', dayMs: dayMs + 86_400_000 },
      { ...honest, bookingId: 'dearer-fee', throughputFeeEurPerKwh: 0.02 },
      { ...honest, bookingId: 'cheap-residue', residueCreditEurPerKwh: 0.01 },
    ];
    for (const b of hostile) await ces.send('ces-book', b);
    await until(() => decisions.length === hostile.length);
    expect(decisions.map((d) => [d.bookingId, d.accepted])).toEqual(hostile.map((b) => [b.bookingId, false]));
    expect(book.allBookings()).toEqual([]);

    await ces.send('ces-book', honest);
    await until(() => decisions.length === hostile.length + 1);
    expect(decisions.at(-1)).toMatchObject({ bookingId: honest.bookingId, accepted: true });
    const { to: _to, round: _round, ...terms } = honest;
    expect(book.allBookings()).toEqual([{ ...terms, ces: 'ces', household: 'h1' }]);
    // The same day booked again under another id is refused; the same booking again is no double.
    await ces.send('ces-book', { ...honest, bookingId: 'second' });
    await ces.send('ces-book', honest);
    await until(() => decisions.length === hostile.length + 3);
    expect(decisions.slice(-2).map((d) => [d.bookingId, d.accepted])).toEqual([['second', false], [honest.bookingId, true]]);
    expect(book.allBookings()).toHaveLength(1);

    // Nor trade beyond its answer: a withdrawal it never planned, offered by the CES, is not accepted.
    const h1Node = street.nodes.get('h1')!;
    const quiet = answered.accountDischargeKw.findIndex((kw) => kw < 0.001);
    const forced = await ces.commitTrades([{ seller: 'ces', buyer: 'h1', slotStartMs: dayMs + quiet * 3_600_000, slotMinutes: 60, powerKw: 3, priceEurPerKwh: 0 }], { maxTradeKw: 3, orders: [{ slotStartMs: dayMs + quiet * 3_600_000, slotMinutes: 60, side: 'sell', powerKw: 3, priceEurPerKwh: 0 }] }, 1_500);
    expect(forced.map((o) => o.state)).toEqual(['no-acceptance']);
    expect(h1Node.ledger.committed().filter((t) => t.slotStartMs === dayMs + quiet * 3_600_000 && t.buyer === 'h1')).toEqual([]);
  }, 30_000);
});
