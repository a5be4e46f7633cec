import { describe, expect, it } from 'vitest';
import { demandCharge, hourCost, peakToAverage, percentile, summariseSolves, violationRates } from '../../src/eval/metrics.ts';
import type { StepOutcome } from '../../src/household/plant.ts';

const none = { import: false, export: false, discharge: false, charge: false, socMin: false, socMax: false };
const hour = (violated: Partial<StepOutcome['violated']> = {}) => ({ violated: { ...none, ...violated } });

describe('evaluation metrics', () => {
  it('computes PAR as peak over mean import, exports counting as no import', () => {
    // Imports 1, 3, 0 (export), 4: mean 2, peak 4.
    expect(peakToAverage([1, 3, -2, 4])).toEqual({ peakImportKw: 4, meanImportKw: 2, par: 2 });
    expect(peakToAverage([-1, -1]).par).toBeNaN();
  });

  it('counts a day once, however many rows it violated, per family and jointly', () => {
    const days = [
      [hour(), hour({ import: true }), hour({ import: true })],
      [hour({ socMin: true }), hour()],
      [hour(), hour()],
      [hour({ export: true })],
    ];
    const rates = violationRates(days, ['import', 'socMin', 'socMax']);
    expect(rates.days).toBe(4);
    expect(rates.perFamily.import).toBe(0.25);
    expect(rates.perFamily.socMin).toBe(0.25);
    expect(rates.perFamily.export).toBe(0.25);
    // export is not one of the joint families: days 1 and 2 only.
    expect(rates.joint).toBe(0.5);
  });

  it('settles the schedule at the day-ahead tariff and the deviation at the real-time prices', () => {
    const tariff = { buyEurPerKwh: 0.3, sellEurPerKwh: 0.08, realtimeBuyEurPerKwh: 0.4, realtimeSellEurPerKwh: 0.04 };
    const outcome = (scheduledGridKw: number, gridKw: number, batteryKw: number) => ({ scheduledGridKw, gridKw, batteryKw }) as StepOutcome;
    // Scheduled 2 kW import, realised 3: 2 × 0.3 + 1 × 0.4; battery 2 kW at 0.01 €/kW²h wears 0.04.
    const c = hourCost(outcome(2, 3, 2), tariff, 0.01);
    expect(c.energy).toBeCloseTo(0.6, 12);
    expect(c.realtime).toBeCloseTo(0.4, 12);
    expect(c.batteryWear).toBeCloseTo(0.04, 12);
    expect(c.total).toBeCloseTo(1.04, 12);
    // Scheduled 1 kW export, realised 2 kW export: earns 0.08 + 0.04.
    const e = hourCost(outcome(-1, -2, 0), tariff, 0.01);
    expect(e.energy).toBeCloseTo(-0.08, 12);
    expect(e.realtime).toBeCloseTo(-0.04, 12);
  });

  it('charges the demand charge on the day peak import only', () => {
    expect(demandCharge([1, 3.5, -6])).toBeCloseTo(1.75, 12);
    expect(demandCharge([-1, -2])).toBe(0);
  });

  it('summarises solve times and fallbacks, counting unhandled failures apart', () => {
    const s = summariseSolves([
      { solveMs: 10, status: 'optimal', fallback: null, unhandled: false },
      { solveMs: 30, status: 'infeasible', fallback: 'shifted-plan', unhandled: false, message: 'row 3' },
      { solveMs: 20, status: 'error', fallback: 'safe-rule', unhandled: true, message: 'boom' },
    ]);
    expect(s.medianMs).toBe(20);
    expect(s.failuresByStatus).toEqual({ infeasible: 1, error: 1 });
    expect(s.fallbacks).toEqual({ shiftedPlan: 1, safeRule: 1, total: 2 });
    expect(s.unhandled).toBe(1);
    expect(percentile([1, 2, 3, 4, 5], 95)).toBeCloseTo(4.8, 12);
  });
});
