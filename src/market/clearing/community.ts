/**
 * Communities of prosumers from the real data (src/data: the four Konstanz households, German
 * day-ahead prices, evaluation.md assets and tariff), one day at a time.
 * Communities of more than four derive peer i ≥ 4 from household i mod 4 on another clean day
 * within ±`spreadDays` of the community day, with its load and PV each scaled by a factor in
 * [0.8, 1.2]; day and factors come from a seeded PRNG, so (seed, size) always gives the same peers.
 * Prices are the community day's for every peer: they all buy on the same market.
 */
import { battery, grid, initialEnergyKwh } from '../../data/assets.ts';
import { DAY_MS, HOUR_MS, householdIds, loadHousehold, loadPrices, valueAt, type HouseholdSeries, type PriceSeries } from '../../data/households.ts';
import { dayIsClean } from '../../data/split.ts';
import { hourTariff, tariffParams } from '../../data/tariff.ts';
import { seededRandom } from '../../random/seeded-random.ts';
import type { MarketRules, PeerProfile } from './types.ts';

export const marketRules: MarketRules = { p2pFeeEurPerKwh: tariffParams.p2pGridFeeEurPerKwh, maxTradeKw: grid.maxImportKw };

export interface CommunityData {
  households: HouseholdSeries[];
  prices: PriceSeries;
}

export async function loadCommunityData(dataDir: string): Promise<CommunityData> {
  const [households, prices] = await Promise.all([Promise.all(householdIds.map((id) => loadHousehold(dataDir, id))), loadPrices(dataDir)]);
  return { households, prices };
}

export interface CommunityOptions {
  peers: number;
  day: string; // YYYY-MM-DD (UTC)
  slotsPerDay: 24 | 96;
  seed?: number;
  spreadDays?: number;
}

export function buildCommunity(data: CommunityData, options: CommunityOptions): PeerProfile[] {
  const dayMs = Date.parse(`${options.day}T00:00:00Z`);
  const dayAheadEurPerMwh = hours(data.prices.dayAheadEurPerMwh, data.prices.startMs, dayMs);
  if (dayAheadEurPerMwh.some(Number.isNaN)) throw new RangeError(`no day-ahead prices for ${options.day}`);
  // Seeded: derived communities must be identical run after run.
  const random = seededRandom(options.seed ?? 1);
  const spread = options.spreadDays ?? 30;
  return Array.from({ length: options.peers }, (_, i) => {
    const household = data.households[i % data.households.length]!;
    if (!dayIsClean(household, dayMs)) throw new RangeError(`${household.id} has no clean day ${options.day}`);
    const derived = i < data.households.length ? { dayMs, loadScale: 1, pvScale: 1 } : derive(household, dayMs, spread, random);
    const loadKw = hours(household.loadKw, household.startMs, derived.dayMs);
    const pvKw = hours(household.pvKw, household.startMs, derived.dayMs);
    const netLoadKw = loadKw.map((l, h) => l * derived.loadScale - pvKw[h]! * derived.pvScale);
    return prosumerProfile(`peer-${String(i).padStart(3, '0')}-${household.id}`, netLoadKw, dayAheadEurPerMwh, options.slotsPerDay);
  });
}

/** evaluation.md: dynamic tariff, 10 kWh / 5 kW / η 0.95 battery from 5 kWh, 11 kW connection. */
export function prosumerProfile(id: string, hourlyNetLoadKw: number[], dayAheadEurPerMwh: number[], slotsPerDay: 24 | 96): PeerProfile {
  const repeat = slotsPerDay / 24;
  // The data is hourly: a 15-minute day holds each hour's value over its quarter-hours (data README §1).
  const hold = (hourly: number[]) => hourly.flatMap((v) => new Array<number>(repeat).fill(v));
  const tariff = dayAheadEurPerMwh.map((price) => hourTariff(price));
  const buyEurPerKwh = hold(tariff.map((h) => h.buyEurPerKwh));
  return {
    id,
    stepHours: 24 / slotsPerDay,
    netLoadKw: hold(hourlyNetLoadKw),
    buyEurPerKwh,
    sellEurPerKwh: hold(tariff.map((h) => h.sellEurPerKwh)),
    battery: {
      minEnergyKwh: battery.minEnergyKwh,
      maxEnergyKwh: battery.maxEnergyKwh,
      maxChargeKw: battery.maxChargeKw,
      maxDischargeKw: battery.maxDischargeKw,
      chargeEfficiency: battery.chargeEfficiency,
      dischargeEfficiency: battery.dischargeEfficiency,
      initialEnergyKwh,
      terminalEurPerKwh: median(buyEurPerKwh) * battery.dischargeEfficiency,
    },
    grid,
  };
}

function derive(household: HouseholdSeries, dayMs: number, spreadDays: number, random: () => number) {
  const candidates: number[] = [];
  for (let d = -spreadDays; d <= spreadDays; d++) if (d !== 0 && dayIsClean(household, dayMs + d * DAY_MS)) candidates.push(dayMs + d * DAY_MS);
  if (candidates.length === 0) throw new RangeError(`${household.id} has no clean day within ±${spreadDays} days`);
  return { dayMs: candidates[Math.floor(random() * candidates.length)]!, loadScale: 0.8 + 0.4 * random(), pvScale: 0.8 + 0.4 * random() };
}

function hours(series: ArrayLike<number>, startMs: number, dayMs: number): number[] {
  return Array.from({ length: 24 }, (_, h) => valueAt(series, startMs, dayMs + h * HOUR_MS));
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return (sorted[Math.floor((sorted.length - 1) / 2)]! + sorted[Math.ceil((sorted.length - 1) / 2)]!) / 2;
}
