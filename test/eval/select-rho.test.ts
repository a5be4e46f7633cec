import { describe, expect, it } from 'vitest';
import { DAY_MS, HOUR_MS, type HouseholdSeries, type PriceSeries } from '../../src/data/households.ts';
import { splitMs, validationWindow } from '../../src/data/split.ts';
import { buildHouseholdCase } from '../../src/eval/scenario.ts';
import { clopperPearsonUpper, selectRho } from '../../src/eval/select-rho.ts';

describe('the one-sided Clopper–Pearson bound', () => {
  it('matches the beta quantile (scipy beta.ppf) and the closed form with no event', () => {
    expect(clopperPearsonUpper(2, 120, 0.8)).toBeCloseTo(0.035321, 5); // beta.ppf(0.8, 3, 118)
    expect(clopperPearsonUpper(3, 120, 0.8)).toBeCloseTo(0.045478, 5); // beta.ppf(0.8, 4, 117)
    expect(clopperPearsonUpper(5, 100, 0.95)).toBeCloseTo(0.102253, 5); // beta.ppf(0.95, 6, 95)
    expect(clopperPearsonUpper(0, 60, 0.9)).toBeCloseTo(1 - 0.1 ** (1 / 60), 9);
    expect(clopperPearsonUpper(7, 7, 0.8)).toBe(1);
  });

  it('refuses counts that are not counts', () => {
    expect(() => clopperPearsonUpper(5, 4, 0.8)).toThrow(RangeError);
    expect(() => clopperPearsonUpper(1, 10, 1)).toThrow(RangeError);
  });
});

describe('choosing ρ on a validation table', () => {
  // 30 days × 4 households; at 80 % the bound stays ≤ 5 % up to 3 violated household-days.
  const row = (radiusKw: number, violatedDays: number) => ({ radiusKw, controller: radiusKw === 0 ? 'saa' : `dro-${radiusKw}`, violatedDays, householdDays: 120 });

  it('takes the smallest ρ whose upper bound is within ε, not the first whose point estimate is', () => {
    const table = [row(0.3, 0), row(0, 30), row(0.1, 3), row(0.03, 5), row(0.01, 18)];
    const s = selectRho(table, 0.05, 0.8);
    expect(s.selectedRhoKw).toBe(0.1);
    expect(s.qualified).toBe(true);
    expect(s.rows.map((r) => r.radiusKw)).toEqual([0, 0.01, 0.03, 0.1, 0.3]);
    // ρ = 0.03 has a point estimate of 4.2 % ≤ ε, but its bound (> 5 %) rejects it.
    expect(s.rows[2]!.jointViolation).toBeLessThan(0.05);
    expect(s.rows[2]!.qualifies).toBe(false);
    // A lower confidence is a smaller margin: the point-estimate-like rule would take 0.03.
    expect(selectRho(table, 0.05, 0.5).selectedRhoKw).toBe(0.03);
  });

  it('falls back to the largest ρ of the sweep when none qualifies, and says so', () => {
    const s = selectRho([row(0.01, 20), row(0.1, 12), row(0.3, 8)], 0.05, 0.8);
    expect(s.selectedRhoKw).toBe(0.3);
    expect(s.qualified).toBe(false);
  });

  it('refuses an empty table', () => {
    expect(() => selectRho([], 0.05, 0.8)).toThrow(/no SAA\/DRO controller/);
  });
});

describe('a validation run is out of sample', () => {
  it('fits and samples only before the validation window, even though the test split is later', () => {
    // A daily pattern, then 100 kW more load from the window's first day on: anything learnt from
    // validation days would show up as errors of about 100 kW in the samples or the fit.
    const startMs = splitMs - 60 * DAY_MS;
    const hours = 62 * 24;
    const series = (jumpFromMs: number): HouseholdSeries => {
      const loadKw = new Float64Array(hours);
      for (let i = 0; i < hours; i++) loadKw[i] = 0.5 + 0.4 * Math.sin((2 * Math.PI * (i % 24)) / 24) + (startMs + i * HOUR_MS >= jumpFromMs ? 100 : 0);
      return { id: 's', file: 's', startMs, loadKw, pvKw: new Float64Array(hours), applianceKw: null, copySuspect: new Uint8Array(hours) };
    };
    const window = validationWindow([series(Infinity)], 5);
    const h = series(window.freezeMs);
    const prices: PriceSeries = { file: 'p', startMs, dayAheadEurPerMwh: new Float64Array(hours + 48).fill(40) };
    const c = buildHouseholdCase(h, prices, window.daysMs, { steps: 24, sampleCount: 10, freezeMs: window.freezeMs });
    expect(c.days.map((d) => d.dayMs)).toEqual(window.daysMs);
    for (const day of c.days) for (const hour of day.hours) for (const sample of hour.samplesKw) for (const e of sample) expect(Math.abs(e)).toBeLessThan(1);
    expect(c.forecastParams.inflexibleKw.maeKw).toBeLessThan(0.5);
    // Evaluating a day before the freeze would put it in the fitting period: refused.
    expect(() => buildHouseholdCase(h, prices, [window.freezeMs - DAY_MS], { steps: 24, sampleCount: 10, freezeMs: window.freezeMs })).toThrow(RangeError);
  });
});
