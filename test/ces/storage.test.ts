/**
 * The CES drives its simulated 100 kWh / 50 kW SunSpec storage (sim/ces/storage.ts) over Modbus TCP
 * through the household's battery driver to its day-ahead schedule — its own arbitrage and the
 * households' accounts netted in one physical power — meters it per hour, and a setpoint it stops
 * refreshing reverts the battery to 0 kW.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createModbusTcpBus } from '../../drivers/modbus/tcp.ts';
import { SunSpecBattery } from '../../drivers/sunspec/battery.ts';
import { scheduleCes } from '../../src/ces/ces-model.ts';
import { defaultCesSettings } from '../../src/ces/settings.ts';
import { CesSolver } from '../../src/ces/solve.ts';
import { CesStorage } from '../../src/ces/storage.ts';
import { ManualClock } from '../../src/time/clock.ts';
import { startCesStorageSim, type CesStorageSim } from '../../sim/ces/storage.ts';

const HOUR_MS = 3_600_000;
const dayMs = Date.UTC(2016, 10, 1);
/** Cheap nights, a dear evening: the CES cycles its own part; the accounts fill at noon and empty in the evening. */
const night = [0.02, 0.02, 0.02, 0.02, 0.02, 0.03, 0.05, 0.06, 0.05, 0.04, 0.04, 0.04, 0.04, 0.04, 0.05, 0.06, 0.08, 0.15, 0.16, 0.14, 0.09, 0.06, 0.04, 0.03];
const prices = [night, night.map((p, t) => p + (t % 3 === 0 ? 0.01 : -0.005))];
const accountChargeKw = night.map((_, t) => (t >= 11 && t <= 13 ? 4 : 0));
const accountDischargeKw = night.map((_, t) => (t >= 18 && t <= 20 ? 3.6 : 0));

let sim: CesStorageSim | undefined;
const solver = new CesSolver();
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe("the CES's storage", () => {
  it('follows the physical schedule (own part + accounts) over Modbus TCP, metered per hour; an unrefreshed setpoint reverts to 0 kW', async () => {
    const schedule = await scheduleCes({ settings: defaultCesSettings, priceScenariosEurPerKwh: prices, rental: { kind: 'sold', rental: { capacityKwh: 12, accountChargeKw, accountDischargeKw, revenueEur: 0.1 } } }, solver);
    expect(schedule.throughputKwh).toBeGreaterThan(50);
    const clock = new ManualClock(dayMs);
    sim = await startCesStorageSim({ clock, settings: defaultCesSettings });
    const bus = createModbusTcpBus({ host: '127.0.0.1', port: sim.port, clock });
    const battery = new SunSpecBattery({ id: 'ces-storage', bus, unitId: sim.unitId, clock, capacityKwh: defaultCesSettings.capacityKwh, maxPlausibleKw: 60 });
    const storage = new CesStorage({ battery, clock });
    storage.follow(dayMs, schedule);
    try {
      for (let k = 0; k < (24 * HOUR_MS) / storage.periodMs; k++) {
        await storage.step();
        clock.advance(storage.periodMs);
      }
      const metered = storage.meteredHours(dayMs, dayMs + 24 * HOUR_MS);
      expect(metered).toHaveLength(24);
      // Within the registers' resolution (124 InOutWRte in 0.01 % of 50 kW, 802 W in 10 W): 0.01 kWh an hour.
      metered.forEach((h, t) => {
        const both = Math.min(schedule.physicalChargeKw[t]!, schedule.physicalDischargeKw[t]!);
        expect(Math.abs(h.chargeKwh - (schedule.physicalChargeKw[t]! - both))).toBeLessThan(0.01);
        expect(Math.abs(h.dischargeKwh - (schedule.physicalDischargeKw[t]! - both))).toBeLessThan(0.01);
      });
      // The stored energy is what the metered flows put in and took out at the battery's efficiency; the
      // schedule counts the own part's and the accounts' losses separately, so where they net within an
      // hour the battery keeps a little more than the schedule's energy, never less.
      const eta = Math.sqrt(defaultCesSettings.roundTripEfficiency);
      const storedKwh = defaultCesSettings.minEnergyKwh + metered.reduce((e, h) => e + h.chargeKwh * eta - h.dischargeKwh / eta, 0);
      expect(Math.abs(sim.plant.batteryEnergyKwh() - storedKwh)).toBeLessThan(0.05);
      expect(sim.plant.batteryEnergyKwh()).toBeGreaterThan(schedule.physicalEnergyKwh[24]! - 0.05);
      // The physical battery holds the accounts' energy on top of the own part's at noon.
      expect(schedule.physicalEnergyKwh[14]! - schedule.ownEnergyKwh[14]!).toBeGreaterThan(10);

      // The next day has no schedule: 0 kW; a CES that stops refreshing a setpoint leaves the battery at 0 kW too.
      storage.follow(dayMs + 24 * HOUR_MS, { physicalChargeKw: new Array(24).fill(20), physicalDischargeKw: new Array(24).fill(0) });
      await storage.step();
      expect(Math.abs(sim.plant.batteryPowerKw() + 20)).toBeLessThan(0.01);
      clock.advance(3 * storage.periodMs + 1000);
      await new Promise((woken) => setImmediate(woken));
      expect(sim.plant.batteryPowerKw()).toBe(0);
    } finally {
      await bus.close();
      solver.dispose();
    }
  }, 60_000);
});
