/**
 * A household killed with SIGKILL between accepting a booking and committing its account trades
 * (docs/ces.md §4, "Restarts"): the household is a child process (test/ces/household-process.ts) on a
 * real community broker with the CES agent; its first life records the booking (with the account
 * trades it commits to, in the same journal line), says so to the CES and is killed before any commit
 * starts. Restarted on its folder, it commits the recorded trades whose hours have not begun — the
 * CES commits its side again at its word — each once in both market ledgers with opposite sides; an
 * hour already under way at the restart stays uncommitted and gets no movement. A CES that tries to
 * widen the booking after the restart (more kWh, more power, an hour not booked) gets nothing beyond
 * the household's original answer. A CES agent and the household both killed (child processes,
 * test/ces/ces-process.ts) after the booking, before any account trade was committed, and both
 * restarted on their folders: the restarted CES commits its side again at the restarted household's
 * word from its own rental ledger, each trade of the hours not begun once in both market ledgers.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CesAgentOptions } from '../../src/ces/agent.ts';
import { RentalLedger, type RentalBooking } from '../../src/ces/rental-ledger.ts';
import { isAccountTrade, mandateOf, rentalChannel, tradeKey, type BookedPayload } from '../../src/ces/rental-protocol.ts';
import { HOUR_MS } from '../../src/data/households.ts';
import { Ledger, type ClearedTrade } from '../../src/market/ledger.ts';
import type { CommitOutcome } from '../../src/market/node.ts';
import { journalBookingIds } from './account-meter.ts';
import { T } from './household-day.ts';
import { dayMs, memberProcessFiles, prices, rentalStreet, startChild, startHousehold, until, type Street } from './rental-street.ts';

let street: Street;
const children: ChildProcessWithoutNullStreams[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await street?.close();
});

const sortedKeys = (trades: readonly ClearedTrade[]) => trades.map(tradeKey).sort();
/** h1's account trades with the CES in a market ledger's committed trades. */
const accountTradesOfH1 = (trades: readonly ClearedTrade[]) => trades.filter((t) => isAccountTrade(t) && (t.seller === 'h1' || t.buyer === 'h1'));

/**
 * The trades between the CES and h1 in their market ledgers: exactly `expected` in each (nothing else
 * committed between them, P2P energy included), the same trades (ids) with opposite signs, none in doubt.
 */
function expectCommittedOnceInBoth(ces: Ledger, h1: Ledger, expected: readonly ClearedTrade[]): void {
  const withH1 = <Trade extends ClearedTrade>(trades: readonly Trade[]) => trades.filter((t) => t.seller === 'h1' || t.buyer === 'h1');
  expect(sortedKeys(withH1(ces.committed()))).toEqual(sortedKeys(expected));
  expect(sortedKeys(withH1(h1.committed()))).toEqual(sortedKeys(expected));
  expect(h1.inDoubt()).toEqual([]);
  expect(ces.inDoubt()).toEqual([]);
  const h1ById = new Map(h1.committed().map((t) => [t.tradeId, t]));
  for (const trade of withH1(ces.committed())) {
    expect(h1ById.get(trade.tradeId)).toEqual(trade);
    expect(h1.signedKw(h1ById.get(trade.tradeId)!)).toBe(-ces.signedKw(trade));
  }
}

/**
 * After the kill, before any restart: h1's book holds the CES's booking and the account trades it
 * commits to (in the same line), the same as the CES's, `accountTrades` of them; h1's market ledger
 * holds nothing. Returns h1's recorded trades.
 */
function expectBookedNothingCommitted(h1Dir: string, cesBook: RentalLedger, bookingId: string, accountTrades: number): ClearedTrade[] {
  const h1Book = RentalLedger.open(h1Dir, 'h1');
  const recorded = h1Book.accountTradesOf(bookingId)!;
  expect(h1Book.bookingOf(bookingId)).toEqual(cesBook.bookingOf(bookingId));
  h1Book.close();
  expect(sortedKeys(recorded)).toEqual(sortedKeys(cesBook.accountTradesOf(bookingId)!));
  expect(recorded).toHaveLength(accountTrades);
  const h1Market = Ledger.open(join(h1Dir, 'market'), 'h1');
  expect(h1Market.entriesList()).toEqual([]);
  h1Market.close();
  return recorded;
}

