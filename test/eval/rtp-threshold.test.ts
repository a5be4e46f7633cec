import { describe, expect, it } from 'vitest';
import { battery as scenarioBattery } from '../../src/data/assets.ts';
import type { DecisionContext } from '../../src/eval/controller.ts';
import { rtpThreshold } from '../../src/eval/controllers/rtp-threshold.ts';
import { Plant } from '../../src/household/plant.ts';
import type { HourCase } from '../../src/eval/scenario.ts';

const hourMs = 3_600_000;
const t0 = Date.UTC(2016, 6, 1);
// A hand-made day: cheap night, dear evening peak; load low except in the evening (mean 0.7 kW).
const priceAt = (h: number) => (h < 6 ? 0.2 : h >= 17 && h <= 20 ? 0.4 : 0.3);
const loadAt = (h: number) => (h < 6 ? 0.3 : h >= 17 && h <= 20 ? 2 : 0.5);

function hourCase(timeMs: number, price: (h: number) => number): HourCase {
  const h0 = (timeMs / hourMs) % 24;
  const window = Array.from({ length: 24 }, (_, k) => (h0 + k) % 24);
  return {
    realised: { timeMs, inflexibleKw: loadAt(h0), pvKw: 0, requestKw: 0 },
    forecast: { netLoadKw: window.map(loadAt), inflexibleKw: window.map(loadAt), pvKw: window.map(() => 0), shiftableKw: window.map(() => 0) },
    samplesKw: [],
    tariff: { buyEurPerKwh: window.map(price), sellEurPerKwh: window.map(() => 0.08), realtimeBuyEurPerKwh: window.map((h) => price(h) + 0.1), realtimeSellEurPerKwh: window.map(() => 0.04) },
  };
}

async function runDay(controller: ReturnType<typeof rtpThreshold>, plant: Plant, dayMs: number, price: (h: number) => number) {
  const batteryKw: number[] = [];
  for (let h = 0; h < 24; h++) {
    const hour = hourCase(dayMs + h * hourMs, price);
    const context = { household: { battery: scenarioBattery }, hour, hourOfDay: h, energyKwh: plant.energyKwh, deferredKwh: 0, deadlinesKwh: [] } as unknown as DecisionContext;
    const { command } = await controller.decide(context);
    const outcome = plant.step(hour.realised, command);
    controller.observe!(context, outcome);
    batteryKw.push(outcome.batteryKw);
  }
  return batteryKw;
}

describe('RTP-threshold rule (γ = 0.5, β = 0.8)', () => {
  it('charges in cheap low-load hours up to the daily average import, and discharges up to the load in the dear evening peak', async () => {
    const plant = new Plant(5, 6);
    const controller = rtpThreshold();
    await runDay(controller, plant, t0, priceAt); // learns the day's price range and mean load
    plant.energyKwh = 5;
    const battery = await runDay(controller, plant, t0 + 24 * hourMs, priceAt);
    // Yesterday's mean load is (6·0.3 + 4·2 + 14·0.5) / 24 = 0.7 kW. 00:00–05:00: price 0.20 ≤ 0.2 + 0.5·0.2
    // and load 0.3 < 0.7: charge 0.4 kW, which lifts the import to the average and no higher.
    const meanKw = (6 * 0.3 + 4 * 2 + 14 * 0.5) / 24;
    for (let h = 0; h < 6; h++) expect(battery[h]).toBeCloseTo(-(meanKw - 0.3), 12);
    // 06:00: price 0.30 is still at the threshold, load 0.5: 0.2 kW.
    expect(battery[6]).toBeCloseTo(-(meanKw - 0.5), 12);
    // 17:00–20:00: price 0.40 ≥ 0.2 + 0.8·0.2 and load 2 > 0.7: discharge the load, never export.
    // The slow charge stored 5 + 0.95 (6 × 0.4 + 11 × 0.2) kWh: three full hours, then what is left above E^min.
    const storedKwh = 5 + 0.95 * (6 * (meanKw - 0.3) + 11 * (meanKw - 0.5));
    for (let h = 17; h <= 19; h++) expect(battery[h]).toBeCloseTo(2, 12);
    expect(battery[20]).toBeCloseTo((storedKwh - 3 * 2 / 0.95 - 1) * 0.95, 9);
  });

  it('does nothing in hours that meet only one of the price and load conditions', async () => {
    const plant = new Plant(5, 6);
    const controller = rtpThreshold();
    await runDay(controller, plant, t0, priceAt);
    plant.energyKwh = 5;
    // Today the night is dear (low load: no discharge) and the evening cheap (high load: no charge).
    const swapped = (h: number) => (h < 6 ? 0.4 : h >= 17 && h <= 20 ? 0.2 : 0.3);
    const battery = await runDay(controller, plant, t0 + 24 * hourMs, swapped);
    for (const h of [0, 1, 2, 3, 4, 5, 17, 18, 19, 20]) expect(battery[h]).toBe(0);
  });

  it('stays idle on a first day with a flat price: there is no range to act on', async () => {
    const battery = await runDay(rtpThreshold(), new Plant(5, 6), t0, () => 0.3);
    expect(battery.every((b) => b === 0)).toBe(true);
  });

  it('uses the 7-day average price range after a day with a flat price', async () => {
    const plant = new Plant(5, 6);
    const controller = rtpThreshold();
    await runDay(controller, plant, t0, priceAt);
    await runDay(controller, plant, t0 + 24 * hourMs, () => 0.3);
    plant.energyKwh = 5;
    // Yesterday said nothing (Δ = 0); the average range [0.25, 0.35] still makes 0.20 cheap.
    const battery = await runDay(controller, plant, t0 + 48 * hourMs, priceAt);
    expect(battery[0]).toBeCloseTo(-((6 * 0.3 + 4 * 2 + 14 * 0.5) / 24 - 0.3), 12);
  });
});
