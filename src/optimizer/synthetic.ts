/**
 * A plausible household instance (10 kWh battery, 5 kWp PV, evening load peak, time-of-use prices,
 * forecast errors that grow with PV and load) as a pure function of the clock hour, so a receding
 * horizon is just a later start hour. Used by the optimizer benchmark and tests, not by the runtime.
 */
import { seededRandom } from '../random/seeded-random.ts';
import type { ChanceFamily, ChanceMethod, ProblemInput } from './types.ts';

export interface SyntheticOptions {
  stepHours: number[];
  samples: number;
  /** Clock hour (may exceed 24) at which step 0 starts. */
  startHour?: number;
  seed?: number;
  peers?: number;
  radiusKw?: number;
  method?: ChanceMethod;
  epsilon?: Partial<Record<ChanceFamily, number>>;
  initialEnergyKwh?: number;
  shiftable?: boolean;
  peakEurPerKw?: number;
}


function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

const bump = (h: number, centre: number, width: number): number => Math.exp(-0.5 * ((((h - centre + 36) % 24) - 12) / width) ** 2);
const householdLoadKw = (h: number): number => 0.35 + 1.2 * bump(h, 7.5, 1) + 1.8 * bump(h, 19, 1.5);
export const pvKw = (h: number): number => 4.5 * Math.max(0, Math.sin((Math.PI * (((h % 24) + 24) % 24 - 6)) / 13));
const buyPriceEurPerKwh = (h: number): number => 0.24 + 0.12 * bump(h, 19, 2) + 0.05 * bump(h, 8, 1.5) - 0.06 * bump(h, 13, 2);

export function syntheticInput(options: SyntheticOptions): ProblemInput {
  const random = seededRandom(options.seed ?? 1);
  const stepHours = options.stepHours;
  const mid: number[] = [];
  let clock = options.startHour ?? 0;
  for (const dt of stepHours) {
    mid.push(clock + dt / 2);
    clock += dt;
  }
  const load = mid.map(householdLoadKw);
  const pv = mid.map(pvKw);
  const buy = mid.map(buyPriceEurPerKwh);
  const errorSamplesKw = Array.from({ length: options.samples }, () => {
    let previous = 0;
    return mid.map((_, t) => {
      // AR(1) errors whose spread grows with what is being forecast.
      previous = 0.6 * previous + 0.8 * gaussian(random);
      return previous * (0.15 + 0.12 * load[t]! + 0.15 * pv[t]!);
    });
  });
  const shiftable = options.shiftable ?? true;
  const peers = options.peers ?? 0;
  return {
    stepHours,
    netLoadForecastKw: load.map((l, t) => l - pv[t]!),
    errorSamplesKw,
    tariff: {
      buyEurPerKwh: buy,
      sellEurPerKwh: buy.map(() => 0.08),
      realtimeBuyEurPerKwh: buy.map((p) => p * 1.25),
      realtimeSellEurPerKwh: buy.map(() => 0.05),
      ...(options.peakEurPerKw !== undefined ? { peakEurPerKw: options.peakEurPerKw } : {}),
    },
    battery: {
      capacityKwh: 10,
      minEnergyKwh: 1,
      maxEnergyKwh: 9.5,
      maxChargeKw: 4,
      maxDischargeKw: 4,
      chargeEfficiency: 0.95,
      dischargeEfficiency: 0.95,
    },
    ...(shiftable
      ? {
          shiftable: {
            desiredKw: mid.map((h) => 1.5 * bump(h, 18, 1)),
            minKw: mid.map(() => 0),
            maxKw: mid.map(() => 2),
            maxDeferredKwh: 3,
          },
        }
      : {}),
    ...(peers > 0
      ? {
          peers: Array.from({ length: peers }, (_, m) => ({
            peerId: `peer${m + 1}`,
            priceEurPerKwh: buy.map((p) => p - 0.03 + 0.01 * m),
            maxKw: 2,
            committedKw: mid.map((_, t) => (t < 2 ? 0.5 : null)),
          })),
        }
      : {}),
    grid: { maxImportKw: 12, maxExportKw: 8 },
    initial: { energyKwh: options.initialEnergyKwh ?? 5, deferredKwh: 0 },
    chance: {
      radiusKw: options.radiusKw ?? 0.05,
      method: options.method ?? 'joint',
      epsilon: options.epsilon ?? { import: 0.05, socMin: 0.05, socMax: 0.05 },
    },
    weights: { batteryWearEurPerKw2h: 0.005, deferralEurPerKwh2: 0.05, scheduleDeviationEurPerKw2: 0.01 },
  };
}

/** Eight 15-minute steps, then hourly to 24 h ahead (T = 30): the runtime's move blocking. */
export const MOVE_BLOCKED_STEP_HOURS: number[] = [...new Array<number>(8).fill(0.25), ...new Array<number>(22).fill(1)];
