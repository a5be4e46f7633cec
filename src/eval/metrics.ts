/**
 * The evaluation's metrics (../shared/docs/evaluation.md): cost by term, peak import, PAR,
 * violation probability per chance-constraint family and joint, solve times and fallbacks.
 */
import { tariffParams, type HourTariff } from '../data/tariff.ts';
import type { ChanceFamily } from '../optimizer/types.ts';
import type { SolveRecord } from './controller.ts';
import type { StepOutcome } from '../household/plant.ts';

export const families: readonly ChanceFamily[] = ['import', 'export', 'discharge', 'charge', 'socMin', 'socMax'];

export interface CostBreakdown {
  energy: number;
  realtime: number;
  demandCharge: number;
  batteryWear: number;
  p2p: number;
  /**
   * −(final − initial SoC) × the value of stored energy: a controller that ends the test with an
   * emptier battery has spent energy it did not pay for (and one that ends fuller has paid for
   * energy it did not use), which would otherwise bias short runs and the once-a-day plans.
   */
  storedEnergy: number;
  total: number;
}

export function emptyCost(): CostBreakdown {
  return { energy: 0, realtime: 0, demandCharge: 0, batteryWear: 0, p2p: 0, storedEnergy: 0, total: 0 };
}

/** Stored energy is valued like the optimizer's terminal value: median buy price of the test hours × η^d. */
export function storedEnergyValueEurPerKwh(buyEurPerKwh: readonly number[], dischargeEfficiency: number): number {
  return percentile(buyEurPerKwh, 50) * dischargeEfficiency;
}

/**
 * Cost of one hour (Δt = 1 h, so kW = kWh): the schedule is settled at the day-ahead tariff and
 * the realised deviation q = G − g at π⁺ (more import) or π⁻ (less), as in formulation.md §5.
 */
export function hourCost(outcome: Pick<StepOutcome, 'gridKw' | 'scheduledGridKw' | 'batteryKw'>, tariff: HourTariff, batteryWearEurPerKw2h: number): CostBreakdown {
  const g = outcome.scheduledGridKw;
  const energy = tariff.buyEurPerKwh * Math.max(g, 0) - tariff.sellEurPerKwh * Math.max(-g, 0);
  const q = outcome.gridKw - g;
  const realtime = Math.max(tariff.realtimeBuyEurPerKwh * q, tariff.realtimeSellEurPerKwh * q);
  const batteryWear = batteryWearEurPerKw2h * outcome.batteryKw ** 2;
  return { energy, realtime, demandCharge: 0, batteryWear, p2p: 0, storedEnergy: 0, total: energy + realtime + batteryWear };
}

/** The daily demand charge on the day's peak import (kW). */
export function demandCharge(dayGridKw: readonly number[]): number {
  return tariffParams.demandChargeEurPerKwDay * Math.max(0, ...dayGridKw);
}

export function addCost(into: CostBreakdown, add: CostBreakdown): void {
  for (const key of Object.keys(into) as (keyof CostBreakdown)[]) into[key] += add[key];
}

/** Peak-to-average ratio of hourly grid import (export counts as zero import). */
export function peakToAverage(gridKw: readonly number[]): { peakImportKw: number; meanImportKw: number; par: number } {
  const imports = gridKw.map((g) => Math.max(g, 0));
  const peakImportKw = Math.max(0, ...imports);
  const meanImportKw = imports.reduce((a, b) => a + b, 0) / Math.max(imports.length, 1);
  return { peakImportKw, meanImportKw, par: meanImportKw > 0 ? peakImportKw / meanImportKw : NaN };
}

export interface ViolationRates {
  days: number;
  /** Fraction of days with any violated row of the family. */
  perFamily: Record<ChanceFamily, number>;
  /** Fraction of days with any violated row of any of the `jointOver` families. */
  joint: number;
  jointOver: ChanceFamily[];
}

/** `days[d]` holds the step outcomes of day d; a day counts once however many rows it violated. */
export function violationRates(days: readonly (readonly Pick<StepOutcome, 'violated'>[])[], jointOver: readonly ChanceFamily[]): ViolationRates {
  const count = (test: (o: Pick<StepOutcome, 'violated'>) => boolean) => days.filter((day) => day.some(test)).length / Math.max(days.length, 1);
  const perFamily = Object.fromEntries(families.map((f) => [f, count((o) => o.violated[f])])) as Record<ChanceFamily, number>;
  return { days: days.length, perFamily, joint: count((o) => jointOver.some((f) => o.violated[f])), jointOver: [...jointOver] };
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

export interface SolveSummary {
  solves: number;
  medianMs: number;
  p95Ms: number;
  /** Solves that did not give a plan, by status. */
  failuresByStatus: Record<string, number>;
  /** Fallbacks used, by kind. */
  fallbacks: { shiftedPlan: number; safeRule: number; total: number };
  /** Solves that threw instead of returning a typed failure (must be 0). */
  unhandled: number;
  /** First failure messages, to show what went wrong. */
  examples: string[];
}

export function summariseSolves(records: readonly SolveRecord[]): SolveSummary {
  const failuresByStatus: Record<string, number> = {};
  const fallbacks = { shiftedPlan: 0, safeRule: 0, total: 0 };
  const examples: string[] = [];
  for (const r of records) {
    if (r.status !== 'optimal') failuresByStatus[r.status] = (failuresByStatus[r.status] ?? 0) + 1;
    if (r.fallback === 'shifted-plan') fallbacks.shiftedPlan++;
    if (r.fallback === 'safe-rule') fallbacks.safeRule++;
    if (r.fallback) fallbacks.total++;
    if (r.message && examples.length < 3 && !examples.includes(r.message)) examples.push(r.message);
  }
  const times = records.map((r) => r.solveMs);
  return {
    solves: records.length,
    medianMs: percentile(times, 50),
    p95Ms: percentile(times, 95),
    failuresByStatus,
    fallbacks,
    unhandled: records.filter((r) => r.unhandled).length,
    examples,
  };
}
