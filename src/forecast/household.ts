/**
 * A household's forecast: inflexible load, PV and shiftable demand, each by its own seasonal
 * forecaster, combined into the net-load forecast μ = L̂ − V̂ the optimizer takes (the shiftable
 * demand is planned separately, so it is not in μ).
 */
import { HOUR_MS } from '../data/households.ts';
import { SeasonalForecaster, type SeasonalParams } from './seasonal.ts';

export type Channel = 'inflexibleKw' | 'pvKw' | 'shiftableKw';
export const channels: readonly Channel[] = ['inflexibleKw', 'pvKw', 'shiftableKw'];

/** One hour's measurement; NaN where the hour must not be used (missing or gap-filled). */
export type HourMeasurement = Record<Channel, number>;

export interface HouseholdForecast extends Record<Channel, number[]> {
  netLoadKw: number[];
}

export class HouseholdForecaster {
  private readonly byChannel: Record<Channel, SeasonalForecaster>;

  constructor(readonly params: Record<Channel, SeasonalParams>) {
    this.byChannel = {
      inflexibleKw: new SeasonalForecaster(params.inflexibleKw),
      pvKw: new SeasonalForecaster(params.pvKw),
      shiftableKw: new SeasonalForecaster(params.shiftableKw),
    };
  }

  observe(timeMs: number, measured: HourMeasurement): void {
    for (const c of channels) this.byChannel[c].observe(timeMs, measured[c]);
  }

  forecast(startMs: number, steps: number): HouseholdForecast {
    const inflexibleKw = this.byChannel.inflexibleKw.forecast(startMs, steps);
    const pvKw = this.byChannel.pvKw.forecast(startMs, steps);
    const shiftableKw = this.byChannel.shiftableKw.forecast(startMs, steps);
    return { inflexibleKw, pvKw, shiftableKw, netLoadKw: inflexibleKw.map((l, k) => l - pvKw[k]!) };
  }
}

/** A household's measured history as a function of time (NaN: not usable). */
export type History = (timeMs: number) => HourMeasurement;

const smoothingGrid = [0.05, 0.1, 0.2, 0.3, 0.5];
const weightGrid = [0, 0.25, 0.5, 0.75, 1];
/** φ > 0 tried after (α, w) are fitted with φ = 0. */
const persistenceGrid = [0.3, 0.5, 0.7, 0.8, 0.9];

/**
 * Picks (α, w) per channel by grid search on the mean absolute error over all leads
 * 0..steps−1 of forecasts issued every hour in [fromMs, toMs), then φ for the fitted (α, w) (φ
 * moves the short leads only, so a joint grid would cost six times the passes for the same
 * choice). φ = 0 (the first stage) stays unless a φ > 0 scores better: the correction is never
 * worse on the history than none.
 * Callers pass toMs ≤ the split, so nothing is fitted on test days.
 */
export function fitSeasonalParams(history: History, channel: Channel, fromMs: number, toMs: number, steps: number): SeasonalParams & { maeKw: number } {
  const score = (params: SeasonalParams): SeasonalParams & { maeKw: number } => ({ ...params, maeKw: meanAbsoluteError(params, history, channel, fromMs, toMs, steps) });
  const better = (a: SeasonalParams & { maeKw: number }, b: SeasonalParams & { maeKw: number }) => (b.maeKw < a.maeKw ? b : a);
  let best: SeasonalParams & { maeKw: number } = { smoothing: smoothingGrid[0]!, seasonalWeight: weightGrid[0]!, residualPersistence: 0, maeKw: Infinity };
  for (const smoothing of smoothingGrid) {
    for (const seasonalWeight of weightGrid) best = better(best, score({ smoothing, seasonalWeight, residualPersistence: 0 }));
  }
  for (const residualPersistence of persistenceGrid) best = better(best, score({ ...best, residualPersistence }));
  return best;
}

function meanAbsoluteError(params: SeasonalParams, history: History, channel: Channel, fromMs: number, toMs: number, steps: number): number {
  const forecaster = new SeasonalForecaster(params);
  let errorSum = 0;
  let count = 0;
  // The first week only warms the state up.
  const scoreFromMs = fromMs + 7 * 24 * HOUR_MS;
  for (let t = fromMs; t < toMs; t += HOUR_MS) {
    if (t >= scoreFromMs && t + steps * HOUR_MS <= toMs) {
      const predicted = forecaster.forecast(t, steps);
      for (let k = 0; k < steps; k++) {
        const actual = history(t + k * HOUR_MS)[channel];
        if (!Number.isNaN(actual)) {
          errorSum += Math.abs(actual - predicted[k]!);
          count++;
        }
      }
    }
    forecaster.observe(t, history(t)[channel]);
  }
  return count > 0 ? errorSum / count : Infinity;
}
