import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { safeBatteryOf, SafetyConditions, SETPOINT_RESOLUTION_KW, superviseBatteryKw, type BatteryGuard } from '../../src/runtime/supervisor.ts';
import type { SafetyReason } from '../../src/runtime/types.ts';

const guard: BatteryGuard = { minEnergyKwh: 1, maxEnergyKwh: 10, guardBandKwh: 0.5, chargeEfficiency: 0.95, dischargeEfficiency: 0.95, fastPeriodS: 5 };
const HOUR_S = 3600;

const anyKw = fc.oneof(fc.double({ min: -50, max: 50, noNaN: true }), fc.constantFrom(Number.NaN, Infinity, -Infinity, 0, -0));
const guards = fc.record({
  minEnergyKwh: fc.double({ min: 0, max: 5, noNaN: true }),
  maxEnergyKwh: fc.double({ min: 5, max: 20, noNaN: true }),
  guardBandKwh: fc.double({ min: 0, max: 2, noNaN: true }),
  chargeEfficiency: fc.double({ min: 0.5, max: 1, noNaN: true }),
  dischargeEfficiency: fc.double({ min: 0.5, max: 1, noNaN: true }),
  fastPeriodS: fc.double({ min: 0.5, max: 60, noNaN: true }),
});
const lives = fc.record({
  energyKwh: fc.oneof(fc.double({ min: -1, max: 25, noNaN: true }), fc.constant(Number.NaN)),
  maxChargeKw: anyKw,
  maxDischargeKw: anyKw,
});

describe('the safety supervisor', () => {
  it('never commands beyond the live BMS limits or across the SoC guard band, whatever it is asked', () => {
    fc.assert(
      fc.property(anyKw, lives, guards, (requestedKw, live, g) => {
        const { commandedKw } = superviseBatteryKw(requestedKw, live, g);
        expect(Number.isFinite(commandedKw)).toBe(true);
        const bmsDischarge = Number.isFinite(live.maxDischargeKw) ? Math.max(0, live.maxDischargeKw) : 0;
        const bmsCharge = Number.isFinite(live.maxChargeKw) ? Math.max(0, live.maxChargeKw) : 0;
        expect(commandedKw).toBeLessThanOrEqual(bmsDischarge);
        expect(-commandedKw).toBeLessThanOrEqual(bmsCharge);
        // Never more than asked, never the other way.
        if (Number.isFinite(requestedKw)) expect(Math.abs(commandedKw)).toBeLessThanOrEqual(Math.abs(requestedKw));
        expect(commandedKw * (Number.isFinite(requestedKw) ? requestedKw : 0)).toBeGreaterThanOrEqual(0);
        const lowKwh = g.minEnergyKwh + g.guardBandKwh;
        const highKwh = g.maxEnergyKwh - g.guardBandKwh;
        if (!Number.isFinite(live.energyKwh)) expect(commandedKw).toBe(0);
        if (live.energyKwh <= lowKwh) expect(commandedKw).toBeLessThanOrEqual(0);
        if (live.energyKwh >= highKwh) expect(commandedKw).toBeGreaterThanOrEqual(0);
        // One fast period at the command cannot carry the SoC across the band it started inside.
        const periodH = g.fastPeriodS / HOUR_S;
        const afterKwh = live.energyKwh - (commandedKw > 0 ? commandedKw / g.dischargeEfficiency : commandedKw * g.chargeEfficiency) * periodH;
        if (live.energyKwh >= lowKwh) expect(afterKwh).toBeGreaterThanOrEqual(lowKwh - 1e-9);
        if (live.energyKwh <= highKwh) expect(afterKwh).toBeLessThanOrEqual(highKwh + 1e-9);
      }),
      { numRuns: 5000 },
    );
  });

  it('passes a request within every limit through, to the setpoint resolution', () => {
    fc.assert(
      fc.property(fc.double({ min: -4, max: 4, noNaN: true }), (requestedKw) => {
        const { commandedKw, clip } = superviseBatteryKw(requestedKw, { energyKwh: 5, maxChargeKw: 5, maxDischargeKw: 5 }, guard);
        expect(clip).toBeNull();
        expect(Math.abs(commandedKw - requestedKw)).toBeLessThan(SETPOINT_RESOLUTION_KW);
      }),
    );
  });

  it('names the BMS when its live limit cuts a request, and the guard band when the SoC does', () => {
    const bms = superviseBatteryKw(-4, { energyKwh: 5, maxChargeKw: 1.5, maxDischargeKw: 5 }, guard);
    expect(bms.commandedKw).toBe(-1.5);
    expect(bms.clip).toMatchObject({ reason: 'bms-limit', detail: 'charge 4.00 kW asked; the BMS allows 1.50 kW' });

    // 2 Wh above E^min + band: one 5 s period may draw at most 0.002 × 0.95 / (5/3600) ≈ 1.37 kW.
    const nearEmpty = superviseBatteryKw(4, { energyKwh: 1.5 + 0.002, maxChargeKw: 5, maxDischargeKw: 5 }, guard);
    expect(nearEmpty.commandedKw).toBeCloseTo(1.36, 2);
    expect(nearEmpty.clip?.reason).toBe('soc-guard');
    const atGuard = superviseBatteryKw(4, { energyKwh: 1.5, maxChargeKw: 5, maxDischargeKw: 5 }, guard);
    expect(atGuard.commandedKw).toBe(0);
    expect(atGuard.clip?.detail).toMatch(/guard 1\.500 kWh \(E\^min 1\.00 \+ band 0\.50\)/);
    // Charging from below the band is what gets the battery back: allowed.
    expect(superviseBatteryKw(-2, { energyKwh: 1.2, maxChargeKw: 5, maxDischargeKw: 5 }, guard)).toEqual({ commandedKw: -2, clip: null });
    const full = superviseBatteryKw(-2, { energyKwh: 9.6, maxChargeKw: 5, maxDischargeKw: 5 }, guard);
    expect(full).toMatchObject({ commandedKw: 0, clip: { reason: 'soc-guard' } });
  });
});

