/**
 * A household killed with SIGKILL between accepting a booking and committing its account trades
 * (docs/ces.md §4, "Restarts"): the household is a child process (test/ces/household-process.ts) on a
 * real community broker with the CES agent; its first life records the booking (with the account
 * trades it commits to, in the same journal line), says so to the CES and is killed before any commit
 * starts. Restarted on its folder, it commits the recorded trades whose hours have not begun — the
 * CES commits its side again at its word — each once in both market ledgers with opposite sides; an
 * hour already under way at the restart stays uncommitted and gets no movement. A CES that tries to
 * widen the booking after the restart (more kWh, more power, an hour not booked) gets nothing beyond
 * the household's original answer.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MeterHour } from '../../src/ces/account-movements.ts';
import type { CesAgentOptions } from '../../src/ces/agent.ts';
import { RentalLedger } from '../../src/ces/rental-ledger.ts';
import { isAccountTrade, mandateOf, rentalChannel, tradeKey, type BookedPayload } from '../../src/ces/rental-protocol.ts';
import { HOUR_MS } from '../../src/data/households.ts';
import { Ledger, type ClearedTrade } from '../../src/market/ledger.ts';
import type { CommitOutcome } from '../../src/market/node.ts';
import { T } from './household-day.ts';
import { dayMs, householdProcessFiles, prices, rentalStreet, until, type Street } from './rental-street.ts';

let street: Street;
const children: ChildProcessWithoutNullStreams[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await street?.close();
});

/** Waits (wall time, up to `ms`) until `done` holds. */
async function waitFor(done: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await new Promise((wake) => setTimeout(wake, 50));
  if (!done()) throw new Error('timed out waiting');
}

const sortedKeys = (trades: readonly ClearedTrade[]) => trades.map(tradeKey).sort();
/** h1's account trades with the CES in a market ledger's committed trades. */
const accountTradesOfH1 = (trades: readonly ClearedTrade[]) => trades.filter((t) => isAccountTrade(t) && (t.seller === 'h1' || t.buyer === 'h1'));

/** The street, h1's folder, and a life of h1 as a child process (household-process.ts). */
async function setup() {
  street = await rentalStreet();
  const dir = street.tempDir();
  const { files, script } = householdProcessFiles(dir);
  const h1Dir = join(dir, 'h1');
  /** One life of h1 with its slot clock at `nowMs`; resolves once it is on the broker. */
  const life = async (nowMs: number, mode?: 'freeze' | 'freeze-booked') => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, h1Dir, street.broker.url, files.community, files.identity, String(dayMs), String(nowMs), ...(mode ? [mode] : [])], { stdio: 'pipe' });
    children.push(child);
    const lines: string[] = [];
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.stdout.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== '')));
    const exited = new Promise<[number | null, string | null]>((done) => child.once('exit', (code, signal) => done([code, signal])));
    await waitFor(() => lines.includes('ready') || child.exitCode !== null, 20_000);
    expect(lines, stderr).toContain('ready');
    const observe = async (hour: MeterHour) => {
      child.stdin.write(`${JSON.stringify(hour)}\n`);
      await until(() => lines.includes(`hour ${hour.hourStartMs}`));
    };
    return { child, lines, exited, observe, stderr: () => stderr };
  };
  return { life, h1Dir };
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
  await waitFor(() => first.lines.some((l) => l.startsWith('committing')), 45_000);
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

  // h1's books after the kill: the booking and the trades it commits to, in the same line; no trade in its market ledger.
  const h1Book = RentalLedger.open(h1Dir, 'h1');
  const recorded = h1Book.accountTradesOf(bookingId)!;
  expect(h1Book.bookingOf(bookingId)).toEqual(cesBook.bookingOf(bookingId));
  h1Book.close();
  expect(sortedKeys(recorded)).toEqual(sortedKeys(cesBook.accountTradesOf(bookingId)!));
  expect(recorded).toHaveLength(result.accountTrades);
  const h1Market = Ledger.open(join(h1Dir, 'market'), 'h1');
  expect(h1Market.entriesList()).toEqual([]);
  h1Market.close();
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
    await waitFor(() => accountTradesOfH1(cesNode.ledger.committed()).length === future.length, 20_000);
    // The hour under way at the restart: no trade, so the meter's exchange makes no movement (account-movements.ts).
    await second.observe({ hourStartMs: restartMs, importKwh: 1, exportKwh: 1 });
    // A later metered hour asks again only for what is still open: nothing.
    await second.observe({ hourStartMs: restartMs + HOUR_MS, importKwh: 0, exportKwh: 0 });
    await new Promise((wake) => setTimeout(wake, 1_000));
    second.child.stdin.end();
    expect((await second.exited)[0], second.stderr()).toBe(0);

    const cesTrades = accountTradesOfH1(cesNode.ledger.committed());
    const h1Market = Ledger.open(join(h1Dir, 'market'), 'h1');
    const h1Book = RentalLedger.open(h1Dir, 'h1');
    try {
      const h1Trades = accountTradesOfH1(h1Market.committed());
      // Exactly the recorded trades of the hours not begun, once each, in both ledgers; nothing in doubt.
      expect(sortedKeys(cesTrades)).toEqual(sortedKeys(future));
      expect(sortedKeys(h1Trades)).toEqual(sortedKeys(future));
      expect(h1Market.inDoubt()).toEqual([]);
      expect(cesNode.ledger.inDoubt()).toEqual([]);
      // The same trades (ids) with opposite signs: what one party sells, the other buys.
      const h1ById = new Map(h1Market.committed().map((t) => [t.tradeId, t]));
      for (const trade of cesNode.ledger.committed().filter((t) => isAccountTrade(t))) {
        expect(h1ById.get(trade.tradeId)).toEqual(trade);
        expect(h1Market.signedKw(h1ById.get(trade.tradeId)!)).toBe(-cesNode.ledger.signedKw(trade));
      }
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
    await waitFor(() => hostile !== undefined, 10_000);
    const outcomes = await hostile!;
    // A booking re-sent with more kWh (and the power that goes with it) under the recorded id, and a second booking of the day: refused.
    await cesRaw.send('ces-book', { to: 'h1', round: 0, bookingId, dayMs, capacityKwh: booking.capacityKwh + 1, powerKw: booking.powerKw + 0.5, priceEurPerKwhDay: booking.priceEurPerKwhDay, efficiency: booking.efficiency, throughputFeeEurPerKwh: booking.throughputFeeEurPerKwh, residueCreditEurPerKwh: booking.residueCreditEurPerKwh });
    await cesRaw.send('ces-book', { to: 'h1', round: 0, bookingId: `${bookingId}-more`, dayMs, capacityKwh: 1, powerKw: 0.5, priceEurPerKwhDay: booking.priceEurPerKwhDay, efficiency: booking.efficiency, throughputFeeEurPerKwh: booking.throughputFeeEurPerKwh, residueCreditEurPerKwh: booking.residueCreditEurPerKwh });
    await waitFor(() => decisions.filter((d) => !d.accepted).length === 2, 10_000);
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
    await waitFor(() => first.lines.includes('holding ces-booked'), 45_000);
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
