import { describe, expect, it } from 'vitest';
import { ShiftableQueue } from '../../src/runtime/shiftable.ts';
import type { ShiftableLoadConfig } from '../../src/config/gateway-config.ts';
import type { ShiftableDemandFeed } from '../../src/runtime/types.ts';

const HOUR_MS = 3_600_000;
const MIN_MS = 60_000;
const T0 = Date.parse('2016-07-01T10:00:00Z');

const dishwasher = (daily: { hour: number; energyKwh: number }[], maxDelayHours = 6): ShiftableLoadConfig => ({
  relay: 'dishwasher',
  ratedPowerKw: 2,
  maxDelayHours,
  demand: { source: 'schedule', daily },
});

/** A household that asks for `kwh` in the poll interval that contains `atMs`. */
const requestAt = (atMs: number, kwh: number): ShiftableDemandFeed => ({ requestedKwh: (_id, fromMs, toMs) => (fromMs <= atMs && atMs < toMs ? kwh : 0) });

/** The same load fed by the simulated household instead of a schedule. */
const fed = (load: ShiftableLoadConfig): ShiftableLoadConfig => ({ ...load, demand: { source: 'simulator' } });

/** No load running now (the `running` argument of choose). */
const off = [false, false];

const queueOf = (loads: ShiftableLoadConfig[], feed: ShiftableDemandFeed | null = null, startMs = T0) => new ShiftableQueue({ loads, feed, stepMinutes: 15, horizonSteps: 8, startMs });

