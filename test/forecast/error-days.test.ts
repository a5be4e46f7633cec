/** ErrorSampleStore.onDays: a household's errors on the days another gateway named (the community's joint samples). */
import { describe, expect, it } from 'vitest';
import { DAY_MS, HOUR_MS } from '../../src/data/households.ts';
import { ErrorSampleStore } from '../../src/forecast/error-store.ts';

const atMs = Date.UTC(2016, 10, 1, 0);
const day = (k: number) => atMs - k * DAY_MS;
const store = new ErrorSampleStore(3);
for (const k of [1, 2, 3, 5, 9]) store.add({ issuedMs: day(k), errorKw: [k, k, k] });
// Another hour of day, and one not yet fully realised at atMs: never used.
store.add({ issuedMs: day(4) + HOUR_MS, errorKw: [40, 40, 40] });
store.add({ issuedMs: atMs - 2 * HOUR_MS, errorKw: [0.5, 0.5, 0.5] });

describe('a household’s errors on named days', () => {
  it('are its own trajectories of those days, in the named order', () => {
    expect(store.onDays(atMs, [day(3), day(1), day(2)]).map((s) => s.issuedMs)).toEqual([day(3), day(1), day(2)]);
  });

  it('replace a day it lacks by its trajectory issued nearest to it, neither named nor used already (ties: the more recent)', () => {
    // Day 4 is missing: 3 and 5 are equally near, 3 is named, so 5; day 6 then gets 9 (5 is used), day 7 gets 2 (9 is used).
    expect(store.onDays(atMs, [day(3), day(4), day(6), day(7)]).map((s) => s.errorKw[0])).toEqual([3, 5, 9, 2]);
    // With every trajectory used, the nearest one again.
    const small = new ErrorSampleStore(3);
    for (const k of [1, 2]) small.add({ issuedMs: day(k), errorKw: [k, k, k] });
    expect(small.onDays(atMs, [day(1), day(3), day(4)]).map((s) => s.errorKw[0])).toEqual([1, 2, 2]);
    // Day 4 alone: 3 and 5 both unused and equally near: the more recent, 3.
    expect(store.onDays(atMs, [day(4)]).map((s) => s.errorKw[0])).toEqual([3]);
  });

  it('are none when it has no eligible trajectory at all', () => {
    expect(new ErrorSampleStore(3).onDays(atMs, [day(1)])).toEqual([]);
    expect(store.onDays(day(20), [day(21)])).toEqual([]);
  });
});
