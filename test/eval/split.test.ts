import { describe, expect, it } from 'vitest';
import { DAY_MS, HOUR_MS, type HouseholdSeries, type PriceSeries } from '../../src/data/households.ts';
import { splitMs } from '../../src/data/split.ts';
import { buildHouseholdCase } from '../../src/eval/scenario.ts';

// 60 days of a daily pattern before the split, then 3 test days in which the household's load is
// 100 kW higher: anything learnt from test days would show up as errors of about 100 kW.
const startMs = splitMs - 60 * DAY_MS;
const hours = 63 * 24 + 24;
const pattern = (i: number) => 0.5 + 0.4 * Math.sin((2 * Math.PI * (i % 24)) / 24) + 0.05 * Math.sin(i / 37);

function household(): HouseholdSeries {
  const loadKw = new Float64Array(hours);
  for (let i = 0; i < hours; i++) loadKw[i] = pattern(i) + (startMs + i * HOUR_MS >= splitMs ? 100 : 0);
  return { id: 'synthetic', file: 'synthetic', startMs, loadKw, pvKw: new Float64Array(hours), applianceKw: null, copySuspect: new Uint8Array(hours) };
}

const prices: PriceSeries = { file: 'p', startMs, dayAheadEurPerMwh: new Float64Array(hours + 48).fill(40) };

describe('the train/test split', () => {
  it('builds samples and fits only on days before 2016-07-01, whatever the test days hold', () => {
    const testDaysMs = [splitMs, splitMs + DAY_MS, splitMs + 2 * DAY_MS];
    const c = buildHouseholdCase(household(), prices, testDaysMs, { steps: 24, sampleCount: 10 });
    expect(c.days.map((d) => d.dayMs)).toEqual(testDaysMs);
    expect(c.sampleBankSize).toBeGreaterThan(0);
    for (const day of c.days) {
      for (const hour of day.hours) {
        expect(hour.samplesKw).toHaveLength(10);
        for (const sample of hour.samplesKw) for (const e of sample) expect(Math.abs(e)).toBeLessThan(1);
      }
    }
    // The fitted forecaster scored well on the training days: the jump after the split never entered it.
    expect(c.forecastParams.inflexibleKw.maeKw).toBeLessThan(0.5);
    // The forecaster itself does see measured test hours as they pass (a running gateway would), so by
    // day 2 its forecast has caught up with the jump: observing is not fitting.
    expect(c.days[1]!.hours[0]!.forecast.inflexibleKw[0]).toBeGreaterThan(50);
  });
});
