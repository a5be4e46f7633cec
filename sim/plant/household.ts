/**
 * A real household replayed by the simulator (the community run, `simulator.household` of a
 * gateway config): the plant's profile is the household's inflexible load (load − shiftable
 * request) and PV, hour by hour, each hourly mean held for its hour as in profile.ts; the
 * shiftable requests of the evaluation's rule (src/data/assets.ts shiftableRule) reach the
 * gateway through a ShiftableDemandFeed and, as the same rates, into the appliance behind the
 * relay (`relayDemand`, sim/plant/plant.ts): the appliance draws its rating while the relay is on
 * and it has energy pending, and nothing once it has none. So the household's energy is all
 * there, but the shiftable part only flows when the gateway decides, and never more of it.
 * Requests are made from `requestsFromMs` on (the simulated period's start): the feed's
 * `startMs` tells the gateway where its queue begins, so queue and appliance hold the same jobs.
 *
 * Rows flagged copy_suspect are replayed as they are: they are real measurements, only of
 * another day (../shared/data/README.md §5). A missing value (NaN) replays the same UTC hour of
 * the nearest day that has one, earlier days first, as the publisher's own gap filling does;
 * a missing load requests no shiftable energy (shiftableRule). Instants before the first or
 * after the last hour of the file hold that edge hour. The test days have no flagged or missing
 * hour, and the history before the start is never replayed, only fitted on.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HOUR_MS, parseHousehold, type HouseholdSeries } from '../../src/data/households.ts';
import { shiftableRule } from '../../src/data/assets.ts';
import type { ShiftableDemandFeed } from '../../src/records/types.ts';
import type { Profile } from './profile.ts';
import type { RelayDemand } from './plant.ts';
import { packageFile } from '../../src/package/paths.ts';

const DAY_HOURS = 24;

/** The shipped slice of the shared data (data/community/README.md), in the shared data's layout. */
export const communityDataDir = packageFile('data', 'community');

/** The board relay that serves the shiftable requests unless told otherwise (boards/sim.yaml: 2.0 kW, above every household's hourly request). */
export const defaultShiftableRelay = 'dishwasher';

export interface SimulatedHouseholdOptions {
  /** Household id: the file is `<dataDir>/buildings/<id>_hourly.csv` ('residential1', …). */
  id: string;
  /** A folder in the layout of ../shared/data (default data/community). */
  dataDir?: string;
  /** Board device id of the relay that serves the shiftable requests (default 'dishwasher'). */
  shiftableRelay?: string;
  /** No shiftable request is made before this instant (default: none is held back). */
  requestsFromMs?: number;
}

export interface SimulatedHousehold {
  id: string;
  /** Inflexible load and PV for the plant. */
  profile: Profile;
  /** Shiftable requests, for the relay `shiftableRelay` only. */
  demand: ShiftableDemandFeed;
  /** The same requests as they arrive into the appliance behind `shiftableRelay`. */
  relayDemand: RelayDemand;
  shiftableRelay: string;
  /** Highest hourly PV of the replay (kW): the simulated inverter's rating must cover it. */
  pvPeakKw: number;
  /** The hours the file covers: [startMs, endMs). */
  startMs: number;
  endMs: number;
}

export async function loadSimulatedHousehold(options: SimulatedHouseholdOptions): Promise<SimulatedHousehold> {
  const file = join(resolve(options.dataDir ?? communityDataDir), 'buildings', `${options.id}_hourly.csv`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`simulated household "${options.id}": cannot read ${file}: ${(error as Error).message}`);
  }
  return simulatedHousehold(parseHousehold(options.id, file, text), options.shiftableRelay ?? defaultShiftableRelay, options.requestsFromMs);
}

export function simulatedHousehold(series: HouseholdSeries, shiftableRelay: string, requestsFromMs = -Infinity): SimulatedHousehold {
  const { requestKw } = shiftableRule(series);
  const n = series.loadKw.length;
  const inflexibleKw = filledGaps(Float64Array.from(series.loadKw, (load, i) => load - requestKw[i]!));
  const pvKw = filledGaps(series.pvKw);
  const index = (tMs: number) => Math.min(n - 1, Math.max(0, Math.floor((tMs - series.startMs) / HOUR_MS)));
  const endMs = series.startMs + n * HOUR_MS;
  const nextHourMs = (tMs: number) => (Math.floor(tMs / HOUR_MS) + 1) * HOUR_MS;
  return {
    id: series.id,
    profile: {
      at: (tMs) => ({ loadKw: inflexibleKw[index(tMs)]!, pvKw: pvKw[index(tMs)]! }),
      nextChangeMs: nextHourMs,
    },
    demand: {
      ...(Number.isFinite(requestsFromMs) ? { startMs: requestsFromMs } : {}),
      // Each hour's request arrives evenly over the hour, so any window gets its share.
      requestedKwh(relayId, fromMs, toMs) {
        if (relayId !== shiftableRelay) return 0;
        let energyKwh = 0;
        const windowStartMs = Math.max(fromMs, requestsFromMs);
        const first = Math.max(0, Math.floor((windowStartMs - series.startMs) / HOUR_MS));
        for (let i = first; i < n; i++) {
          const hourStartMs = series.startMs + i * HOUR_MS;
          if (hourStartMs >= toMs) break;
          const overlapMs = Math.min(toMs, hourStartMs + HOUR_MS) - Math.max(windowStartMs, hourStartMs);
          if (overlapMs > 0) energyKwh += (requestKw[i]! * overlapMs) / HOUR_MS;
        }
        return energyKwh;
      },
    },
    relayDemand: {
      requestKw: (tMs) => (tMs < requestsFromMs || tMs < series.startMs || tMs >= endMs ? 0 : requestKw[index(tMs)]!),
      nextChangeMs: (tMs) => (tMs < requestsFromMs ? Math.min(requestsFromMs, nextHourMs(tMs)) : nextHourMs(tMs)),
    },
    shiftableRelay,
    pvPeakKw: pvKw.reduce((max, v) => Math.max(max, v), 0),
    startMs: series.startMs,
    endMs,
  };
}

/** Each NaN takes the value of the same hour on the nearest day that has one (earlier first); 0 if no day has. */
function filledGaps(values: Float64Array): Float64Array {
  const out = Float64Array.from(values);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isNaN(values[i]!)) continue;
    out[i] = 0;
    for (let d = DAY_HOURS; i - d >= 0 || i + d < values.length; d += DAY_HOURS) {
      const earlier = i - d >= 0 ? values[i - d]! : NaN;
      const later = i + d < values.length ? values[i + d]! : NaN;
      if (!Number.isNaN(earlier) || !Number.isNaN(later)) {
        out[i] = Number.isNaN(earlier) ? later : earlier;
        break;
      }
    }
  }
  return out;
}