describe('the shiftable-load queue', () => {
  it('takes requests from the configured daily schedule, every day, at the scheduled UTC hour', () => {
    const queue = queueOf([dishwasher([{ hour: 11, energyKwh: 1.2 }, { hour: 20, energyKwh: 0.5 }])]);
    expect(queue.collect(T0 + 30 * MIN_MS)).toEqual([]);
    expect(queue.collect(T0 + HOUR_MS + 10_000)).toEqual([{ load: 0, atMs: T0 + HOUR_MS, energyKwh: 1.2 }]);
    // A long gap is collected hour by hour, so every arrival lies in the hour it belongs to.
    const later = queue.collect(T0 + 25 * HOUR_MS + 10_000);
    expect(later.map((a) => [new Date(a.atMs).toISOString(), a.energyKwh])).toEqual([
      ['2016-07-01T20:00:00.000Z', 0.5],
      ['2016-07-02T11:00:00.000Z', 1.2],
    ]);
    expect(queue.queuedKwh(0)).toBeCloseTo(2.9, 9);
  });

  it('refuses a simulator-fed load without a simulator feed', () => {
    expect(() => queueOf([{ relay: 'ev', ratedPowerKw: 3.7, maxDelayHours: 4, demand: { source: 'simulator' } }])).toThrow(/"ev" takes its requests from the simulator/);
  });

  it('serves on-time × rated power, earliest deadline first, never more than is queued', () => {
    const queue = queueOf([fed(dishwasher([]))], requestAt(T0 + 5_000, 0.5));
    queue.collect(T0 + 10_000);
    expect(queue.serve(0, 6 * MIN_MS)).toBeCloseTo(0.2, 12);
    expect(queue.queuedKwh(0)).toBeCloseTo(0.3, 12);
    expect(queue.serve(0, HOUR_MS)).toBeCloseTo(0.3, 12);
    expect(queue.queuedKwh(0)).toBe(0);
    expect(queue.serve(0, HOUR_MS)).toBe(0);
  });

  it('tells the planner s₀, the demand of the current step and the deadlines by horizon step', () => {
    // Requests every 20 min from 10:00, 0.1 kWh each, due 1 h after they were made.
    const feed: ShiftableDemandFeed = { requestedKwh: (_id, fromMs, toMs) => [0, 20, 40, 60].filter((m) => T0 + m * MIN_MS >= fromMs && T0 + m * MIN_MS < toMs).length * 0.1 };
    const queue = queueOf([fed(dishwasher([], 1))], feed);
    for (let t = T0; t <= T0 + 62 * MIN_MS; t += 30_000) queue.collect(t);
    const state = queue.state(T0 + 62 * MIN_MS);
    // The step grid is 15 min: the request of 11:00 is in the current step (11:00–11:15), the others are s₀.
    expect(state.requestedThisStepKwh).toBeCloseTo(0.1, 12);
    expect(state.deferredKwh).toBeCloseTo(0.3, 12);
    expect(state.deferredKwh + state.requestedThisStepKwh).toBeCloseTo(queue.queuedKwh(0), 12);
    // Due 11:00 (overdue), 11:20, 11:40, 12:00, seen from 11:02: steps end 11:17, 11:32, 11:47, 12:02.
    expect(state.deadlinesKwh.map((k) => Math.round(k * 10) / 10)).toEqual([0.2, 0.1, 0.1, 0, 0, 0, 0, 0]);
  });

  it('runs every load with queued energy on the desired profile, and follows the plan’s need otherwise', () => {
    const loads = [fed(dishwasher([], 6)), fed({ ...dishwasher([], 6), relay: 'heat-pump', ratedPowerKw: 3 })];
    const queue = queueOf(loads, requestAt(T0, 1));
    queue.collect(T0 + 1_000);
    const period = 30_000;
    const quantum = (kw: number) => (kw * period) / HOUR_MS;
    expect(queue.choose(T0 + 1_000, period, null, off)).toEqual([true, true]);
    expect(queue.choose(T0 + 1_000, period, 0, off)).toEqual([false, false]);
    // Half a quantum needed switches a load on; less does not.
    expect(queue.choose(T0 + 1_000, period, quantum(2) / 2, off)).toEqual([true, false]);
    expect(queue.choose(T0 + 1_000, period, quantum(2) / 2 - 1e-6, off)).toEqual([false, false]);
    expect(queue.choose(T0 + 1_000, period, quantum(2) + quantum(3), off)).toEqual([true, true]);
    queue.serve(0, HOUR_MS);
    expect(queue.choose(T0 + 1_000, period, 1, off)).toEqual([false, true]);
  });

  it('runs a load whatever the plan says once waiting one more period would miss a deadline', () => {
    // 0.5 kWh at 2 kW takes 15 min; it is due 30 min after the request.
    const queue = queueOf([fed(dishwasher([], 0.5))], requestAt(T0, 0.5));
    queue.collect(T0 + 1_000);
    const period = 30_000;
    const latestStartMs = T0 + 15 * MIN_MS;
    expect(queue.choose(latestStartMs - period - 1_000, period, 0, off)).toEqual([false]);
    expect(queue.choose(latestStartMs - period + 1_000, period, 0, off)).toEqual([true]);
  });

  it('lets a request larger than an hour of the load’s power simply take longer', () => {
    const queue = queueOf([fed(dishwasher([], 1))], requestAt(T0, 5));
    queue.collect(T0 + 1_000);
    // 2.5 h of running for a 1 h deadline: it runs at once, and keeps running past the deadline until done.
    expect(queue.choose(T0 + 1_000, 30_000, 0, off)).toEqual([true]);
    expect(queue.serve(0, 2 * HOUR_MS)).toBeCloseTo(4, 12);
    expect(queue.choose(T0 + 2 * HOUR_MS, 30_000, 0, off)).toEqual([true]);
    expect(queue.state(T0 + 2 * HOUR_MS).deadlinesKwh[0]).toBeCloseTo(1, 12);
  });

  it('collects demand that arrives in slivers every fast period without losing any, each sliver due no later than its own deadline', () => {
    // 0.6 kWh spread evenly over 10:00–11:00, each bit due 2 h after it was asked for.
    const feed: ShiftableDemandFeed = { requestedKwh: (_id, fromMs, toMs) => ((toMs - fromMs) / HOUR_MS) * 0.6 };
    const queue = queueOf([fed(dishwasher([], 2))], feed);
    for (let t = T0; t <= T0 + HOUR_MS; t += 5_000) queue.collect(t);
    expect(queue.queuedKwh(0)).toBeCloseTo(0.6, 9);
    // The first minute's 0.01 kWh is due at 12:00 and takes 18 s at 2 kW; the later slivers are due
    // later, so the load may wait until 11:59:12 minus one 30 s period, not start 18 min early.
    expect(queue.choose(T0 + 2 * HOUR_MS - 2 * MIN_MS, 30_000, 0, off)).toEqual([false]);
    expect(queue.choose(T0 + 2 * HOUR_MS - 40_000, 30_000, 0, off)).toEqual([true]);
  });

  it('does not start a 2 kW load for a queue far below a period’s energy unless its deadline is due, and lets a running one finish', () => {
    // 1 Wh asked at 10:00, due at 16:00; a 450 s period at 2 kW is 0.25 kWh.
    const queue = queueOf([fed(dishwasher([], 6))], requestAt(T0, 0.001));
    queue.collect(T0 + 1_000);
    const period = 450_000;
    expect(queue.pending()).toEqual([true]);
    expect(queue.choose(T0 + 1_000, period, null, [false])).toEqual([false]);
    expect(queue.choose(T0 + 1_000, period, 1, [false])).toEqual([false]);
    // Already running (switched on for a larger job): it goes on until its queue is empty.
    expect(queue.choose(T0 + 1_000, period, null, [true])).toEqual([true]);
    // The last period before the deadline: it runs whatever the plan says.
    expect(queue.choose(T0 + 6 * HOUR_MS - period, period, 0, [false])).toEqual([true]);
    // A tenth of a period's energy (25 Wh) is worth a run.
    const larger = queueOf([fed(dishwasher([], 6))], requestAt(T0, 0.025));
    larger.collect(T0 + 1_000);
    expect(larger.choose(T0 + 1_000, period, null, [false])).toEqual([true]);
    const smaller = queueOf([fed(dishwasher([], 6))], requestAt(T0, 0.024));
    smaller.collect(T0 + 1_000);
    expect(smaller.choose(T0 + 1_000, period, 1, [false])).toEqual([false]);
    expect(queue.serve(0, period)).toBeCloseTo(0.001, 12);
    expect(queue.pending()).toEqual([false]);
    expect(queue.choose(T0 + period, period, null, [true])).toEqual([false]);
  });
});
