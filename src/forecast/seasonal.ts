/**
 * Forecaster for one hourly series (load or PV): a blend of seasonal-naive (the value at the
 * same hour of day, most recently observed — i.e. yesterday for leads up to 24 h) and
 * exponential smoothing across days of that hour-of-day's level, corrected by the persistence of
 * the latest hour's error:
 *
 *   level_h ← α·y + (1 − α)·level_h         on each observation at hour-of-day h
 *   s(t)    = w·last_h(t) + (1 − w)·level_h(t)
 *   r       = y(t₀) − s(t₀)                  the newest observation's miss (t₀ its hour)
 *   ŷ(t)    = s(t) + φ^((t − t₀)/1 h)·r
 *
 * A cloudy afternoon or a cold evening lasts longer than an hour, so the seasonal profile's miss
 * at t₀ says much about t₀ + 1 h and little about t₀ + 12 h: φ ∈ [0, 1) lets it fade by lead
 * (φ = 0 is the plain seasonal forecast). The series are loads and PV: the carried miss never
 * takes a forecast below zero.
 *
 * On a signal with a 24 h period every part is exact from the second day on (r = 0). Missing
 * observations (NaN) leave the state unchanged, so gap-fill or outages never enter it; the miss
 * of the last real observation keeps fading across them.
 */
import { HOUR_MS } from '../data/households.ts';

export interface SeasonalParams {
  /** α: weight of the newest observation in the per-hour level. */
  smoothing: number;
  /** w: weight of the seasonal-naive value against the smoothed level. */
  seasonalWeight: number;
  /** φ: how much of the newest hour's miss carries to the next hour (φ^k to k hours on). */
  residualPersistence: number;
}

/** What a forecaster uses before there is enough history to fit (α, w, φ) on. */
export const defaultSeasonalParams: SeasonalParams = { smoothing: 0.2, seasonalWeight: 0.5, residualPersistence: 0 };

function hourOfDay(timeMs: number): number {
  return Math.floor(timeMs / HOUR_MS) % 24;
}

export class SeasonalForecaster {
  private readonly last = new Float64Array(24).fill(NaN);
  private readonly level = new Float64Array(24).fill(NaN);
  private missKw = 0;
  private missAtMs = -Infinity;

  constructor(readonly params: SeasonalParams = defaultSeasonalParams) {
    for (const [name, v] of Object.entries(params)) {
      if (!(v >= 0 && v <= 1)) throw new RangeError(`seasonal forecaster: ${name} must be in [0, 1], got ${v}`);
    }
  }

  observe(timeMs: number, valueKw: number): void {
    if (Number.isNaN(valueKw)) return;
    const h = hourOfDay(timeMs);
    const expected = this.seasonal(h);
    this.missKw = Number.isNaN(expected) ? 0 : valueKw - expected;
    this.missAtMs = timeMs;
    this.last[h] = valueKw;
    const level = this.level[h]!;
    this.level[h] = Number.isNaN(level) ? valueKw : this.params.smoothing * valueKw + (1 - this.params.smoothing) * level;
  }

  /** Forecasts for the hours starting at `startMs`, `startMs + 1 h`, … (`steps` of them). */
  forecast(startMs: number, steps: number): number[] {
    const out: number[] = [];
    const phi = this.params.residualPersistence;
    for (let k = 0; k < steps; k++) {
      const atMs = startMs + k * HOUR_MS;
      const seasonal = this.seasonal(hourOfDay(atMs));
      const leadHours = (atMs - this.missAtMs) / HOUR_MS;
      const carried = phi > 0 && leadHours >= 1 ? phi ** leadHours * this.missKw : 0;
      // The carried miss never takes a forecast below zero (nor below a seasonal value already under it).
      out.push(Number.isNaN(seasonal) ? 0 : seasonal + Math.max(carried, Math.min(0, -seasonal)));
    }
    return out;
  }

  /** s at hour of day h from the state alone (NaN before any observation of h). */
  private seasonal(h: number): number {
    const last = this.last[h]!;
    const level = this.level[h]!;
    if (Number.isNaN(last)) return level;
    return this.params.seasonalWeight * last + (1 - this.params.seasonalWeight) * (Number.isNaN(level) ? last : level);
  }
}
