/**
 * The train/test split of ../shared/docs/evaluation.md: samples and fitting only from days before
 * 2016-07-01; test days from 2016-07-01 on with no flagged (copy_suspect) or missing row.
 * Days are UTC days (the data's own clock); a test day must be clean in every household
 * evaluated, so the community sum is computed on the same days for all.
 */
import { DAY_MS, HOUR_MS, type HouseholdSeries, type PriceSeries } from './households.ts';

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

/** Test days in [fromMs, lastDayMs] (from the split unless told): every household clean on that day. */
export function testDays(households: readonly HouseholdSeries[], lastDayMs: number, fromMs = splitMs): TestDays {
  const daysMs: number[] = [];
  const dropped: TestDays['dropped'] = [];
  for (let day = fromMs; day <= lastDayMs; day += DAY_MS) {
    const bad = households.find((h) => !dayIsClean(h, day));
    if (bad) dropped.push({ dayMs: day, household: bad.id });
    else daysMs.push(day);
  }
  return { daysMs, dropped };
}

/** The last day whose every hour still has a fully priced 24-h horizon: the day before the prices' last day. */
export function lastPricedDayMs(prices: PriceSeries): number {
  const pricesEndMs = prices.startMs + prices.dayAheadEurPerMwh.length * HOUR_MS;
  return Math.floor(pricesEndMs / DAY_MS) * DAY_MS - 2 * DAY_MS;
}

/** History a split needs before it: fitting and the error-sample store want a few weeks. */
const minHistoryDays = 28;

/**
 * The split of a run: `requestedMs` if given, else 2016-07-01, moved later when the data start
 * too late for that (a data set that starts after it): then the first midnight that leaves every
 * household `minHistoryDays` of history. Says which it chose.
 */
export function chooseSplit(households: readonly HouseholdSeries[], requestedMs?: number): { splitMs: number; reason: string } {
  if (requestedMs !== undefined) return { splitMs: requestedMs, reason: '--split' };
  const latestStartMs = Math.max(...households.map((h) => h.startMs));
  const earliestMs = Math.ceil(latestStartMs / DAY_MS) * DAY_MS + minHistoryDays * DAY_MS;
  if (earliestMs <= splitMs) return { splitMs, reason: 'the scenario default' };
  return { splitMs: earliestMs, reason: `the data start after the scenario's ${isoDay(splitMs)}: ${minHistoryDays} days after the latest household start` };
}

/** The last whole UTC day every household has data for. */
export function lastDataDayMs(households: readonly HouseholdSeries[]): number {
  return Math.min(...households.map((h) => Math.floor((h.startMs + h.loadKw.length * HOUR_MS) / DAY_MS) * DAY_MS - DAY_MS));
}

export function isoDay(dayMs: number): string {
  return new Date(dayMs).toISOString().slice(0, 10);
}

export interface ValidationWindow extends TestDays {
  /**
   * Where fitting and the error-sample store stop for a validation run: the first validation day,
   * so the validation days are out of sample for the forecaster's fit and for the samples, as the
   * test days are for the test run.
   */
  freezeMs: number;
}

/**
 * The validation window for choosing settings before the test: the last `count` clean days before
 * the split (`beforeMs`, 2016-07-01 unless told). It never reaches a test day; fitting and samples
 * for it stop at its first day.
 */
export function validationWindow(households: readonly HouseholdSeries[], count: number, beforeMs = splitMs): ValidationWindow {
  const daysMs: number[] = [];
  const dropped: TestDays['dropped'] = [];
  const earliestMs = Math.min(...households.map((h) => h.startMs));
  for (let day = beforeMs - DAY_MS; daysMs.length < count && day >= earliestMs; day -= DAY_MS) {
    const bad = households.find((h) => !dayIsClean(h, day));
    if (bad) dropped.unshift({ dayMs: day, household: bad.id });
    else daysMs.unshift(day);
  }
  if (daysMs.length === 0) throw new RangeError(`no clean day before ${isoDay(beforeMs)} for a validation window`);
  return { daysMs, dropped, freezeMs: daysMs[0]! };
}
