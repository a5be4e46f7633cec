/**
 * Forecaster for one hourly series (load or PV): a blend of seasonal-naive (the value at the
 * same hour of day, most recently observed — i.e. yesterday for leads up to 24 h) and
 * exponential smoothing across days of that hour-of-day's level:
 *
 *   level_h ← α·y + (1 − α)·level_h         on each observation at hour-of-day h
 *   ŷ(t)    = w·last_h(t) + (1 − w)·level_h(t)
 *
 * On a signal with a 24 h period both parts are exact from the second day on. Missing
 * observations (NaN) leave the state unchanged, so gap-fill or outages never enter it.
 */
import { HOUR_MS } from '../data/households.ts';

export interface SeasonalParams {
  /** α: weight of the newest observation in the per-hour level. */
  smoothing: number;
  /** w: weight of the seasonal-naive value against the smoothed level. */
  seasonalWeight: number;
}

/** What a forecaster uses before there is enough history to fit (α, w) on. */
export const defaultSeasonalParams: SeasonalParams = { smoothing: 0.2, seasonalWeight: 0.5 };

function hourOfDay(timeMs: number): number {
  return Math.floor(timeMs / HOUR_MS) % 24;
}

export class SeasonalForecaster {
  private readonly last = new Float64Array(24).fill(NaN);
  private readonly level = new Float64Array(24).fill(NaN);

  constructor(readonly params: SeasonalParams = defaultSeasonalParams) {
    for (const [name, v] of Object.entries(params)) {
      if (!(v >= 0 && v <= 1)) throw new RangeError(`seasonal forecaster: ${name} must be in [0, 1], got ${v}`);
    }
  }

  observe(timeMs: number, valueKw: number): void {
    if (Number.isNaN(valueKw)) return;
    const h = hourOfDay(timeMs);
    this.last[h] = valueKw;
    const level = this.level[h]!;
    this.level[h] = Number.isNaN(level) ? valueKw : this.params.smoothing * valueKw + (1 - this.params.smoothing) * level;
  }

  /** Forecasts for the hours starting at `startMs`, `startMs + 1 h`, … (`steps` of them). */
  forecast(startMs: number, steps: number): number[] {
    const out: number[] = [];
    for (let k = 0; k < steps; k++) {
      const h = hourOfDay(startMs + k * HOUR_MS);
      const last = this.last[h]!;
      const level = this.level[h]!;
      if (Number.isNaN(last)) out.push(Number.isNaN(level) ? 0 : level);
      else out.push(this.params.seasonalWeight * last + (1 - this.params.seasonalWeight) * (Number.isNaN(level) ? last : level));
    }
    return out;
  }
}
