import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ManualClock } from '../../../src/time/clock.ts';
import { Plant } from '../../../sim/plant/plant.ts';
import { loadProfile } from '../../../sim/plant/profile.ts';

const HOUR_MS = 3_600_000;
const MIN_MS = 60_000;
const summerDay = Date.parse('2016-06-20T00:00:00Z');
const profile = loadProfile();

function plantAt(startMs: number, options: Partial<ConstructorParameters<typeof Plant>[0]> = {}) {
  const clock = new ManualClock(startMs);
  return { clock, plant: new Plant({ clock, profile, ...options }) };
}

describe('the plant', () => {
  it('balances energy over a simulated day: meter = load − PV ± battery, hour by hour', () => {
    const { clock, plant } = plantAt(summerDay, { initialSocFraction: 0.6 });
    // Discharge 1 kW at night, charge 1.5 kW around noon, idle otherwise; setpoints change on whole hours.
    const setpointKw = (hour: number) => (hour < 4 ? 1 : hour >= 10 && hour < 14 ? -1.5 : 0);
    let expectedImportKwh = 0;
    let expectedExportKwh = 0;
    let dischargedFromStoreKwh = 0;
    let chargedIntoStoreKwh = 0;
    for (let hour = 0; hour < 24; hour++) {
      plant.setBatterySetpointKw(setpointKw(hour));
      const { loadKw, pvKw } = profile.at(summerDay + hour * HOUR_MS);
      const storedBeforeKwh = plant.batteryEnergyKwh();
      // Observe at irregular instants: the result must not depend on how often the plant is read.
      for (const stepMs of [7 * MIN_MS, 13 * MIN_MS, 40 * MIN_MS]) {
        clock.advance(stepMs);
        const now = profile.at(clock.nowMs());
        expect(plant.meterNetImportKw()).toBeCloseTo(now.loadKw - now.pvKw - plant.batteryPowerKw(), 9);
      }
      const deltaKwh = plant.batteryEnergyKwh() - storedBeforeKwh;
      // The battery ran at its setpoint the whole hour (no limit is reached at these SoCs).
      const batteryAcKwh = setpointKw(hour);
      const netKwh = loadKw - pvKw - batteryAcKwh;
      expectedImportKwh += Math.max(0, netKwh);
      expectedExportKwh += Math.max(0, -netKwh);
      if (deltaKwh < 0) dischargedFromStoreKwh -= deltaKwh;
      else chargedIntoStoreKwh += deltaKwh;
    }
    expect(plant.meterImportedEnergyKwh()).toBeCloseTo(expectedImportKwh, 6);
    expect(plant.meterExportedEnergyKwh()).toBeCloseTo(expectedExportKwh, 6);
    // The store moved by AC energy through the efficiencies: 4 kWh AC out, 6 kWh AC in.
    expect(dischargedFromStoreKwh).toBeCloseTo(4 / 0.95, 6);
    expect(chargedIntoStoreKwh).toBeCloseTo(6 * 0.95, 6);
    const t = plant.totals();
    expect(t.importedKwh - t.exportedKwh).toBeCloseTo(t.loadKwh - t.pvKwh - t.batteryDischargeAcKwh + t.batteryChargeAcKwh, 9);
    expect(plant.pvEnergyKwh()).toBeCloseTo(62.141, 6); // the measured PV energy of 2016-06-20
  });

  it('never lets the SoC leave its bounds, whatever setpoints arrive and whenever it is read', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.05, max: 1, noNaN: true }),
        fc.array(fc.record({ setpointKw: fc.double({ min: -50, max: 50, noNaN: true }), durationMs: fc.integer({ min: 1, max: 6 * HOUR_MS }) }), { minLength: 1, maxLength: 30 }),
        (initialSocFraction, steps) => {
          const { clock, plant } = plantAt(summerDay, { initialSocFraction });
          for (const { setpointKw, durationMs } of steps) {
            plant.setBatterySetpointKw(setpointKw);
            clock.advance(durationMs);
            const soc = plant.batterySocFraction();
            expect(soc).toBeGreaterThanOrEqual(0.05);
            expect(soc).toBeLessThanOrEqual(1);
            expect(plant.batteryPowerKw()).toBeLessThanOrEqual(plant.batteryMaxDischargeKw() + 1e-12);
            expect(-plant.batteryPowerKw()).toBeLessThanOrEqual(plant.batteryMaxChargeKw() + 1e-12);
          }
          const t = plant.totals();
          expect(t.minSocFraction).toBeGreaterThanOrEqual(0.05);
          expect(t.maxSocFraction).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('honours the rated limits, tapers near full and empty, and derates when hot or freezing', () => {
    const { clock, plant } = plantAt(summerDay, { initialSocFraction: 0.5 });
    plant.setBatterySetpointKw(20);
    expect(plant.batteryPowerKw()).toBe(5);
    plant.setBatterySetpointKw(-20);
    expect(plant.batteryPowerKw()).toBe(-5);
    expect(plant.batteryMaxChargeKw()).toBe(5);

    // Charge until the taper band: the allowed charge power falls as the pack fills.
    clock.advance(HOUR_MS);
    const socNearFull = plant.batterySocFraction();
    expect(socNearFull).toBeGreaterThan(0.9);
    expect(plant.batteryMaxChargeKw()).toBeCloseTo(5 * (1 - socNearFull) / 0.1, 9);
    expect(plant.batteryPowerKw()).toBeCloseTo(-plant.batteryMaxChargeKw(), 9);
    clock.advance(10 * HOUR_MS);
    expect(plant.batterySocFraction()).toBeGreaterThan(0.99);
    expect(plant.batterySocFraction()).toBeLessThanOrEqual(1);

    plant.setBatteryTemperatureC(50);
    expect(plant.batteryMaxDischargeKw()).toBe(5);
    plant.setBatteryTemperatureC(52.5);
    expect(plant.batteryMaxDischargeKw()).toBeCloseTo(5 * 0.75, 9);
    plant.setBatteryTemperatureC(-5);
    expect(plant.batteryMaxChargeKw()).toBe(0);
    expect(plant.batteryPowerKw()).toBe(0);
  });

  it('clips PV to its active-power limit and releases it when the limit is lifted', () => {
    const { plant } = plantAt(Date.parse('2016-06-20T11:00:00Z'));
    const availableKw = profile.at(Date.parse('2016-06-20T11:00:00Z')).pvKw;
    expect(availableKw).toBeGreaterThan(3);
    plant.setPvLimitFraction(0.3);
    expect(plant.pvAcPowerKw()).toBeCloseTo(3, 9);
    plant.setPvLimitFraction(null);
    expect(plant.pvAcPowerKw()).toBe(availableKw);
    expect(() => plant.setPvLimitFraction(1.5)).toThrow(RangeError);
  });

  it('stops the battery when the device reverts its setpoint to 0 kW', () => {
    const { clock, plant } = plantAt(summerDay);
    plant.setBatterySetpointKw(3);
    clock.advance(15 * MIN_MS);
    expect(plant.batteryPowerKw()).toBe(3);
    const storedKwh = plant.batteryEnergyKwh();
    plant.setBatterySetpointKw(0); // what a simulated inverter does when its revert timer expires
    clock.advance(HOUR_MS);
    expect(plant.batteryPowerKw()).toBe(0);
    expect(plant.batteryEnergyKwh()).toBe(storedKwh);
    const { loadKw, pvKw } = profile.at(clock.nowMs());
    expect(plant.meterNetImportKw()).toBeCloseTo(loadKw - pvKw, 12);
  });

  it('adds a switched relay load to the meter at its rated power', () => {
    const { clock, plant } = plantAt(summerDay, { relays: [{ channel: 0, ratedPowerKw: 2 }] });
    const before = plant.meterNetImportKw();
    plant.setRelay(0, true);
    expect(plant.relayOn(0)).toBe(true);
    expect(plant.meterNetImportKw()).toBeCloseTo(before + 2, 12);
    clock.advance(30 * MIN_MS);
    expect(plant.totals().relayLoadKwh).toBeCloseTo(1, 9);
    expect(() => plant.setRelay(7, true)).toThrow(/no relay load on channel 7/);
  });

  it('lets an appliance draw its rating only while it has a job: relay on with nothing pending draws nothing', () => {
    // Its user asks for 0.5 kW worth of work from 01:00 on, nothing before.
    const fromMs = summerDay + HOUR_MS;
    const demand = { requestKw: (tMs: number) => (tMs >= fromMs ? 0.5 : 0), nextChangeMs: (tMs: number) => (tMs < fromMs ? fromMs : Infinity) };
    const { clock, plant } = plantAt(summerDay, { relays: [{ channel: 0, ratedPowerKw: 2, demand }] });
    const meterBalances = () => {
      const { loadKw, pvKw } = profile.at(clock.nowMs());
      expect(plant.meterNetImportKw()).toBeCloseTo(loadKw + plant.relayDrawKw(0) - pvKw - plant.batteryPowerKw(), 12);
    };
    plant.setRelay(0, true);
    expect(plant.relayDrawKw(0)).toBe(0);
    meterBalances();
    clock.advance(HOUR_MS);
    expect(plant.totals().relayLoadKwh).toBe(0);
    // Off for an hour: the work waits in the appliance.
    plant.setRelay(0, false);
    clock.advance(HOUR_MS);
    expect(plant.relayPendingKwh(0)).toBeCloseTo(0.5, 12);
    expect(plant.relayDrawKw(0)).toBe(0);
    // On: 2 kW while 0.5 kW keeps arriving, so the 0.5 kWh is done after 20 minutes; then it runs what arrives.
    plant.setRelay(0, true);
    clock.advance(19 * MIN_MS);
    expect(plant.relayDrawKw(0)).toBe(2);
    meterBalances();
    clock.advance(2 * MIN_MS);
    expect(plant.relayPendingKwh(0)).toBe(0);
    expect(plant.relayDrawKw(0)).toBeCloseTo(0.5, 12);
    meterBalances();
    clock.advance(39 * MIN_MS);
    // Everything asked, nothing more: the hour's 0.5 kWh and the 0.5 kWh that waited.
    expect(plant.totals().relayLoadKwh).toBeCloseTo(1, 9);
    const t = plant.totals();
    expect(t.importedKwh - t.exportedKwh).toBeCloseTo(t.loadKwh + t.relayLoadKwh - t.pvKwh - t.batteryDischargeAcKwh + t.batteryChargeAcKwh, 9);
  });

  it('reports cell voltages from the OCV curve that sum to the pack voltage and sag under discharge', () => {
    const low = plantAt(summerDay, { initialSocFraction: 0.15 }).plant;
    const high = plantAt(summerDay, { initialSocFraction: 0.95 }).plant;
    expect(low.batteryCellVoltagesV()).toHaveLength(16);
    expect(high.batteryPackVoltageV()).toBeGreaterThan(low.batteryPackVoltageV());
    expect(high.batteryPackVoltageV()).toBeCloseTo(high.batteryCellVoltagesV().reduce((a, b) => a + b, 0), 9);
    for (const v of [...low.batteryCellVoltagesV(), ...high.batteryCellVoltagesV()]) {
      expect(v).toBeGreaterThan(2.8);
      expect(v).toBeLessThan(3.65);
    }
    const atRestV = high.batteryPackVoltageV();
    high.setBatterySetpointKw(5);
    expect(high.batteryPackVoltageV()).toBeLessThan(atRestV - 0.5);
  });
});
