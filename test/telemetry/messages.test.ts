/**
 * The derived telemetry values (state message, status source) on snapshots around a solved plan.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../src/optimizer/index.ts';
import { createStatusSource } from '../../src/telemetry/index.ts';
import { planGridKw, stateMessage } from '../../src/telemetry/messages.ts';
import { hourRecord, PLAN_START_MS, safetyEvent, snapshotAt, solvedPlan } from './fixtures.ts';

const MS_PER_HOUR = 3_600_000;
let plan: Plan;
beforeAll(async () => {
  plan = await solvedPlan({ stepHours: [1, 1, 1, 1] });
});

describe('the state message', () => {
  it('has every plan field null before the first solve, and after the plan’s horizon', () => {
    const before = stateMessage(snapshotAt(plan, PLAN_START_MS, { plan: null }), null);
    expect(before.planNow).toEqual({ gridKw: null, batteryKw: null, energyKwh: null });
    expect(before.nextHour.gridKw).toBeNull();
    expect(before.lastSafety.reason).toBe('none');
    const after = stateMessage(snapshotAt(plan, PLAN_START_MS + 5 * MS_PER_HOUR), null);
    expect(after.planNow.gridKw).toBeNull();
  });

  it('averages the next hour over the part the plan still covers', () => {
    const lastHalfHour = stateMessage(snapshotAt(plan, PLAN_START_MS + 3.5 * MS_PER_HOUR), null);
    expect(lastHalfHour.nextHour.gridKw).toBeCloseTo(planGridKw(plan)[3]!, 3);
  });

  it('counts only committed trades whose slot starts on the UTC day of the snapshot', () => {
    const snapshot = snapshotAt(plan, PLAN_START_MS);
    const [first] = snapshot.trades;
    const trades = [
      first!,
      { ...first!, tradeId: 'doubtful', state: 'in-doubt' },
      { ...first!, tradeId: 'aborted', state: 'aborted' },
      { ...first!, tradeId: 'tomorrow', slotStartMs: first!.slotStartMs + 24 * MS_PER_HOUR, slotEndMs: first!.slotEndMs + 24 * MS_PER_HOUR },
      { ...first!, tradeId: 'sold', powerKw: -2 },
    ];
    const state = stateMessage({ ...snapshot, trades }, safetyEvent(PLAN_START_MS));
    expect(state.tradesToday.count).toBe(2);
    expect(state.tradesToday.energyKwh).toBeCloseTo(Math.abs(first!.powerKw) + 2, 3);
    expect(state.lastSafety.reason).toBe('battery-unavailable');
  });
});

describe('the status source', () => {
  it('keeps one measurement per spacing, and gives each reader only what is newer than it has seen', () => {
    const source = createStatusSource({ measurementSpacingMs: 300_000 });
    for (let atMs = PLAN_START_MS; atMs < PLAN_START_MS + MS_PER_HOUR; atMs += 60_000) source.publishSnapshot(snapshotAt(plan, atMs));
    const all = source.since(0);
    expect(all.measurements.map((m) => m.atMs - PLAN_START_MS)).toEqual(Array.from({ length: 12 }, (_, i) => i * 300_000));
    expect(all.current?.state.atMs).toBe(PLAN_START_MS + 59 * 60_000);

    const nothingNew = source.since(all.seq);
    expect(nothingNew.current).toBeUndefined();
    expect(nothingNew.measurements).toEqual([]);

    source.publishHour(hourRecord(PLAN_START_MS));
    source.publishSafetyEvent(safetyEvent(PLAN_START_MS + MS_PER_HOUR));
    const next = source.since(all.seq);
    expect(next.hours).toEqual([hourRecord(PLAN_START_MS)]);
    expect(next.safetyEvents).toEqual([safetyEvent(PLAN_START_MS + MS_PER_HOUR)]);
    // The state carries the last safety reason, so it is sent again.
    expect(next.current?.state.lastSafety.reason).toBe('battery-unavailable');
  });

  it('records the steps of a replaced plan that were in force, up to the new plan’s start', async () => {
    const source = createStatusSource();
    source.publishSnapshot(snapshotAt(plan, PLAN_START_MS));
    const replacement = await solvedPlan({ startMs: PLAN_START_MS + 1.5 * MS_PER_HOUR, stepHours: [1, 1, 1, 1] });
    source.publishSnapshot(snapshotAt(replacement, replacement.startMs));
    const grid = planGridKw(plan);
    expect(source.since(0).plannedHistory).toEqual([
      expect.objectContaining({ startMs: PLAN_START_MS, endMs: PLAN_START_MS + MS_PER_HOUR, gridKw: grid[0] }),
      expect.objectContaining({ startMs: PLAN_START_MS + MS_PER_HOUR, endMs: replacement.startMs, gridKw: grid[1] }),
    ]);
  });
});
