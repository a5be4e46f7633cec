/**
 * How a gateway starts forecasting from history it did not measure itself (the shipped data, or
 * in the evaluation the days before the split): fit (α, w) per channel on that history, then run
 * the fitted forecaster over it to fill the error-sample store. The forecaster comes back in the
 * state it reached at `toMs`, ready to keep observing.
 */
import { HOUR_MS, type HouseholdSeries } from '../data/households.ts';
import { hourIsClean } from '../data/split.ts';
import { bootstrapErrorStore, type ErrorSampleStore } from './error-store.ts';
import { channels, fitSeasonalParams, HouseholdForecaster, type Channel, type History } from './household.ts';
import type { SeasonalParams } from './seasonal.ts';

export interface Bootstrapped {
  forecaster: HouseholdForecaster;
  store: ErrorSampleStore;
  /** Fitted parameters per channel with the mean absolute error they scored on the history. */
  params: Record<Channel, SeasonalParams & { maeKw: number }>;
}

export function bootstrapFromHistory(history: History, fromMs: number, toMs: number, steps: number): Bootstrapped {
  const params = Object.fromEntries(channels.map((c) => [c, fitSeasonalParams(history, c, fromMs, toMs, steps)])) as Bootstrapped['params'];
  const forecaster = new HouseholdForecaster(params);
  const store = bootstrapErrorStore(forecaster, history, fromMs, toMs, steps);
  return { forecaster, store, params };
}

/**
 * A household file as the forecaster's history: inflexible load = load − shiftable request, PV,
 * shiftable request (`requestKw`, aligned with the series); NaN outside the file and on hours that
 * were not really measured (missing or gap-filled), so they never enter a fit or a sample.
 */
export function seriesHistory(series: HouseholdSeries, requestKw: Float64Array): History {
  return (t) => {
    if (!hourIsClean(series, t)) return { inflexibleKw: NaN, pvKw: NaN, shiftableKw: NaN };
    const i = (t - series.startMs) / HOUR_MS;
    const request = requestKw[i]!;
    return { inflexibleKw: series.loadKw[i]! - request, pvKw: series.pvKw[i]!, shiftableKw: request };
  };
}
