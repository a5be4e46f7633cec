/**
 * The gateway's tariff: the evaluation's formula (src/data/tariff.ts) with the parameters of
 * gateway.yaml, on day-ahead prices from a CSV in the shared data's format. Hours the file does not
 * cover — before it, after it, or skipped in it — are priced at `fallbackDayAheadEurPerMwh`, so a
 * gateway whose price feed stopped keeps planning on a flat price rather than stopping.
 */
import { readFileSync } from 'node:fs';
import type { GatewayConfig } from '../config/gateway-config.ts';
import { HOUR_MS, parsePrices, valueAt, type PriceSeries } from '../data/households.ts';
import { hourTariff, stepTariff } from '../data/tariff.ts';
import type { TariffSource } from './types.ts';

export function createTariffSource(config: GatewayConfig['tariff']): TariffSource {
  const prices: PriceSeries | null = config.pricesFile === undefined ? null : parsePrices(config.pricesFile, readText(config.pricesFile), { allowGaps: true });
  const dayAheadEurPerMwh = (hourStartMs: number): number => {
    const price = prices === null ? NaN : valueAt(prices.dayAheadEurPerMwh, prices.startMs, hourStartMs);
    return Number.isNaN(price) ? config.fallbackDayAheadEurPerMwh : price;
  };
  return {
    hour: (hourStartMs) => hourTariff(dayAheadEurPerMwh(Math.floor(hourStartMs / HOUR_MS) * HOUR_MS), config),
    window: (startMs, stepHours) => ({
      ...stepTariff(dayAheadEurPerMwh, startMs, stepHours, config),
      // The demand charge is per kW of daily peak: a horizon shorter (longer) than a day carries
      // that share (multiple) of it, so a 24 h horizon prices the peak as the evaluation does.
      peakEurPerKw: (config.demandChargeEurPerKwDay * stepHours.reduce((sum, h) => sum + h, 0)) / 24,
    }),
    p2pGridFeeEurPerKwh: config.p2pGridFeeEurPerKwh,
  };
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read the day-ahead price file ${file} (tariff.pricesFile): ${(error as Error).message}`);
  }
}
