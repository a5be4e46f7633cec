/**
 * The forecaster's own past errors, by lead time: each entry is the trajectory
 * ξ̂(k) = realised net load(t0 + k) − forecast issued at t0 for t0 + k, k = 0..T−1.
 * The optimizer's samples ξ̂ⁱ are I such trajectories issued at the same hour of day as the
 * solve (so lead k means the same clock hour in every sample), from the most similar days:
 * the nearest day of year (seasons matter for PV and heat pumps), ties to the most recent.
 */
import { DAY_MS, HOUR_MS } from '../data/households.ts';
import { HouseholdForecaster, type History } from './household.ts';

export interface ErrorTrajectory {
  issuedMs: number;
  /** Error at lead k (kW), k = 0..T−1. */
  errorKw: number[];
}

function dayOfYearDistance(aMs: number, bMs: number): number {
  const days = Math.abs(Math.round((aMs - bMs) / DAY_MS)) % 365;
  return Math.min(days, 365 - days);
}

export class ErrorSampleStore {
  private readonly byHourOfDay: ErrorTrajectory[][] = Array.from({ length: 24 }, () => []);

  constructor(readonly steps: number) {}

  add(trajectory: ErrorTrajectory): void {
    if (trajectory.errorKw.length !== this.steps) {
      throw new RangeError(`error trajectory has ${trajectory.errorKw.length} leads, the store keeps ${this.steps}`);
    }
    this.byHourOfDay[Math.floor(trajectory.issuedMs / HOUR_MS) % 24]!.push(trajectory);
  }

  get size(): number {
    return this.byHourOfDay.reduce((n, list) => n + list.length, 0);
  }

  /** Only trajectories fully realised before `atMs` are eligible, so a sample never peeks ahead. */
  samples(atMs: number, count: number): ErrorTrajectory[] {
    const eligible = this.eligible(atMs);
    eligible.sort((a, b) => dayOfYearDistance(a.issuedMs, atMs) - dayOfYearDistance(b.issuedMs, atMs) || b.issuedMs - a.issuedMs);
    return eligible.slice(0, count);
  }

  /**
   * The trajectories issued at `issuedMs` (days another gateway named, so that the community's
   * samples are joint: the same past days for every household), one per named day, in order. A day
   * this store lacks (or may not use at `atMs`) is replaced by the eligible trajectory issued
   * nearest to it that is neither named nor used already (ties: the more recent), so the
   * household's own error distribution is kept though that sample's correlation with the others'
   * is not; when every eligible trajectory is used, the nearest is used again. Empty: none is
   * eligible at all.
   */
  onDays(atMs: number, issuedMs: readonly number[]): ErrorTrajectory[] {
    const eligible = this.eligible(atMs);
    if (eligible.length === 0) return [];
    const byIssue = new Map(eligible.map((s) => [s.issuedMs, s]));
    const used = new Set(issuedMs.filter((ms) => byIssue.has(ms)));
    return issuedMs.map((day) => {
      const own = byIssue.get(day);
      if (own) return own;
      const nearest = (pool: ErrorTrajectory[]) => pool.reduce((best, s) => (Math.abs(s.issuedMs - day) < Math.abs(best.issuedMs - day) || (Math.abs(s.issuedMs - day) === Math.abs(best.issuedMs - day) && s.issuedMs > best.issuedMs) ? s : best));
      const unused = eligible.filter((s) => !used.has(s.issuedMs));
      const substitute = nearest(unused.length > 0 ? unused : eligible);
      used.add(substitute.issuedMs);
      return substitute;
    });
  }

  private eligible(atMs: number): ErrorTrajectory[] {
    return this.byHourOfDay[Math.floor(atMs / HOUR_MS) % 24]!.filter((s) => s.issuedMs + this.steps * HOUR_MS <= atMs);
  }
}

/**
 * Runs the forecaster over [fromMs, toMs) as a gateway would, and stores the error trajectory of
 * every forecast whose whole horizon was measured (no missing or gap-filled hour) before toMs.
 * A new gateway does this on the shipped data; the evaluation does it on the days before the split.
 */
export function bootstrapErrorStore(forecaster: HouseholdForecaster, history: History, fromMs: number, toMs: number, steps: number): ErrorSampleStore {
  const store = new ErrorSampleStore(steps);
  for (let t = fromMs; t < toMs; t += HOUR_MS) {
    if (t + steps * HOUR_MS <= toMs) {
      const predicted = forecaster.forecast(t, steps).netLoadKw;
      const errorKw: number[] = [];
      for (let k = 0; k < steps; k++) {
        const m = history(t + k * HOUR_MS);
        errorKw.push(m.inflexibleKw - m.pvKw - predicted[k]!);
      }
      if (errorKw.every((e) => !Number.isNaN(e))) store.add({ issuedMs: t, errorKw });
    }
    forecaster.observe(t, history(t));
  }
  return store;
}