/** The street, h1's folder, a life of h1 and one of the CES as child processes (household-process.ts, ces-process.ts). */
async function setup() {
  street = await rentalStreet();
  const dir = street.tempDir();
  const h1Files = memberProcessFiles(dir, 'h1');
  const cesFiles = memberProcessFiles(dir, 'ces');
  const h1Dir = join(dir, 'h1');
  const cesDir = join(dir, 'ces');
  /** One life of h1 with its slot clock at `nowMs`; resolves once it is on the broker. */
  const life = (nowMs: number, mode?: 'freeze' | 'freeze-booked') => startHousehold(h1Files, h1Dir, street.broker.url, children, { nowMs, mode });
  /** One life of the CES agent with its clock at `nowMs`; resolves once it is on the broker. */
  const cesLife = (nowMs: number, recommitLimit: number, commitTimeoutMs: number) =>
    startChild(cesFiles.script, [cesDir, street.broker.url, cesFiles.files.community, cesFiles.files.identity, String(nowMs), String(recommitLimit), String(commitTimeoutMs)], children);
  return { life, cesLife, h1Dir, cesDir };
}

/**
 * h1 as a child process, the CES agent in this process: the day is cleared, h1 records its booking,
 * says so, and is killed with SIGKILL before any commit of its starts. Returns what the restart needs.
 */
async function bookAndKill(extra: Partial<CesAgentOptions>) {
  const { life, h1Dir } = await setup();
  const first = await life(dayMs, 'freeze');
  const { agent, ledger: cesBook } = await street.agent(['h1'], { commitTimeoutMs: 3_000, ...extra });
  const clearing = agent.clearDay(dayMs, prices);
  // Right after it recorded the booking and said so: its commit of the account trades is about to start.
  await until(() => first.lines.some((l) => l.startsWith('committing')), 45_000);
  first.child.kill('SIGKILL');
  expect((await first.exited)[1]).toBe('SIGKILL');
  const result = await clearing;
  expect(result.bookings.map((b) => b.household)).toEqual(['h1']);
  const { bookingId } = result.bookings[0]!;
  // The CES's commit ended without the household: nothing committed on either side.
  expect(result.accountTrades).toBeGreaterThan(1);
  expect(result.committedTrades).toBe(0);
  const cesNode = street.nodes.get('ces')!;
  expect(accountTradesOfH1(cesNode.ledger.committed())).toEqual([]);

  const recorded = expectBookedNothingCommitted(h1Dir, cesBook, bookingId, result.accountTrades);
  return { life, h1Dir, cesBook, cesNode, bookingId, recorded };
}

