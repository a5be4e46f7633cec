/**
 * One household prepared for the closed loop: shiftable rule, fitted forecaster, the error-sample
 * bank built on the days before the split, and for every test hour the forecast and samples the
 * gateway would have had at that hour (they do not depend on the controller, so they are computed
 * once and shared by all controllers).
 */
import { battery as defaultBattery, batteryOf, shiftableRule } from '../data/assets.ts';
import { HOUR_MS, type HouseholdSeries, type PriceSeries } from '../data/households.ts';
import { splitMs } from '../data/split.ts';
import { tariffWindow } from '../data/tariff.ts';
import { bootstrapFromHistory, seriesHistory, type Bootstrapped } from '../forecast/bootstrap.ts';
import type { ErrorTrajectory } from '../forecast/error-store.ts';
import type { HouseholdForecast } from '../forecast/household.ts';
import type { BatteryParams } from '../optimizer/types.ts';
import type { RealisedHour } from '../household/plant.ts';

export interface HourCase {
  realised: RealisedHour;
  forecast: HouseholdForecast;
  /** ξ̂ⁱ for a solve at this hour (I × T). */
  samplesKw: number[][];
  tariff: ReturnType<typeof tariffWindow>;
}

export interface HouseholdCase {
  id: string;
  battery: BatteryParams;
  /** Where the battery came from: the building's metadata row or the scenario's default. */
  batterySource: string;
  /** SoC on the first evaluated day (half the capacity). */
  initialEnergyKwh: number;
  shiftableKind: 'appliances' | 'share-of-load';
  maxDelayHours: number;
  /** S^max given to the optimizer: the most shiftable energy requested in any maxDelayHours window before the split. */
  maxDeferredKwh: number;
  forecastParams: Bootstrapped['params'];
  /** Error trajectories in the sample bank (all from before the freeze). */
  sampleBankSize: number;
  days: { dayMs: number; hours: HourCase[] }[];
  /** Realised hours from `startMs` (perfect foresight only). */
  realisedFrom(startMs: number, steps: number): RealisedHour[];
  /** The tariff of `steps` hours from `startMs` (perfect foresight's long look-ahead). */
  tariffFrom(startMs: number, steps: number): ReturnType<typeof tariffWindow>;
  /** Where the household's data or the prices end: no horizon reaches beyond. */
  horizonEndMs: number;
  /** The error trajectories a solve at `atMs` may use, most similar day first (the community joins them by day). */
  samplesAt(atMs: number, count: number): ErrorTrajectory[];
}

export interface ScenarioOptions {
  steps: number;
  sampleCount: number;
  /** Fitting and the error-sample store use only hours before this (default the split, 2016-07-01; a validation run passes its window's first day). */
  freezeMs?: number;
  /** The household's battery (default: the scenario's). */
  battery?: ReturnType<typeof batteryOf>;
}

export function buildHouseholdCase(series: HouseholdSeries, prices: PriceSeries, testDaysMs: readonly number[], options: ScenarioOptions): HouseholdCase {
  const rule = shiftableRule(series);
  const index = (t: number) => (t - series.startMs) / HOUR_MS;
  const history = seriesHistory(series, rule.requestKw);
  const realised = (t: number): RealisedHour => {
    const i = index(t);
    return { timeMs: t, inflexibleKw: series.loadKw[i]! - rule.requestKw[i]!, pvKw: series.pvKw[i]!, requestKw: rule.requestKw[i]! };
  };

  const freezeMs = options.freezeMs ?? splitMs;
  if (testDaysMs.some((d) => d < freezeMs)) throw new RangeError('an evaluated day lies before the end of the fitting period');
  const { forecaster, store, params: fitted } = bootstrapFromHistory(history, series.startMs, freezeMs, options.steps);

  let maxDeferredKwh = 0;
  for (let t = series.startMs; t + rule.maxDelayHours * HOUR_MS <= freezeMs; t += HOUR_MS) {
    let windowKwh = 0;
    for (let k = 0; k < rule.maxDelayHours; k++) windowKwh += rule.requestKw[index(t + k * HOUR_MS)]!;
    maxDeferredKwh = Math.max(maxDeferredKwh, windowKwh);
  }

  const days: HouseholdCase['days'] = [];
  const testHours = new Set(testDaysMs.flatMap((d) => Array.from({ length: 24 }, (_, h) => d + h * HOUR_MS)));
  const lastMs = Math.max(...testDaysMs) + 24 * HOUR_MS;
  // The forecaster keeps observing after the freeze, as a running gateway does; nothing is fitted there.
  for (let t = freezeMs; t < lastMs; t += HOUR_MS) {
    if (testHours.has(t)) {
      const dayMs = t - (t % (24 * HOUR_MS));
      if (days.length === 0 || days[days.length - 1]!.dayMs !== dayMs) days.push({ dayMs, hours: [] });
      days[days.length - 1]!.hours.push({
        realised: realised(t),
        forecast: forecaster.forecast(t, options.steps),
        samplesKw: store.samples(t, options.sampleCount).map((s) => s.errorKw),
        tariff: tariffWindow(prices, t, options.steps),
      });
    }
    forecaster.observe(t, history(t));
  }
  const own = options.battery ?? { battery: defaultBattery, source: 'scenario default' };
  return {
    id: series.id,
    battery: own.battery,
    batterySource: own.source,
    initialEnergyKwh: own.battery.capacityKwh / 2,
    shiftableKind: rule.kind,
    maxDelayHours: rule.maxDelayHours,
    maxDeferredKwh,
    forecastParams: fitted,
    sampleBankSize: store.size,
    days,
    realisedFrom: (startMs, steps) => Array.from({ length: steps }, (_, k) => realised(startMs + k * HOUR_MS)),
    tariffFrom: (startMs, steps) => tariffWindow(prices, startMs, steps),
    samplesAt: (atMs, count) => store.samples(atMs, count),
    horizonEndMs: Math.min(series.startMs + series.loadKw.length * HOUR_MS, prices.startMs + prices.dayAheadEurPerMwh.length * HOUR_MS),
  };
}
