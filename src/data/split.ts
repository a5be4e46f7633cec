/**
 * The train/test split of ../shared/docs/evaluation.md: samples and fitting only from days before
 * 2016-07-01; test days from 2016-07-01 on with no flagged (copy_suspect) or missing row.
 * Days are UTC days (the data's own clock); a test day must be clean in every household
 * evaluated, so the community sum is computed on the same days for all.
 */
import { DAY_MS, HOUR_MS, type HouseholdSeries } from './households.ts';

export const splitMs = Date.UTC(2016, 6, 1);

/** An hour may be used (to fit, sample or score) only if it was really measured on that day. */
export function hourIsClean(household: HouseholdSeries, timeMs: number): boolean {
  const i = (timeMs - household.startMs) / HOUR_MS;
  if (i < 0 || i >= household.loadKw.length) return false;
  return household.copySuspect[i] === 0 && !Number.isNaN(household.loadKw[i]!) && !Number.isNaN(household.pvKw[i]!);
}

export function dayIsClean(household: HouseholdSeries, dayMs: number): boolean {
  for (let h = 0; h < 24; h++) if (!hourIsClean(household, dayMs + h * HOUR_MS)) return false;
  return true;
}

export interface TestDays {
  daysMs: number[];
  /** Days from the split on that were dropped, with the household that made them unusable. */
  dropped: { dayMs: number; household: string }[];
}

/** Test days in [splitMs, lastMs]: every household clean on that day, and a next day for the horizon. */
export function testDays(households: readonly HouseholdSeries[], lastDayMs: number): TestDays {
  const daysMs: number[] = [];
  const dropped: TestDays['dropped'] = [];
  for (let day = splitMs; day <= lastDayMs; day += DAY_MS) {
    const bad = households.find((h) => !dayIsClean(h, day));
    if (bad) dropped.push({ dayMs: day, household: bad.id });
    else daysMs.push(day);
  }
  return { daysMs, dropped };
}

export function isoDay(dayMs: number): string {
  return new Date(dayMs).toISOString().slice(0, 10);
}
