import { describe, expect, it } from 'vitest';
import { Plant, type StepCommand } from '../../src/household/plant.ts';

const t0 = Date.UTC(2016, 6, 1);
const hourMs = 3_600_000;
const command = (over: Partial<StepCommand> = {}): StepCommand => ({
  netLoadForecastKw: 1, scheduledGridKw: 1, batteryKw: 0, decisionRule: 0, shiftableKw: 0, plannedPeakKw: 11, plannedEnergyNextKwh: 5, ...over,
});

describe('the closed-loop plant and its fast loop', () => {
  it('lets the battery take β ξ of the deviation and the grid the rest', () => {
    const plant = new Plant(5, 6);
    const out = plant.step({ timeMs: t0, inflexibleKw: 3, pvKw: 0, requestKw: 0 }, command({ decisionRule: 0.5 }));
    expect(out.deviationKw).toBeCloseTo(2, 12);
    expect(out.batteryKw).toBeCloseTo(1, 12);
    expect(out.gridKw).toBeCloseTo(2, 12);
    expect(out.energyKwh).toBeCloseTo(5 - 1 / 0.95, 12);
  });

  it('clips the battery at its SoC floor, hands the rest to the grid and reports the violated rows', () => {
    const plant = new Plant(1.5, 6);
    const out = plant.step({ timeMs: t0, inflexibleKw: 6, pvKw: 0, requestKw: 0 },
      command({ batteryKw: 0, decisionRule: 1, plannedEnergyNextKwh: 1.5, plannedPeakKw: 1 }));
    expect(out.batteryKw).toBeCloseTo(0.5 * 0.95, 12);
    expect(out.energyKwh).toBeCloseTo(1, 12);
    expect(out.gridKw).toBeCloseTo(6 - 0.475, 12);
    expect(out.batteryClipped).toBe(true);
    // Row values: import g + (1−β)ξ = 1 ≤ P̄ = 1 holds; e₁ − βξ = 1.5 − 5 < 1 violates socMin; βξ = 5 ≤ 5 holds.
    expect(out.violated).toMatchObject({ import: false, socMin: true, socMax: false, discharge: false });
  });

  it('holds the import to the day peak its plan pays for, taking beyond β ξ from the battery within its limits', () => {
    // Net load 6 kW against a forecast of 1: the rule (β = 0.2) takes 1 kW, the guard at 3 kW takes 3.
    const guarded = new Plant(5, 6).step({ timeMs: t0, inflexibleKw: 6, pvKw: 0, requestKw: 0 }, command({ decisionRule: 0.2, peakGuardKw: 3 }));
    expect(guarded.batteryKw).toBeCloseTo(3, 12);
    expect(guarded.gridKw).toBeCloseTo(3, 12);
    expect(guarded.batteryClipped).toBe(false);
    // The chance rows score the plan's rule against the plan's own P̄ (11 here), whatever the guard did.
    expect(guarded.violated.import).toBe(false);
    // A planned charge gives way first; the guard never asks beyond the power limit or below the SoC floor.
    const charging = new Plant(5, 6).step({ timeMs: t0, inflexibleKw: 4, pvKw: 0, requestKw: 0 }, command({ batteryKw: -2, peakGuardKw: 3 }));
    expect(charging.batteryKw).toBeCloseTo(1, 12);
    expect(charging.gridKw).toBeCloseTo(3, 12);
    const low = new Plant(1.5, 6).step({ timeMs: t0, inflexibleKw: 9, pvKw: 0, requestKw: 0 }, command({ peakGuardKw: 3 }));
    expect(low.batteryKw).toBeCloseTo(0.5 * 0.95, 12);
    expect(low.energyKwh).toBeCloseTo(1, 12);
    // Below the guard the rule alone acts.
    const below = new Plant(5, 6).step({ timeMs: t0, inflexibleKw: 2, pvKw: 0, requestKw: 0 }, command({ decisionRule: 0.5, peakGuardKw: 3 }));
    expect(below.batteryKw).toBeCloseTo(0.5, 12);
  });

  it('gives the hour just stepped more discharge, up to the power limit and the SoC floor, with the energy it costs', () => {
    // Charging 1 kW from 5 kWh: the room is the 1 kW charge plus (5 − 1 kWh floor) × 0.95 of discharge; 2 kW more discharge 1 kW.
    const plant = new Plant(5, 6);
    const charged = plant.step({ timeMs: t0, inflexibleKw: 1, pvKw: 0, requestKw: 0 }, command({ batteryKw: -1, netLoadForecastKw: 1 }));
    expect(charged.energyKwh).toBeCloseTo(5 + 0.95, 12);
    expect(plant.dischargeRoomKw(charged)).toBeCloseTo(1 + 4 * 0.95, 12);
    const more = plant.dischargeMore(charged, 2);
    expect(more.batteryKw).toBeCloseTo(1, 12);
    expect(more.gridKw).toBeCloseTo(0, 12);
    expect(more.energyKwh).toBeCloseTo(5 - 1 / 0.95, 12);
    expect(plant.energyKwh).toBeCloseTo(more.energyKwh, 12);
    // Near the floor (1 kWh) the room is the energy above it, after losses.
    const low = new Plant(1.5, 6);
    const idle = low.step({ timeMs: t0, inflexibleKw: 0, pvKw: 0, requestKw: 0 }, command({ netLoadForecastKw: 0 }));
    expect(low.dischargeRoomKw(idle)).toBeCloseTo(0.5 * 0.95, 12);
    expect(low.dischargeMore(idle, 3).energyKwh).toBeCloseTo(1, 12);
  });

  it('queues shiftable demand and serves it by force at its deadline', () => {
    const plant = new Plant(5, 2);
    const hour = (h: number, requestKw: number) => ({ timeMs: t0 + h * hourMs, inflexibleKw: 0, pvKw: 0, requestKw });
    plant.step(hour(0, 1), command({ netLoadForecastKw: 0, scheduledGridKw: 0 }));
    expect(plant.deferredKwh).toBeCloseTo(1, 12);
    plant.step(hour(1, 0), command({ netLoadForecastKw: 0, scheduledGridKw: 0 }));
    expect(plant.dueKwh(t0 + 2 * hourMs)).toBeCloseTo(1, 12);
    const forced = plant.step(hour(2, 0), command({ netLoadForecastKw: 0, scheduledGridKw: 0 }));
    expect(forced.servedShiftableKw).toBeCloseTo(1, 12);
    // The forced energy was not scheduled: it shows up as deviation the grid takes.
    expect(forced.deviationKw).toBeCloseTo(1, 12);
    expect(forced.gridKw).toBeCloseTo(1, 12);
    expect(plant.deferredKwh).toBe(0);
  });

  it('tells the controller by which hour each queued demand must be served', () => {
    const plant = new Plant(5, 3);
    const idle = command({ netLoadForecastKw: 0, scheduledGridKw: 0 });
    plant.step({ timeMs: t0, inflexibleKw: 0, pvKw: 0, requestKw: 0.5 }, idle);
    plant.step({ timeMs: t0 + hourMs, inflexibleKw: 0, pvKw: 0, requestKw: 0.25 }, idle);
    // At 02:00 the 00:00 request is due in 1 h, the 01:00 one in 2 h; a 2-step horizon sees only the first.
    expect(plant.deadlinesKwh(t0 + 2 * hourMs, 4)).toEqual([0, 0.5, 0.25, 0]);
    expect(plant.deadlinesKwh(t0 + 2 * hourMs, 2)).toEqual([0, 0.5]);
  });
});
