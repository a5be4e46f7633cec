/**
 * Grid KPIs of an import series, as the CityLearn challenge scores a district: average daily peak,
 * period peak, daily PAR averaged over days, whole-period PAR, ramping and 1 − load factor.
 * Whole-period PAR is one hour's maximum over the period's mean: it is reported, but the daily
 * figures are the ones to judge by (in summer self-consumption drives the mean import towards
 * zero and the whole-period PAR loses its meaning).
 */

export interface GridKpis {
  days: number;
  /** Mean over days of the day's highest hourly import (kW). */
  avgDailyPeakKw: number;
  /** Highest hourly import of the period (kW). */
  peakKw: number;
  /** Mean over days of (day peak / day mean import); days without import are left out. */
  parMean: number;
  /** Period peak / period mean import. */
  periodPar: number;
  /** Σ |G_t − G_{t−1}| over consecutive hours of the signed exchange (kW). */
  rampingKw: number;
  /** Mean over days of 1 − (day mean / day peak import); days without import are left out. */
  oneMinusLoadFactor: number;
  meanImportKw: number;
}

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / Math.max(values.length, 1);

/**
 * `dayExchangeKw[d]` holds the signed hourly exchange of day d (kW, + import): import is its
 * positive part. Days are consecutive in the list, so ramping runs across day boundaries too.
 */
export function gridKpis(dayExchangeKw: readonly (readonly number[])[]): GridKpis {
  const dayImports = dayExchangeKw.map((day) => day.map((g) => Math.max(g, 0)));
  const peaks = dayImports.map((day) => Math.max(0, ...day));
  const importingDays = dayImports.map((day, d) => ({ peak: peaks[d]!, mean: mean(day) })).filter((d) => d.peak > 0);
  const all = dayImports.flat();
  const exchange = dayExchangeKw.flat();
  let rampingKw = 0;
  for (let t = 1; t < exchange.length; t++) rampingKw += Math.abs(exchange[t]! - exchange[t - 1]!);
  const peakKw = Math.max(0, ...all);
  const meanImportKw = mean(all);
  return {
    days: dayExchangeKw.length,
    avgDailyPeakKw: mean(peaks),
    peakKw,
    parMean: importingDays.length > 0 ? mean(importingDays.map((d) => d.peak / d.mean)) : NaN,
    periodPar: meanImportKw > 0 ? peakKw / meanImportKw : NaN,
    rampingKw,
    oneMinusLoadFactor: importingDays.length > 0 ? mean(importingDays.map((d) => 1 - d.mean / d.peak)) : NaN,
    meanImportKw,
  };
}

/** Calendar quarter of a UTC day, e.g. "2016-Q3". */
export function quarterOf(dayMs: number): string {
  const date = new Date(dayMs);
  return `${date.getUTCFullYear()}-Q${Math.floor(date.getUTCMonth() / 3) + 1}`;
}
