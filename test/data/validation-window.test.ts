import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DAY_MS, HOUR_MS, householdIds, loadHousehold, type HouseholdSeries } from '../../src/data/households.ts';
import { dayIsClean, isoDay, splitMs, validationWindow } from '../../src/data/split.ts';

const dataDir = resolve(import.meta.dirname, '../../../shared/data');

function synthetic(id: string, startMs: number, days: number, flaggedDaysMs: number[] = []): HouseholdSeries {
  const hours = days * 24;
  const copySuspect = new Uint8Array(hours);
  for (const d of flaggedDaysMs) copySuspect[(d - startMs) / HOUR_MS + 5] = 1;
  return { id, file: id, startMs, loadKw: new Float64Array(hours).fill(0.5), pvKw: new Float64Array(hours), applianceKw: null, copySuspect };
}

describe('the validation window for choosing ρ', () => {
  it('is the last N clean days before 2016-07-01, skips a flagged day, and freezes fitting at its first day', () => {
    const startMs = splitMs - 60 * DAY_MS;
    const flagged = splitMs - 3 * DAY_MS;
    const w = validationWindow([synthetic('a', startMs, 90), synthetic('b', startMs, 90, [flagged])], 5);
    expect(w.daysMs.map(isoDay)).toEqual(['2016-06-25', '2016-06-26', '2016-06-27', '2016-06-29', '2016-06-30']);
    expect(w.dropped).toEqual([{ dayMs: flagged, household: 'b' }]);
    expect(w.freezeMs).toBe(w.daysMs[0]);
  });

  it('on the real data never contains a test day, and no fitting or sample hour lies inside it', async () => {
    const households = await Promise.all(householdIds.map((id) => loadHousehold(dataDir, id)));
    const w = validationWindow(households, 30);
    expect(w.daysMs).toHaveLength(30);
    for (const d of w.daysMs) {
      expect(d + DAY_MS).toBeLessThanOrEqual(splitMs);
      expect(d).toBeGreaterThanOrEqual(w.freezeMs);
      for (const h of households) expect(dayIsClean(h, d)).toBe(true);
    }
    expect(isoDay(w.daysMs[w.daysMs.length - 1]!)).toBe('2016-06-30');
    // The window's first day is the freeze: every hour used for fitting or samples ends before it.
    expect(w.freezeMs).toBe(Math.min(...w.daysMs));
  });

  it('can be placed before another split date, and refuses when no clean day precedes it', () => {
    const startMs = Date.UTC(2016, 0, 1);
    const h = synthetic('a', startMs, 40);
    const w = validationWindow([h], 3, Date.UTC(2016, 1, 1));
    expect(w.daysMs.map(isoDay)).toEqual(['2016-01-29', '2016-01-30', '2016-01-31']);
    expect(() => validationWindow([h], 3, startMs)).toThrow(/no clean day before 2016-01-01/);
  });
});
