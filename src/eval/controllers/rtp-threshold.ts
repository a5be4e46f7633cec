/**
 * The RTP-threshold rule of the second source paper (formulation.md §7): with the previous day's
 * price range [RTP_min, RTP_min + Δ], charge when the price is at most RTP_min + γΔ and the load
 * is below the previous day's average, discharge (never beyond the load, so the battery does not
 * export) when the price is at least RTP_min + βΔ and the load is above it.
 * The paper's load condition is there to keep charging off the peak; charging at full power would
 * defeat it (every battery of a community charging 5 kW in the same cheap hours raises the peak),
 * so the rule charges at the power that lifts the household's import to its daily average and no
 * higher: min(P^ch, SoC room, average − load). When Δ is tiny the range is the average over the last 7 days. "Load" here is the
 * forecast net load of the hour (load − PV + shiftable served now); the rule does not shift loads.
 * Before it has seen a whole day it uses the day-ahead prices and forecast of the next 24 h.
 */
import { grid } from '../../data/assets.ts';
import { serveAllKw, type Controller } from '../controller.ts';

export interface RtpThresholdParams {
  gamma: number;
  beta: number;
  /** Below this spread (EUR/kWh) the previous day says nothing: use the 7-day average range. */
  tinySpreadEurPerKwh: number;
}

const defaultRtpParams: RtpThresholdParams = { gamma: 0.5, beta: 0.8, tinySpreadEurPerKwh: 0.005 };

interface DayRecord {
  minPrice: number;
  maxPrice: number;
  meanNetLoadKw: number;
}

export function rtpThreshold(params: RtpThresholdParams = defaultRtpParams): Controller {
  const days: DayRecord[] = [];
  let today: { prices: number[]; netLoadsKw: number[] } = { prices: [], netLoadsKw: [] };

  function reference(forwardPrices: number[], forwardNetLoadKw: number[]): DayRecord {
    if (days.length === 0) {
      return { minPrice: Math.min(...forwardPrices), maxPrice: Math.max(...forwardPrices), meanNetLoadKw: mean(forwardNetLoadKw) };
    }
    const last = days[days.length - 1]!;
    if (last.maxPrice - last.minPrice >= params.tinySpreadEurPerKwh) return last;
    const week = days.slice(-7);
    return { minPrice: mean(week.map((d) => d.minPrice)), maxPrice: mean(week.map((d) => d.maxPrice)), meanNetLoadKw: last.meanNetLoadKw };
  }

  return {
    async decide(context) {
      const { hour, energyKwh } = context;
      const battery = context.household.battery;
      const shiftableKw = serveAllKw(context);
      const netLoadForecastKw = hour.forecast.netLoadKw[0]!;
      const loadKw = netLoadForecastKw + shiftableKw;
      const price = hour.tariff.buyEurPerKwh[0]!;
      const ref = reference(hour.tariff.buyEurPerKwh, hour.forecast.netLoadKw);
      const spread = ref.maxPrice - ref.minPrice;
      let batteryKw = 0;
      if (spread >= params.tinySpreadEurPerKwh) {
        if (price <= ref.minPrice + params.gamma * spread && loadKw < ref.meanNetLoadKw) {
          batteryKw = -Math.min(battery.maxChargeKw, Math.max(0, (battery.maxEnergyKwh - energyKwh) / battery.chargeEfficiency), ref.meanNetLoadKw - loadKw);
        } else if (price >= ref.minPrice + params.beta * spread && loadKw > ref.meanNetLoadKw) {
          batteryKw = Math.min(battery.maxDischargeKw, Math.max(0, (energyKwh - battery.minEnergyKwh) * battery.dischargeEfficiency), Math.max(0, loadKw));
        }
      }
      const nextEnergy = energyKwh - (batteryKw > 0 ? batteryKw / battery.dischargeEfficiency : batteryKw * battery.chargeEfficiency);
      return {
        command: {
          netLoadForecastKw,
          scheduledGridKw: loadKw - batteryKw,
          batteryKw,
          decisionRule: 0,
          shiftableKw,
          plannedPeakKw: grid.maxImportKw,
          plannedEnergyNextKwh: nextEnergy,
        },
      };
    },
    observe(context, outcome) {
      today.prices.push(context.hour.tariff.buyEurPerKwh[0]!);
      today.netLoadsKw.push(outcome.gridKw + outcome.batteryKw);
      if (context.hourOfDay === 23) {
        days.push({ minPrice: Math.min(...today.prices), maxPrice: Math.max(...today.prices), meanNetLoadKw: mean(today.netLoadsKw) });
        if (days.length > 7) days.shift();
        today = { prices: [], netLoadsKw: [] };
      }
    },
  };
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}
