/**
 * The rented account's movements and the settlement of its residue in both parties' rental ledgers
 * (docs/ces.md §4), over a real community broker with the CES agent and the households' parties on
 * their market nodes: each hour's movement is the committed account trade as the household's meter
 * delivered it, recorded alike in both books; after the day the residue is settled and both books
 * balance. A household cannot make the CES record more than was committed, a CES cannot make a
 * household record what it did not meter, and a household killed with SIGKILL mid-day loses no
 * movement and records none twice.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { accountMovement, committedAccountKwh, settlementIdOf } from '../../src/ces/account-movements.ts';
import { accountChangeKwh, booksMirror, RentalLedger } from '../../src/ces/rental-ledger.ts';
import { isAccountTrade, rentalChannel, type RecordedPayload } from '../../src/ces/rental-protocol.ts';
import { DAY_MS, HOUR_MS } from '../../src/data/households.ts';
import { dayMs, memberProcessFiles, prices, rentalStreet, startHousehold, until, type Street } from './rental-street.ts';
import { T } from './household-day.ts';
import { byHour, expectedMovements, journalMovementIds, meterOf } from './account-meter.ts';

let street: Street;
afterEach(() => street?.close());

const hours = [...Array(T).keys()].map((t) => dayMs + t * HOUR_MS);

describe('the account movements in both rental ledgers', () => {
  it('are the metered energy within the committed trade, mirrored in both books; after the day the residue is settled and both books balance', async () => {
    street = await rentalStreet();
    const { ledger: mine, party } = await street.household('h1');
    const { agent, ledger: cesBook } = await street.agent(['h1']);
    const result = await agent.clearDay(dayMs, prices);
    const [booking] = result.bookings;
    const { bookingId } = booking!;
    await party.committed(bookingId);
    const cesTrades = street.nodes.get('ces')!.ledger.committed();

    // Before the metered hours, claims the CES refuses: more than committed, an hour with no trade, another member's booking.
    const depositHour = hours.find((ms) => committedAccountKwh(cesTrades, 'h1', 'ces', ms).depositKwh > 0)!;
    const quietHour = hours.find((ms) => Object.values(committedAccountKwh(cesTrades, 'h1', 'ces', ms)).every((kwh) => kwh === 0))!;
    const committedKwh = committedAccountKwh(cesTrades, 'h1', 'ces', depositHour).depositKwh;
    const answers: RecordedPayload[] = [];
    const h1Raw = rentalChannel(street.nodes.get('h1')!);
    h1Raw.on('ces-recorded', ({ payload }) => answers.push(payload));
    await h1Raw.send('ces-movement', { to: 'ces', bookingId, slotStartMs: depositHour, meterKwh: committedKwh + 0.5 });
    await h1Raw.send('ces-movement', { to: 'ces', bookingId, slotStartMs: quietHour, meterKwh: 0.2 });
    await (await street.channel('h2')).send('ces-movement', { to: 'ces', bookingId, slotStartMs: depositHour, meterKwh: 0.1 });
    await until(() => answers.length === 3);
    const to = (member: string) => answers.filter((a) => a.to === member);
    expect(to('h1').map((a) => a.accepted)).toEqual([false, false]);
    expect(to('h1')[0]!.reason).toContain(`${committedKwh} kWh committed in that hour`);
    expect(to('h1')[1]!.reason).toContain('0 kWh committed in that hour');
    expect(to('h2')).toMatchObject([{ accepted: false, reason: `no booking ${bookingId} of h2` }]);
    expect(cesBook.movementsOf(bookingId)).toEqual([]);

    // The metered day: half of the first deposit exported, all of the others; twice the withdrawals imported.
    const firstDeposit = (depositHour - dayMs) / HOUR_MS;
    const meter = meterOf(hours, cesTrades, 'h1', (t) => (t === firstDeposit ? 0.5 : 1), () => 2);
    for (const hour of meter) party.observeHour(hour);
    await until(() => party.unacknowledged().length === 0);
    expect(answers.filter((a) => !a.accepted)).toHaveLength(3);
    const expected = expectedMovements(booking!, cesTrades, meter);
    const recorded = byHour(mine, bookingId);
    expect([...recorded.keys()]).toEqual([...expected.keys()]);
    for (const [hourMs, kwh] of expected) kwh.forEach((v, k) => expect(recorded.get(hourMs)![k]).toBeCloseTo(v, 12));
    expect(recorded.get(depositHour)![0]).toBeCloseTo(committedKwh / 2, 12);
    // The withdrawals share the meter's import with the P2P energy h1 bought from the CES in the same hours (pro rata).
    const sharedHours = hours.filter((ms) => committedAccountKwh(cesTrades, 'h1', 'ces', ms).withdrawalKwh > 0 && cesTrades.some((t) => t.buyer === 'h1' && !isAccountTrade(t) && t.slotStartMs === ms));
    expect(sharedHours.length).toBeGreaterThan(0);
    // Never more than committed, each way; the short deposit leaves the last withdrawals short of theirs (the account holds no more).
    for (const m of mine.movementsOf(bookingId)) {
      const account = committedAccountKwh(cesTrades, 'h1', 'ces', m.slotStartMs);
      expect(Math.abs(m.meterKwh)).toBeLessThanOrEqual((m.meterKwh > 0 ? account.depositKwh : account.withdrawalKwh) + 1e-12);
    }
    const withdrawnKwh = -mine.movementsOf(bookingId).filter((m) => m.meterKwh < 0).reduce((s, m) => s + m.meterKwh, 0);
    expect(withdrawnKwh).toBeLessThan(hours.reduce((s, ms) => s + committedAccountKwh(cesTrades, 'h1', 'ces', ms).withdrawalKwh, 0) - 1e-3);
    expect(mine.accountKwh(bookingId)).toBeCloseTo(0, 9);
    expect(booksMirror(cesBook, mine, bookingId)).toBe(true);

    // After the day's last hour: the settlement waits until the day is over by the CES's clock, then both books hold it.
    party.observeHour({ hourStartMs: dayMs + 23 * HOUR_MS, importKwh: 0.3, exportKwh: 0 });
    await new Promise((wake) => setTimeout(wake, 500));
    expect(cesBook.settlement(bookingId)).toBeUndefined();
    expect(party.unacknowledged()).toEqual([settlementIdOf(bookingId)]);
    street.clock.advance(dayMs + DAY_MS - street.clock.nowMs());
    party.observeHour({ hourStartMs: dayMs + DAY_MS, importKwh: 0.3, exportKwh: 0 });
    await until(() => party.unacknowledged().length === 0);

    expect(booksMirror(cesBook, mine, bookingId)).toBe(true);
    const movements = cesBook.movementsOf(bookingId);
    const residueKwh = movements.reduce((s, m) => s + accountChangeKwh(booking!, m.meterKwh), 0);
    expect(cesBook.settlement(bookingId)!.residueKwh).toBeCloseTo(residueKwh, 12);
    // What the CES receives, by hand: rent + fee per kWh moved at the meter − the residue bought back; the household pays exactly that.
    const dueEur = booking!.priceEurPerKwhDay * booking!.capacityKwh + booking!.throughputFeeEurPerKwh * movements.reduce((s, m) => s + Math.abs(m.meterKwh), 0) - booking!.residueCreditEurPerKwh * residueKwh;
    expect(cesBook.balanceEur(bookingId)).toBeCloseTo(dueEur, 12);
    expect(cesBook.balanceEur(bookingId) + mine.balanceEur(bookingId)).toBe(0);
    // The account after the settlement: what went in − what came out − the residue = 0; no movement after it.
    expect(cesBook.accountKwh(bookingId) - cesBook.settlement(bookingId)!.residueKwh).toBe(0);
    expect(() => cesBook.recordMovement(accountMovement(bookingId, dayMs + 7 * HOUR_MS, 0.01))).toThrow(/settled/);
  }, 60_000);

  it('a CES cannot make a household record a movement it did not meter; one it recorded on its own makes the settlement refused and the books not mirror', async () => {
    street = await rentalStreet();
    const { ledger, party } = await street.household('h1');
    const { agent, ledger: cesBook } = await street.agent(['h1']);
    const result = await agent.clearDay(dayMs, prices);
    const [booking] = result.bookings;
    await party.committed(booking!.bookingId);
    const cesTrades = street.nodes.get('ces')!.ledger.committed();
    const meter = meterOf(hours, cesTrades, 'h1', () => 1, () => 1);

    // The CES claims a deposit and acknowledges an entry h1 never reported: nothing enters h1's book.
    const cesRaw = rentalChannel(street.nodes.get('ces')!);
    await cesRaw.send('ces-movement', { to: 'h1', bookingId: booking!.bookingId, slotStartMs: dayMs, meterKwh: 1 });
    await cesRaw.send('ces-recorded', { to: 'h1', entryId: `${booking!.bookingId}-h00-in`, accepted: true });
    for (const hour of meter) party.observeHour(hour);
    await until(() => party.unacknowledged().length === 0);
    const expected = expectedMovements(booking!, cesTrades, meter);
    expect([...byHour(ledger, booking!.bookingId).keys()]).toEqual([...expected.keys()]);
    expect(ledger.movement(`${booking!.bookingId}-h00-in`)).toBeUndefined();
    expect(booksMirror(cesBook, ledger, booking!.bookingId)).toBe(true);

    // A CES that books a movement on its own (none was reported for it): h1's settlement is refused, and the books do not mirror.
    const lastWithdrawal = [...expected.entries()].filter(([, kwh]) => kwh.some((v) => v < 0)).at(-1)![0];
    cesBook.recordMovement(accountMovement(booking!.bookingId, lastWithdrawal + HOUR_MS, 0.05));
    const refusals: RecordedPayload[] = [];
    rentalChannel(street.nodes.get('h1')!).on('ces-recorded', ({ payload }) => !payload.accepted && refusals.push(payload));
    street.clock.advance(dayMs + DAY_MS - street.clock.nowMs());
    party.observeHour({ hourStartMs: dayMs + 23 * HOUR_MS, importKwh: 0.3, exportKwh: 0 });
    await until(() => refusals.length === 1);
    expect(refusals[0]).toMatchObject({ entryId: settlementIdOf(booking!.bookingId), accepted: false });
    expect(refusals[0]!.reason).toMatch(/the account holds/);
    expect(ledger.settlement(booking!.bookingId)).toBeDefined();
    expect(cesBook.settlement(booking!.bookingId)).toBeUndefined();
    expect(booksMirror(cesBook, ledger, booking!.bookingId)).toBe(false);
  }, 60_000);

  it('a household killed with SIGKILL mid-day, restarted: no movement lost, none recorded twice, both books mirror after the settlement', async () => {
    street = await rentalStreet();
    const dir = street.tempDir();
    const files = memberProcessFiles(dir, 'h1');
    const children: ChildProcessWithoutNullStreams[] = [];
    /** One life of the household; resolves once it is on the broker. */
    const life = () => startHousehold(files, join(dir, 'h1'), street.broker.url, children);
    try {
      const first = await life();
      const { agent, ledger: cesBook, dir: cesDir } = await street.agent(['h1']);
      const result = await agent.clearDay(dayMs, prices);
      const [booking] = result.bookings;
      expect(result.committedTrades).toBe(result.accountTrades);
      const cesTrades = street.nodes.get('ces')!.ledger.committed();
      const meter = meterOf(hours, cesTrades, 'h1', (t) => (t % 2 === 0 ? 0.7 : 1), () => 1);
      const expected = expectedMovements(booking!, cesTrades, meter);
      // Mid-day: the hours up to the first withdrawal's are recorded, then SIGKILL.
      const killAfter = (Math.min(...[...expected.entries()].filter(([, kwh]) => kwh.some((v) => v < 0)).map(([ms]) => ms)) - dayMs) / HOUR_MS;
      for (let t = 0; t <= killAfter; t++) await first.observe(meter[t]!);
      first.child.kill('SIGKILL');
      expect((await first.exited)[1]).toBe('SIGKILL');
      const beforeKill = [...expected.keys()].filter((ms) => ms <= dayMs + killAfter * HOUR_MS).length;
      expect(beforeKill).toBeGreaterThan(0);

      // Restarted: the hour it was killed in is metered again (it keeps what it recorded), then the rest of the day and the settlement.
      const second = await life();
      for (let t = killAfter; t < T; t++) await second.observe(meter[t]!);
      street.clock.advance(dayMs + DAY_MS - street.clock.nowMs());
      await second.observe({ hourStartMs: dayMs + 23 * HOUR_MS, importKwh: 0.3, exportKwh: 0 });
      await until(() => cesBook.settlement(booking!.bookingId) !== undefined);
      second.child.stdin.end();
      expect((await second.exited)[0], second.stderr()).toBe(0);

      const mine = RentalLedger.open(join(dir, 'h1'), 'h1');
      try {
        const recorded = byHour(mine, booking!.bookingId);
        expect([...recorded.keys()]).toEqual([...expected.keys()]);
        for (const [hourMs, kwh] of expected) kwh.forEach((v, k) => expect(recorded.get(hourMs)![k]).toBeCloseTo(v, 12));
        expect(booksMirror(cesBook, mine, booking!.bookingId)).toBe(true);
        expect(mine.balanceEur(booking!.bookingId)).toBe(-cesBook.balanceEur(booking!.bookingId));
      } finally {
        mine.close();
      }
      // Each movement is one line in each journal, whatever was re-sent.
      const movementCount = [...expected.values()].reduce((s, kwh) => s + kwh.length, 0);
      for (const ids of [journalMovementIds(join(dir, 'h1')), journalMovementIds(cesDir)]) {
        expect(ids).toHaveLength(movementCount);
        expect(new Set(ids).size).toBe(movementCount);
      }
    } finally {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 60_000);
});
