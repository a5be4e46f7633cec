/**
 * The gateway's tariff: the evaluation's formula (src/data/tariff.ts) with the parameters of
 * gateway.yaml, on the day-ahead prices of the configured source (src/prices), read afresh at
 * every call so a reloaded file or a new poll takes effect at the next plan. An hour the source
 * does not know is priced at the same hour of its last known day (up to a week back), else at
 * `fallbackDayAheadEurPerMwh`: a gateway whose price feed stopped keeps planning on its last
 * known prices rather than stopping. Planning on anything but known prices is reported, once per
 * change of what is known.
 */
import type { GatewayConfig } from '../config/gateway-config.ts';
import { DAY_MS, HOUR_MS } from '../data/households.ts';
import { hourTariff, stepTariff } from '../data/tariff.ts';
import { hourIso, loadPriceFile, type PriceSource } from '../prices/index.ts';
import type { RuntimeLog } from './log.ts';
import type { TariffSource } from './types.ts';

export interface TariffSourceOptions {
  /** Default: the config's price file read once (or none). */
  prices?: PriceSource;
  log?: RuntimeLog;
}

export function createTariffSource(config: GatewayConfig['tariff'], options: TariffSourceOptions = {}): TariffSource {
  const fixed = config.pricesFile === undefined ? null : loadPriceFile(config.pricesFile);
  const current = options.prices ? () => options.prices!.current() : () => fixed;
  const log = options.log ?? (() => undefined);
  let reported = '';

  /** The day-ahead price of an hour, counting in `counts` where it came from. */
  const dayAheadOf = (prices: ReturnType<typeof current>, counts: Counts) => (hourStartMs: number): number => {
    const price = prices?.at(hourStartMs) ?? null;
    counts[price?.from ?? 'flat']++;
    return price?.eurPerMwh ?? config.fallbackDayAheadEurPerMwh;
  };

  /** One line when a plan starts (or stops) using prices the source does not know, not one per plan. */
  const report = (prices: ReturnType<typeof current>, startMs: number, counts: Counts): void => {
    const range = prices?.range() ?? null;
    const known = range ? `known until ${hourIso(range.lastHourMs + HOUR_MS)}` : 'no prices known';
    const state = counts.repeated + counts.flat === 0 ? '' : `${known}|${counts.flat > 0}`;
    if (state === reported) return;
    reported = state;
    if (state === '') return log('info', `prices: planning on known prices again (${known})`);
    const nowKnown = prices?.at(Math.floor(startMs / HOUR_MS) * HOUR_MS)?.from === 'known';
    log(nowKnown ? 'info' : 'warn', `prices: ${known}; of the ${counts.known + counts.repeated + counts.flat} hours planned from ${hourIso(Math.floor(startMs / HOUR_MS) * HOUR_MS)}, ${counts.repeated} repeat the last known day and ${counts.flat} are at the flat ${config.fallbackDayAheadEurPerMwh} EUR/MWh`);
  };

  return {
    hour: (hourStartMs) => hourTariff(dayAheadOf(current(), noCounts())(Math.floor(hourStartMs / HOUR_MS) * HOUR_MS), config),
    window: (startMs, stepHours, peakTodayKw = 0) => {
      const prices = current();
      const counts = noCounts();
      const arrays = stepTariff(dayAheadOf(prices, counts), startMs, stepHours, config);
      report(prices, startMs, counts);
      // The demand charge is per kW of each day's peak, as the evaluation bills and plans it: a step
      // belongs to the UTC day it starts in, and today's peak so far is paid for already (importing
      // up to it again costs nothing more).
      const dayStartMs = Math.floor(startMs / DAY_MS) * DAY_MS;
      let stepStartMs = startMs;
      const peakDayOfStep = stepHours.map((h) => {
        const day = Math.floor((stepStartMs - dayStartMs) / DAY_MS);
        stepStartMs += h * HOUR_MS;
        return day;
      });
      const days = (peakDayOfStep.at(-1) ?? 0) + 1;
      return { ...arrays, peakEurPerKw: config.demandChargeEurPerKwDay, peakDayOfStep, peakSoFarKw: Array.from({ length: days }, (_, d) => (d === 0 ? Math.max(0, peakTodayKw) : 0)) };
    },
    p2pGridFeeEurPerKwh: config.p2pGridFeeEurPerKwh,
  };
}

/** Hours priced from the source's own prices, from its last known day, and at the flat fallback. */
interface Counts {
  known: number;
  repeated: number;
  flat: number;
}

const noCounts = (): Counts => ({ known: 0, repeated: 0, flat: 0 });