describe('a household killed between accepting a booking and committing its account trades', () => {
  it('commits them after its restart, each once in both market ledgers with opposite sides; an hour already begun stays uncommitted', async () => {
    const { life, h1Dir, cesNode, bookingId, recorded } = await bookAndKill({});
    // Restarted as the first booked hour begins: that hour stays uncommitted, the later ones are committed.
    const restartMs = Math.min(...recorded.map((t) => t.slotStartMs));
    street.clock.advance(restartMs - street.clock.nowMs());
    const future = recorded.filter((t) => t.slotStartMs > restartMs);
    const past = recorded.filter((t) => t.slotStartMs <= restartMs);
    expect(future.length).toBeGreaterThan(0);
    expect(past.length).toBeGreaterThan(0);

    const second = await life(restartMs);
    await until(() => accountTradesOfH1(cesNode.ledger.committed()).length === future.length, 20_000);
    // The hour under way at the restart: no trade, so the meter's exchange makes no movement (account-movements.ts).
    await second.observe({ hourStartMs: restartMs, importKwh: 1, exportKwh: 1 });
    // A later metered hour asks again only for what is still open: nothing.
    await second.observe({ hourStartMs: restartMs + HOUR_MS, importKwh: 0, exportKwh: 0 });
    await new Promise((wake) => setTimeout(wake, 1_000));
    second.child.stdin.end();
    expect((await second.exited)[0], second.stderr()).toBe(0);

    const h1Market = Ledger.open(join(h1Dir, 'market'), 'h1');
    const h1Book = RentalLedger.open(h1Dir, 'h1');
    try {
      // Exactly the recorded trades of the hours not begun, once each, in both ledgers with opposite signs; nothing in doubt.
      expectCommittedOnceInBoth(cesNode.ledger, h1Market, future);
      const slots = Array.from({ length: T }, (_, t) => dayMs + t * HOUR_MS);
      const netH1 = h1Market.committedKw('ces', slots);
      cesNode.ledger.committedKw('h1', slots).forEach((kw, t) => expect(netH1[t]).toBe(kw === null ? null : -kw));
      for (const t of past) expect(netH1[(t.slotStartMs - dayMs) / HOUR_MS]).toBeNull();
      // No movement in the hour without a trade, whatever the meter exchanged.
      expect(h1Book.movementsOf(bookingId).filter((m) => m.slotStartMs === restartMs)).toEqual([]);
    } finally {
      h1Market.close();
      h1Book.close();
    }
  }, 60_000);

  it('a CES that tries to widen the booking after the restart gets nothing committed beyond the original answer', async () => {
    // The agent commits nothing again by itself: the test is the CES after the restart, on the CES's own node.
    const { life, h1Dir, cesNode, cesBook, bookingId, recorded } = await bookAndKill({ recommitLimit: 0 });
    const booking = cesBook.bookingOf(bookingId)!;
    const cesRaw = rentalChannel(cesNode);
    const bookedTrades = new Set(recorded.map((t) => t.slotStartMs));
    const quietHour = Array.from({ length: T }, (_, t) => dayMs + t * HOUR_MS).find((ms) => ms > dayMs && !bookedTrades.has(ms))!;
    // Each booked trade with 0.4 kW more, and a withdrawal in an hour h1 did not book, besides the honest trades.
    const widened: ClearedTrade[] = [...recorded.map((t) => ({ ...t, powerKw: t.powerKw + 0.4 })), { seller: 'ces', buyer: 'h1', slotStartMs: quietHour, slotMinutes: 60, powerKw: 0.5, priceEurPerKwh: 0 }];
    const decisions: BookedPayload[] = [];
    let hostile: Promise<CommitOutcome[]> | undefined;
    cesRaw.on('ces-booked', ({ from, payload }) => {
      if (from !== 'h1') return;
      decisions.push(payload);
      if (payload.accepted && hostile === undefined) {
        const all = [...recorded, ...widened];
        hostile = cesRaw.commitTrades(all, mandateOf('ces', all), 6_000);
      }
    });

    const second = await life(dayMs - HOUR_MS);
    await until(() => hostile !== undefined, 10_000);
    const outcomes = await hostile!;
    // A booking re-sent with more kWh (and the power that goes with it) under the recorded id, and a second booking of the day: refused.
    await cesRaw.send('ces-book', { to: 'h1', round: 0, bookingId, dayMs, capacityKwh: booking.capacityKwh + 1, powerKw: booking.powerKw + 0.5, priceEurPerKwhDay: booking.priceEurPerKwhDay, efficiency: booking.efficiency, throughputFeeEurPerKwh: booking.throughputFeeEurPerKwh, residueCreditEurPerKwh: booking.residueCreditEurPerKwh });
    await cesRaw.send('ces-book', { to: 'h1', round: 0, bookingId: `${bookingId}-more`, dayMs, capacityKwh: 1, powerKw: 0.5, priceEurPerKwhDay: booking.priceEurPerKwhDay, efficiency: booking.efficiency, throughputFeeEurPerKwh: booking.throughputFeeEurPerKwh, residueCreditEurPerKwh: booking.residueCreditEurPerKwh });
    await until(() => decisions.filter((d) => !d.accepted).length === 2, 10_000);
    expect(decisions.filter((d) => !d.accepted).map((d) => d.reason)).toEqual([expect.stringMatching(/recorded with other capacityKwh, powerKw/), expect.stringMatching(/no answer of mine to round 0/)]);
    // Its honest trades commit; every widened one finds no acceptance (as seller) or no offer (as buyer).
    const state = (trade: ClearedTrade) => outcomes.find((o) => o.trade === trade)!.state;
    for (const trade of recorded) expect(state(trade)).toBe('committed');
    for (const trade of widened) expect(state(trade)).toMatch(trade.seller === 'ces' ? /^no-acceptance$/ : /^no-offer$/);
    second.child.stdin.end();
    expect((await second.exited)[0], second.stderr()).toBe(0);

    const h1Market = Ledger.open(join(h1Dir, 'market'), 'h1');
    const h1Book = RentalLedger.open(h1Dir, 'h1');
    try {
      // h1's market ledger holds exactly its original answer, and the CES's the same; h1's book the original booking only.
      expect(sortedKeys(h1Market.committed())).toEqual(sortedKeys(recorded));
      expect(sortedKeys(accountTradesOfH1(cesNode.ledger.committed()))).toEqual(sortedKeys(recorded));
      expect(h1Book.allBookings()).toEqual([booking]);
    } finally {
      h1Market.close();
      h1Book.close();
    }
  }, 60_000);

  it('killed after recording the booking and before saying so, restarted while the CES still asks: the booking is accepted on its recorded terms and its trades committed', async () => {
    const { life, h1Dir } = await setup();
    const first = await life(dayMs - HOUR_MS, 'freeze-booked');
    const { agent, ledger: cesBook } = await street.agent(['h1'], { commitTimeoutMs: 3_000 });
    const clearing = agent.clearDay(dayMs, prices);
    await until(() => first.lines.includes('holding ces-booked'), 45_000);
    first.child.kill('SIGKILL');
    expect((await first.exited)[1]).toBe('SIGKILL');
    // Restarted within the CES's booking wait: its round answers are gone, its booking is in its ledger.
    const second = await life(dayMs - HOUR_MS);
    const result = await clearing;
    expect(result.unbooked).toEqual([]);
    const [booking] = result.bookings;
    expect(booking!.household).toBe('h1');
    expect(result.accountTrades).toBeGreaterThan(0);
    expect(result.committedTrades).toBe(result.accountTrades);
    // Its P2P answer was in memory only (not built, docs/ces.md): nothing bought.
    expect(result.committedP2pTrades).toBe(0);
    second.child.stdin.end();
    expect((await second.exited)[0], second.stderr()).toBe(0);

    const h1Market = Ledger.open(join(h1Dir, 'market'), 'h1');
    const h1Book = RentalLedger.open(h1Dir, 'h1');
    try {
      const recorded = h1Book.accountTradesOf(booking!.bookingId)!;
      expect(h1Book.allBookings()).toEqual([cesBook.bookingOf(booking!.bookingId)]);
      expect(sortedKeys(h1Market.committed())).toEqual(sortedKeys(recorded));
      expect(sortedKeys(accountTradesOfH1(street.nodes.get('ces')!.ledger.committed()))).toEqual(sortedKeys(recorded));
    } finally {
      h1Market.close();
      h1Book.close();
    }
  }, 60_000);
});

