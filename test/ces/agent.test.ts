/**
 * The CES and two households clear a day's rental over a real community broker (each a member's
 * market node: signed messages, member logins), each with its own identity, ledger and solver: the
 * same price and bookings as the clearing computed in one place, both ledgers mirror each other, the
 * P2P energy the households answered is committed as trades at the posted price in both market
 * ledgers, a hostile CES cannot make a household book or buy anything but what it answered, and a
 * hostile household cannot make the CES sell more than it offered or below its price.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { clearRentalDay } from '../../src/ces/rental-market.ts';
import { isAccountTrade, mandateOf, p2pTrades, type AnswerPayload, type BookedPayload } from '../../src/ces/rental-protocol.ts';
import type { ClearedTrade } from '../../src/market/ledger.ts';
import type { CommitOutcome } from '../../src/market/node.ts';
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
  it('clear the day as the clearing in one place does; both ledgers hold each booking with opposite signs, both market ledgers the P2P answers at the posted price', async () => {
    street = await rentalStreet();
    const books = { h1: await householdBook('h1'), h2: await householdBook('h2') };
    const { agent, ledger: cesBook } = await street.agent(['h1', 'h2']);
    const result = await agent.clearDay(dayMs, prices);

    const local = await clearRentalDay({ settings, priceScenariosEurPerKwh: prices, households: [inputs.h1!, inputs.h2!], ...fees, p2pBuyerFeeEurPerKwh: 0.09, vatFactor: 1.19, rental: true, p2p: true, toleranceEurPerKwhDay: 1e-4, solvers: { ces: street.solver(), households: [street.solver(), street.solver()] } });
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
      const n = ['h1', 'h2'].indexOf(b.household);
      const theirs = street.nodes.get(b.household)!.ledger.committed().filter(isAccountTrade);
      const kwh = (sell: boolean) => theirs.filter((t) => (t.seller === b.household) === sell).reduce((s, t) => s + t.powerKw, 0);
      const planned = (series: number[]) => series.filter((kw) => kw >= 0.001).reduce((s, kw) => s + kw, 0);
      expect(kwh(true)).toBeCloseTo(planned(local.plans[n]!.accountChargeKw), 9);
      expect(kwh(false)).toBeCloseTo(planned(local.plans[n]!.accountDischargeKw), 9);
    }

    // The P2P energy each household answered is sold to it at the CES's posted price of the hour: the
    // trades committed are the answers, hour by hour, and both market ledgers hold them, opposite sides.
    expect(result.p2pPriceEurPerKwh).toEqual(local.p2pPriceEurPerKwh);
    expect(result.p2pTrades).toBeGreaterThan(0);
    expect(result.committedP2pTrades).toBe(result.p2pTrades);
    const terms = (t: ClearedTrade) => `${t.seller}>${t.buyer}@${t.slotStartMs}:${t.powerKw.toFixed(9)}kW@${t.priceEurPerKwh}`;
    let p2pKwh = 0;
    let p2pEur = 0;
    for (const [n, h] of ['h1', 'h2'].entries()) {
      const answered = local.plans[n]!.p2pKw;
      expect(answered.some((kw) => kw > 0.1)).toBe(true);
      const sold = p2pTrades('ces', h, dayMs, answered, local.p2pPriceEurPerKwh);
      expect((await parties.get(h)!.p2pCommitted(dayMs)!).map((o) => o.state)).toEqual(sold.map(() => 'committed'));
      const theirs = street.nodes.get(h)!.ledger.committed().map((t) => ({ ...t })).sort((x, y) => x.tradeId.localeCompare(y.tradeId));
      const ours = cesTrades.filter((t) => t.seller === h || t.buyer === h).sort((x, y) => x.tradeId.localeCompare(y.tradeId));
      expect(theirs).toEqual(ours);
      expect(theirs.filter((t) => !isAccountTrade(t)).map(terms).sort()).toEqual(sold.map(terms).sort());
      p2pKwh += sold.reduce((s, t) => s + t.powerKw, 0);
      p2pEur += sold.reduce((s, t) => s + t.powerKw * t.priceEurPerKwh, 0);
    }
    expect(result.p2pKwh).toBeCloseTo(p2pKwh, 9);
    expect(result.p2pRevenueEur).toBeCloseTo(p2pEur, 9);
    // The CES's battery schedule sells it (the clearing's CES schedule with the P2P sales, as in one place).
    expect(result.schedule.fixedRevenueEur).toBeCloseTo(local.ces.fixedRevenueEur, 9);
    expect(result.schedule.fixedRevenueEur).toBeGreaterThan(p2pEur - 1e-6);
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

  it('a hostile CES cannot make a household buy more P2P energy, at a higher price, in an hour it did not answer, or from a second round', async () => {
    street = await rentalStreet();
    await householdBook('h1');
    const party = parties.get('h1')!;
    const ces = await street.channel('ces');
    const answers: AnswerPayload[] = [];
    ces.on('ces-answer', ({ payload }) => answers.push(payload));
    const priceEurPerKwh = [0.04, 0.04, 0.04, 0.04, 0.05, 0.07, 0.07, 0.05];
    await ces.send('ces-price', { dayMs, round: 0, offer: { p2p: { priceEurPerKwh, maxKw: 0.5 } } });
    await ces.send('ces-price', { dayMs, round: 1, offer: { p2p: { priceEurPerKwh: priceEurPerKwh.map((p) => p + 0.01), maxKw: 0.5 } } });
    await until(() => answers.length === 2);
    const answered = answers.find((a) => a.round === 0)!.p2pKw;
    const bought = answered.findIndex((kw) => kw > 0.4);
    const quiet = answered.findIndex((kw) => kw < 0.001);
    expect(bought).toBeGreaterThanOrEqual(0);
    expect(quiet).toBeGreaterThanOrEqual(0);
    const honest = p2pTrades('ces', 'h1', dayMs, answered, priceEurPerKwh);
    const slot = (t: number) => ({ seller: 'ces', buyer: 'h1', slotStartMs: dayMs + t * 3_600_000, slotMinutes: 60 });
    const sell = (trade: ClearedTrade) => ces.commitTrades([trade], mandateOf('ces', [trade]), 1_500);

    await ces.send('ces-p2p', { to: 'h1', dayMs, round: 0 });
    await until(() => party.p2pCommitted(dayMs) !== undefined);
    const hostile = await Promise.all([
      sell({ ...slot(bought), powerKw: answered[bought]! + 0.3, priceEurPerKwh: priceEurPerKwh[bought]! }),
      sell({ ...slot(bought), powerKw: answered[bought]!, priceEurPerKwh: priceEurPerKwh[bought]! + 0.05 }),
      sell({ ...slot(quiet), powerKw: 0.5, priceEurPerKwh: priceEurPerKwh[quiet]! }),
    ]);
    expect(hostile.flat().map((o) => o.state)).toEqual(['no-acceptance', 'no-acceptance', 'no-acceptance']);
    expect(street.nodes.get('h1')!.ledger.committed()).toEqual([]);

    // Exactly what it answered, at the round's price: committed, in both market ledgers.
    const outcomes = await ces.commitTrades(honest, mandateOf('ces', honest), 5_000);
    expect(outcomes.map((o) => o.state)).toEqual(honest.map(() => 'committed'));
    expect((await party.p2pCommitted(dayMs)!).map((o) => o.state)).toEqual(honest.map(() => 'committed'));
    const terms = (t: ClearedTrade) => `${t.seller}>${t.buyer}@${t.slotStartMs}:${t.powerKw}kW@${t.priceEurPerKwh}`;
    expect(street.nodes.get('h1')!.ledger.committed().map(terms).sort()).toEqual(honest.map(terms).sort());
    expect(ces.committed().map(terms).sort()).toEqual(honest.map(terms).sort());

    // A second round of the same day (its answer at its own price) is not bought on top.
    await ces.send('ces-p2p', { to: 'h1', dayMs, round: 1 });
    const second = p2pTrades('ces', 'h1', dayMs, answers.find((a) => a.round === 1)!.p2pKw, priceEurPerKwh.map((p) => p + 0.01));
    expect(second.length).toBeGreaterThan(0);
    expect((await ces.commitTrades(second, mandateOf('ces', second), 1_500)).map((o) => o.state)).toEqual(second.map(() => 'no-acceptance'));
    expect(street.nodes.get('h1')!.ledger.committed()).toHaveLength(honest.length);
  }, 30_000);

  it('a hostile household cannot make the CES sell more P2P energy than it offered or below its price; the CES schedules only what it sold', async () => {
    street = await rentalStreet();
    await householdBook('h1');
    const h2 = await street.channel('h2');
    const T = prices[0]!.length;
    const zeros = new Array<number>(T).fill(0);
    let p2pKw = zeros.map((_, t) => (t === 5 ? settings.p2pMaxKwPerHousehold + 0.3 : 0));
    h2.on('ces-price', ({ payload }) => void h2.send('ces-answer', { dayMs: payload.dayMs, round: payload.round, rentedKwh: 0, accountChargeKw: zeros, accountDischargeKw: zeros, p2pKw, rentalPaymentEur: 0 }));
    const { agent, ledger: cesBook } = await street.agent(['h1', 'h2'], { answerTimeoutMs: 1_500, resendMs: 300, commitTimeoutMs: 2_000 });

    // More than the 0.5 kW a household may buy: the answer is ignored, nothing is sold to it.
    const greedy = await agent.clearDay(dayMs, prices);
    expect(greedy.silent).toEqual(['h2']);
    expect(greedy.committedP2pTrades).toBe(greedy.p2pTrades);
    expect(street.nodes.get('ces')!.ledger.committed().filter((t) => t.buyer === 'h2')).toEqual([]);

    // Within the offer, but h2 then takes more, or pays less, than the CES sells: no trade; the CES reschedules without that sale.
    p2pKw = zeros.map((_, t) => (t === 5 || t === 6 ? 0.5 : 0));
    const day2Ms = dayMs + 86_400_000;
    const attempts: Promise<CommitOutcome[]>[] = [];
    h2.on('ces-p2p', ({ payload }) => {
      if (attempts.length > 0) return;
      const at = (t: number, powerKw: number, priceEurPerKwh: number): ClearedTrade => ({ seller: 'ces', buyer: 'h2', slotStartMs: payload.dayMs + t * 3_600_000, slotMinutes: 60, powerKw, priceEurPerKwh });
      const p2pPrice = prices.map((p) => p[5]!).reduce((a, v) => a + v, 0) / prices.length + settings.p2pMarkupEurPerKwh;
      const p2pPrice6 = prices.map((p) => p[6]!).reduce((a, v) => a + v, 0) / prices.length + settings.p2pMarkupEurPerKwh;
      const taken = [at(5, 0.5, p2pPrice - 0.03), at(6, 0.8, p2pPrice6)];
      attempts.push(h2.commitTrades(taken, mandateOf('h2', taken), 2_000));
    });
    const result = await agent.clearDay(day2Ms, prices);
    expect(result.silent).toEqual([]);
    expect((await attempts[0]!).map((o) => o.state)).toEqual(['no-offer', 'no-offer']);
    const h2Sales = p2pTrades('ces', 'h2', day2Ms, p2pKw, result.p2pPriceEurPerKwh);
    expect(h2Sales).toHaveLength(2);
    expect(result.committedP2pTrades).toBe(result.p2pTrades - 2);
    expect(street.nodes.get('ces')!.ledger.committed().filter((t) => t.buyer === 'h2')).toEqual([]);
    expect(street.nodes.get('h2')!.ledger.committed()).toEqual([]);
    const h1Sold = street.nodes.get('ces')!.ledger.committed().filter((t) => t.buyer === 'h1' && t.slotStartMs >= day2Ms && !isAccountTrade(t));
    expect(h1Sold.length).toBe(result.committedP2pTrades);
    expect(result.p2pRevenueEur).toBeCloseTo(h1Sold.reduce((s, t) => s + t.powerKw * t.priceEurPerKwh, 0), 12);
    // The schedule's fixed revenue: h1's booking and the P2P energy sold, not h2's.
    const [booking] = result.bookings.filter((b) => b.household === 'h1');
    expect(booking).toBeDefined();
    const finalRound = result.rounds.findIndex((r) => r.priceEurPerKwhDay === booking!.priceEurPerKwhDay);
    const h1Answer = parties.get('h1')!.answers().find((a) => a.dayMs === day2Ms && a.round === finalRound)!;
    expect(h1Answer.rentedKwh).toBe(booking!.capacityKwh);
    expect(result.schedule.fixedRevenueEur).toBeCloseTo(h1Answer.rentalPaymentEur + result.p2pRevenueEur, 9);
    expect(cesBook.allBookings().every((b) => b.household === 'h1')).toBe(true);
  }, 60_000);
});
