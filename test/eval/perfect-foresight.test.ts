/**
 * The perfect-foresight bound is the optimum of the metered bill: on a tiny instance (one day, a
 * small battery, no shiftable load) it matches an independent brute force — dynamic programming
 * over a fine SoC grid for every cap on the day's peak import — and never loses to it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { BatteryParams } from '../../src/optimizer/types.ts';
import { createOptimizer } from '../../src/optimizer/index.ts';
import { defaultOptimizerSettings } from '../../src/eval/controllers/optimizer.ts';
import { perfectForesight } from '../../src/eval/controllers/perfect-foresight.ts';
import { storedEnergyValueEurPerKwh } from '../../src/eval/metrics.ts';
import { runController } from '../../src/eval/run.ts';
import type { HourCase, HouseholdCase } from '../../src/eval/scenario.ts';

const hourMs = 3_600_000;
const dayMs = Date.UTC(2016, 7, 1);
const wear = defaultOptimizerSettings.weights.batteryWearEurPerKw2h;
const demandEurPerKwDay = 0.5;
const sellEurPerKwh = 0.08;
const battery: BatteryParams = { capacityKwh: 2, minEnergyKwh: 0.2, maxEnergyKwh: 2, maxChargeKw: 1, maxDischargeKw: 1, chargeEfficiency: 0.95, dischargeEfficiency: 0.95 };
const loadKw = Array.from({ length: 24 }, (_, h) => 0.4 + (h >= 7 && h <= 8 ? 1 : 0) + (h >= 18 && h <= 21 ? 1.6 : 0));
const pvKw = Array.from({ length: 24 }, (_, h) => Math.max(0, 2.5 * Math.sin((Math.PI * (h - 6)) / 13)));
const buyEurPerKwh = Array.from({ length: 24 }, (_, h) => 0.25 + (h >= 17 && h <= 21 ? 0.12 : 0) - (h <= 5 ? 0.06 : 0));

function household(): HouseholdCase {
  const window = (from: number, values: number[], steps: number) => Array.from({ length: steps }, (_, k) => values[(from + k) % 24]!);
  const tariffFrom = (startMs: number, steps: number) => {
    const h0 = (startMs - dayMs) / hourMs;
    const buy = window(h0, buyEurPerKwh, steps);
    return { buyEurPerKwh: buy, sellEurPerKwh: buy.map(() => sellEurPerKwh), realtimeBuyEurPerKwh: buy.map((p) => p + 0.1), realtimeSellEurPerKwh: buy.map(() => sellEurPerKwh - 0.04) };
  };
  const realised = (t: number) => ({ timeMs: t, inflexibleKw: loadKw[(t - dayMs) / hourMs]!, pvKw: pvKw[(t - dayMs) / hourMs]!, requestKw: 0 });
  const hours: HourCase[] = loadKw.map((_, h) => {
    const t = dayMs + h * hourMs;
    const zeros = new Array<number>(24).fill(0);
    return { realised: realised(t), forecast: { netLoadKw: zeros, inflexibleKw: zeros, pvKw: zeros, shiftableKw: zeros }, samplesKw: [zeros], tariff: tariffFrom(t, 24) };
  });
  return {
    id: 'tiny', battery, batterySource: 'test', initialEnergyKwh: 1, shiftableKind: 'share-of-load', maxDelayHours: 4, maxDeferredKwh: 0,
    forecastParams: {} as HouseholdCase['forecastParams'], sampleBankSize: 1, days: [{ dayMs, hours }],
    realisedFrom: (startMs, steps) => Array.from({ length: steps }, (_, k) => realised(startMs + k * hourMs)),
    tariffFrom, horizonEndMs: dayMs + 24 * hourMs, samplesAt: () => [],
  };
}

/** min over SoC paths on a grid of `stepKwh` of the day's bill, for every peak cap on a grid; the peak charge added. */
function bruteForceBill(stepKwh: number): number {
  const levels = Math.round((battery.maxEnergyKwh - battery.minEnergyKwh) / stepKwh);
  const energyOf = (i: number) => battery.minEnergyKwh + i * stepKwh;
  const value = storedEnergyValueEurPerKwh(buyEurPerKwh, battery.dischargeEfficiency);
  const start = Math.round((1 - battery.minEnergyKwh) / stepKwh);
  let best = Infinity;
  for (let capKw = 0; capKw <= 4; capKw += 0.02) {
    let cost = new Array<number>(levels + 1).fill(Infinity);
    cost[start] = 0;
    for (let h = 0; h < 24; h++) {
      const next = new Array<number>(levels + 1).fill(Infinity);
      for (let i = 0; i <= levels; i++) {
        if (cost[i] === Infinity) continue;
        for (let j = 0; j <= levels; j++) {
          const deltaKwh = energyOf(j) - energyOf(i);
          // + discharge: the battery power that moves the SoC by deltaKwh in one hour.
          const batteryKw = deltaKwh < 0 ? -deltaKwh * battery.dischargeEfficiency : -deltaKwh / battery.chargeEfficiency;
          if (batteryKw > battery.maxDischargeKw + 1e-9 || -batteryKw > battery.maxChargeKw + 1e-9) continue;
          const gridKw = loadKw[h]! - pvKw[h]! - batteryKw;
          if (gridKw > capKw + 1e-9) continue;
          const c = cost[i]! + buyEurPerKwh[h]! * Math.max(gridKw, 0) - sellEurPerKwh * Math.max(-gridKw, 0) + wear * batteryKw ** 2;
          if (c < next[j]!) next[j] = c;
        }
      }
      cost = next;
    }
    for (let j = 0; j <= levels; j++) {
      if (cost[j] === Infinity) continue;
      best = Math.min(best, cost[j]! + demandEurPerKwDay * capKw - (energyOf(j) - 1) * value);
    }
  }
  return best;
}

describe('the perfect-foresight bound', () => {
  const optimizer = createOptimizer();
  afterAll(() => optimizer.dispose());

  it('reaches the brute-force optimum of the metered bill on a tiny day, and is never worse', async () => {
    const run = await runController({ name: 'perfect-foresight', create: () => perfectForesight(optimizer, defaultOptimizerSettings) }, [household()], { batteryWearEurPerKw2h: wear, communityChargeEurPerKwDay: 0 }, () => undefined);
    const [h] = run.households;
    expect(h!.solves.every((s) => s.status === 'optimal')).toBe(true);
    const bruteEur = bruteForceBill(0.01);
    // The grid brute force is an upper bound of the continuous optimum; 1 cent covers its discretisation.
    expect(h!.bill.total).toBeLessThanOrEqual(bruteEur + 1e-6);
    expect(h!.bill.total).toBeGreaterThan(bruteEur - 0.01);
  }, 60_000);
});