describe('a CES and a household both killed after the booking, before its account trades were committed', () => {
  it('commit the booked account trades of the hours not begun once each when both come back, nothing else, within the recommit limit', async () => {
    const recommitLimit = 2;
    const { life, cesLife, h1Dir, cesDir } = await setup();
    // h1 records the booking, says so and commits nothing (frozen), so the CES's clearing ends with nothing committed (its commits wait 1.5 s).
    const [first, ces] = await Promise.all([life(dayMs - HOUR_MS, 'freeze'), cesLife(dayMs - HOUR_MS, recommitLimit, 1_500)]);
    ces.child.stdin.write('clear\n');
    await until(() => ces.lines.some((l) => l.startsWith('cleared ')), 45_000);
    const result = JSON.parse(ces.lines.find((l) => l.startsWith('cleared '))!.slice('cleared '.length)) as { bookings: RentalBooking[]; accountTrades: number; committedTrades: number };
    expect(result.bookings.map((b) => b.household)).toEqual(['h1']);
    expect(result.accountTrades).toBeGreaterThan(1);
    expect(result.committedTrades).toBe(0);
    expect(first.lines.find((l) => l.startsWith('committing'))).toBe(`committing ${result.accountTrades}`);
    // Both killed: the booking is in both rental ledgers with its account trades, no trade in either market ledger.
    for (const party of [first, ces]) party.child.kill('SIGKILL');
    expect((await Promise.all([first.exited, ces.exited])).map(([, signal]) => signal)).toEqual(['SIGKILL', 'SIGKILL']);
    const [booking] = result.bookings;
    const cesBookAfterKill = RentalLedger.open(cesDir, 'ces');
    const recorded = expectBookedNothingCommitted(h1Dir, cesBookAfterKill, booking!.bookingId, result.accountTrades);
    cesBookAfterKill.close();
    const cesMarketAfterKill = Ledger.open(join(cesDir, 'market'), 'ces');
    expect(cesMarketAfterKill.entriesList().filter((e) => e.state !== 'aborted')).toEqual([]);
    cesMarketAfterKill.close();

    // Both restarted as the first booked hour begins (the CES first: the household's word reaches it), on their folders.
    const restartMs = Math.min(...recorded.map((t) => t.slotStartMs));
    const future = recorded.filter((t) => t.slotStartMs > restartMs);
    expect(future.length).toBeGreaterThan(0);
    expect(future.length).toBeLessThan(recorded.length);
    const cesAgain = await cesLife(restartMs, recommitLimit, 5_000);
    const second = await life(restartMs);
    // A metered hour waits for the household's commit to end and asks again for what is still open (a second commit, should the first miss any).
    await second.observe({ hourStartMs: restartMs, importKwh: 0, exportKwh: 0 });
    const cesCommits = (prefix: string) => cesAgain.lines.filter((l) => l.startsWith(prefix));
    const committedByCes = () => cesCommits('committed ').reduce((n, l) => n + Number(l.slice('committed '.length)), 0);
    await until(() => cesCommits('commit ').length === cesCommits('committed ').length && committedByCes() >= future.length, 20_000);
    await second.observe({ hourStartMs: restartMs + HOUR_MS, importKwh: 0, exportKwh: 0 });
    await new Promise((wake) => setTimeout(wake, 1_000));
    for (const party of [second, cesAgain]) party.child.stdin.end();
    for (const party of [second, cesAgain]) expect((await party.exited)[0], party.stderr()).toBe(0);
    // The restarted CES committed at the household's word, from its own record, at most `recommitLimit` times.
    const recommits = cesCommits('commit ');
    expect(recommits.length).toBeGreaterThan(0);
    expect(recommits.length).toBeLessThanOrEqual(recommitLimit);

    const cesMarket = Ledger.open(join(cesDir, 'market'), 'ces');
    const h1Market = Ledger.open(join(h1Dir, 'market'), 'h1');
    const cesBook = RentalLedger.open(cesDir, 'ces');
    const h1Book = RentalLedger.open(h1Dir, 'h1');
    try {
      // Each account trade of the hours not begun once in both market ledgers, opposite sides; the hour under way and anything not booked in neither.
      expectCommittedOnceInBoth(cesMarket, h1Market, future);
      // The booking once in each rental journal, the same in both books, with opposite signs.
      for (const dir of [cesDir, h1Dir]) expect(journalBookingIds(dir)).toEqual([booking!.bookingId]);
      expect(cesBook.allBookings()).toEqual([booking]);
      expect(h1Book.allBookings()).toEqual([booking]);
      expect(cesBook.balanceEur(booking!.bookingId)).toBeCloseTo(booking!.capacityKwh * booking!.priceEurPerKwhDay, 12);
      expect(h1Book.balanceEur(booking!.bookingId) + cesBook.balanceEur(booking!.bookingId)).toBe(0);
    } finally {
      for (const book of [cesMarket, h1Market, cesBook, h1Book]) book.close();
    }
  }, 60_000);
});
