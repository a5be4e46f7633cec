/**
 * The live community guard's decision (community-guard.ts) against hand computations: the peak the
 * community pays for today is the larger of its cleared schedule's peak and its highest metered hour
 * of today; when the hour's import (so far, plus the rest of the hour at the present import) would
 * pass it, every battery gives the same share of its room, at most all of it.
 */
import { describe, expect, it } from 'vitest';
import { CommunityGuard, type GuardReport } from '../../src/runtime/community-guard.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const DAY = Date.UTC(2016, 11, 11);
const slots = [0, 1, 2].map((h) => DAY + (10 + h) * HOUR_MS);

function report(atMs: number, importKw: number, roomKw: number, netKw: number[], closedHour: GuardReport['closedHour'] = null, hourSoFarKwh = 0): GuardReport {
  return { atMs, importKw, hourSoFarKwh, roomKw, closedHour, planned: { slotStartsMs: slots, netKw } };
}

describe('the live community guard', () => {
  it('above the cleared schedule’s peak, every battery discharges the same share of its room', () => {
    // At the hour's start: the rest of the hour is all of it.
    const atMs = DAY + 11 * HOUR_MS;
    const reports = new Map([
      ['gw-a', report(atMs, 2.5, 1, [1, 1.5, 0.5])],
      ['gw-b', report(atMs, 1.9, 3, [0.8, 0.4, 1])],
      ['gw-c', report(atMs, 0.6, 0, [0.2, 0.6, 0.3])],
    ]);
    const decision = new CommunityGuard().decide(atMs, reports)!;
    // Slot sums 2.0, 2.5, 1.8: the schedule's peak is 2.5 kW; the community imports 5.0 kW, 2.5 kW above, against 4 kW of room.
    expect(decision.guardKw).toBeCloseTo(2.5, 12);
    expect(decision.communityImportKw).toBeCloseTo(5, 12);
    expect(decision.roomKw).toBe(4);
    expect(decision.share).toBeCloseTo(2.5 / 4, 12);
    expect(decision.members).toEqual(['gw-a', 'gw-b', 'gw-c']);
  });

  it('a metered hour of today above the schedule raises the guard; a metered hour of yesterday does not', () => {
    const guard = new CommunityGuard();
    const first = DAY + 11 * HOUR_MS;
    // Yesterday's 23:00 hour, reported at midnight, belongs to another billing day.
    guard.decide(DAY, new Map([['gw-a', report(DAY, 0, 0, [0, 0, 0], { startMs: DAY - HOUR_MS, netImportKwh: 9 })]]));
    const closed = (kwh: number) => ({ startMs: DAY + 10 * HOUR_MS, netImportKwh: kwh });
    const decision = guard.decide(first, new Map([
      ['gw-a', report(first, 2, 2, [1, 1, 1], closed(1.7))],
      ['gw-b', report(first, 2, 2, [1, 1, 1], closed(1.6))],
    ]))!;
    // Schedule 2 kW; the 10:00 hour metered 3.3 kWh: the community pays for 3.3 kW today; 4 kW is 0.7 kW above.
    expect(decision.guardKw).toBeCloseTo(3.3, 12);
    expect(decision.share).toBeCloseTo(0.7 / 4, 12);
    // The 10:00 hour stays remembered when later reports carry the 11:00 one (of a lower import).
    const later = first + HOUR_MS;
    const next = guard.decide(later, new Map([
      ['gw-a', report(later, 1, 2, [1, 1, 1], { startMs: first, netImportKwh: 0.5 })],
      ['gw-b', report(later, 1, 2, [1, 1, 1], { startMs: first, netImportKwh: 0.5 })],
    ]))!;
    expect(next.guardKw).toBeCloseTo(3.3, 12);
    expect(next.share).toBe(0);
    // The next day starts afresh.
    const tomorrow = DAY + DAY_MS;
    const fresh = guard.decide(tomorrow, new Map([['gw-a', { atMs: tomorrow, importKw: 3, hourSoFarKwh: 0, roomKw: 4, closedHour: null, planned: { slotStartsMs: [tomorrow], netKw: [1] } }]]))!;
    expect(fresh.guardKw).toBe(1);
    expect(fresh.share).toBeCloseTo(0.5, 12);
  });

  it('gives all the room and no more when the excess exceeds it; below the guard it asks nothing', () => {
    const atMs = DAY + 12 * HOUR_MS;
    const above = new CommunityGuard().decide(atMs, new Map([['gw-a', report(atMs, 9, 1, [1, 1, 1])], ['gw-b', report(atMs, 3, 0.5, [1, 1, 1])]]))!;
    expect(above.share).toBe(1);
    const below = new CommunityGuard().decide(atMs, new Map([['gw-a', report(atMs, 0.9, 1, [1, 1, 1])], ['gw-b', report(atMs, 1.1, 0.5, [1, 1, 1])]]))!;
    expect(below.share).toBe(0);
  });

  it('holds the hour’s energy, not each reading: what the hour imported so far sets the rate the rest of it may keep', () => {
    // 11:40, guard 2.5 kW (the schedule's peak): 20 minutes left.
    const atMs = DAY + 11 * HOUR_MS + 40 * 60_000;
    const restH = 1 / 3;
    const decide = (soFarKwh: [number, number], importKw: [number, number]) =>
      new CommunityGuard().decide(atMs, new Map([
        ['gw-a', report(atMs, importKw[0], 2, [1, 1.5, 0.5], null, soFarKwh[0])],
        ['gw-b', report(atMs, importKw[1], 2, [0.8, 1, 1], null, soFarKwh[1])],
      ]))!;
    // A relay ran for five minutes between two readings: the hour has 2.0 kWh in 40 minutes, so the
    // last 20 may import only 1.5 kW, though each reading so far was at the guard.
    const afterRelay = decide([1.2, 0.8], [1.5, 1]);
    expect(afterRelay.hourSoFarKwh).toBeCloseTo(2, 12);
    expect(afterRelay.share).toBeCloseTo((2.5 - (2.5 - 2) / restH) / 4, 12);
    // A quiet start leaves room: 1.0 kWh so far lets the rest of the hour import 4.5 kW, the present 3.0 kW asks nothing.
    expect(decide([0.5, 0.5], [2, 1]).share).toBe(0);
    // With the hour already past the guard, every battery gives all its room.
    expect(decide([1.5, 1.5], [2, 1.5]).share).toBe(1);
  });

  it('without a clearing that covers today there is nothing to hold', () => {
    const atMs = DAY + DAY_MS + HOUR_MS;
    expect(new CommunityGuard().decide(atMs, new Map([['gw-a', report(atMs, 9, 1, [1, 1, 1])]]))).toBeNull();
  });

  it('decides the same bits whatever order the reports arrived in', () => {
    const atMs = DAY + 11 * HOUR_MS;
    const entries: [string, GuardReport][] = [0.1, 0.2, 0.3, 0.7, 1.1].map((kw, n) => [`gw-${n}`, report(atMs, kw * 3, kw, [kw, kw / 3, 0.01 * n])]);
    const forward = new CommunityGuard().decide(atMs, new Map(entries))!;
    const backward = new CommunityGuard().decide(atMs, new Map([...entries].reverse()))!;
    expect(backward).toEqual(forward);
    expect(Object.is(backward.share, forward.share)).toBe(true);
  });
});
