/**
 * How a gateway starts forecasting from history it did not measure itself (the shipped data, or
 * in the evaluation the days before the split): fit (α, w) per channel on that history, then run
 * the fitted forecaster over it to fill the error-sample store. The forecaster comes back in the
 * state it reached at `toMs`, ready to keep observing.
 */
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