describe('the safety conditions', () => {
  it('log a condition once when it starts and once when it ends, however many periods it lasts', () => {
    const conditions = new SafetyConditions();
    const observe = (atMs: number, entries: [SafetyReason, string][]) => conditions.update(atMs, new Map(entries));
    expect(observe(0, [])).toEqual([]);
    expect(observe(1, [['meter-unavailable', 'meter: no answer']])).toEqual([{ atMs: 1, reason: 'meter-unavailable', action: 'enter', detail: 'meter: no answer' }]);
    expect(observe(2, [['meter-unavailable', 'meter: backing off']])).toEqual([]);
    expect(observe(3, [['meter-unavailable', 'x'], ['bms-limit', 'charge 4 kW asked']])).toEqual([{ atMs: 3, reason: 'bms-limit', action: 'clip', detail: 'charge 4 kW asked' }]);
    expect(conditions.reasons()).toEqual(['meter-unavailable', 'bms-limit']);
    expect(observe(4, [])).toEqual([
      { atMs: 4, reason: 'meter-unavailable', action: 'clear', detail: 'ended (was: meter: no answer)' },
      { atMs: 4, reason: 'bms-limit', action: 'clear', detail: 'ended (was: charge 4 kW asked)' },
    ]);
    expect(conditions.reasons()).toEqual([]);
  });

  it('put the battery to idle without its meter or itself, to self-consumption for the others, and leave clips in plan mode', () => {
    expect(safeBatteryOf([])).toBeNull();
    expect(safeBatteryOf(['bms-limit', 'soc-guard'])).toBeNull();
    for (const reason of ['optimizer-failed', 'plan-stale', 'broker-lost', 'relay-failed'] as const) expect(safeBatteryOf([reason, 'bms-limit'])).toBe('self-consumption');
    expect(safeBatteryOf(['plan-stale', 'meter-unavailable'])).toBe('idle');
    expect(safeBatteryOf(['battery-unavailable', 'broker-lost'])).toBe('idle');
  });
});
