import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../../src/time/clock.ts';
import { battery, initialEnergyKwh } from '../../../src/data/assets.ts';
import { simBoardFile, startSimulator, type Simulator } from '../../../sim/simulator.ts';
import { communityDataDir } from '../../../sim/plant/household.ts';

const HOUR_MS = 3_600_000;
const MIN_MS = 60_000;
const dayMs = Date.parse('2016-07-30T00:00:00Z');

/** The day's rows straight from the CSV, with the evaluation's appliance rule computed here, not by src/data. */
function csvDay(id: string, fromMs: number, hours: number) {
  const [header, ...lines] = readFileSync(join(communityDataDir, 'buildings', `${id}_hourly.csv`), 'utf8').trim().split('\n');
  const col = (name: string) => header!.split(',').indexOf(name);
  return lines
    .map((l) => l.split(','))
    .filter((c) => Date.parse(c[0]!) >= fromMs && Date.parse(c[0]!) < fromMs + hours * HOUR_MS)
    .map((c) => {
      const load = Number(c[col('load_kw')]);
      const appliances = Number(c[col('dishwasher_kw')]) + Number(c[col('washing_machine_kw')]);
      const request = Math.min(appliances, load);
      return { load, pv: Number(c[col('pv_kw')] || 0), request };
    });
}

describe('the simulated household (residential4 on boards/sim.yaml)', () => {
  const clock = new ManualClock(dayMs);
  let sim: Simulator;

  beforeAll(async () => {
    sim = await startSimulator({ clock, household: { id: 'residential4' } });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it("replays a day's inflexible load (load − shiftable) and PV: the plant's energy equals the data's kWh", () => {
    const rows = csvDay('residential4', dayMs, 24);
    expect(rows).toHaveLength(24);
    const before = sim.plant.totals();
    for (let h = 0; h < 24; h++) {
      // Observe mid-hour too: each hourly mean is held for its whole hour.
      clock.advance(17 * MIN_MS);
      expect(sim.plant.pvAcPowerKw()).toBeCloseTo(rows[h]!.pv, 9);
      clock.advance(HOUR_MS - 17 * MIN_MS);
    }
    const after = sim.plant.totals();
    const loadKwh = rows.reduce((s, r) => s + r.load - r.request, 0);
    const pvKwh = rows.reduce((s, r) => s + r.pv, 0);
    expect(after.loadKwh - before.loadKwh).toBeCloseTo(loadKwh, 6);
    expect(after.pvKwh - before.pvKwh).toBeCloseTo(pvKwh, 6);
    expect(after.relayLoadKwh - before.relayLoadKwh).toBe(0);
    expect(rows.some((r) => r.request > 0)).toBe(true);
  });

  it("gives the shiftable rule's requests to the dishwasher relay, spread evenly over each hour", () => {
    const rows = csvDay('residential4', dayMs, 24);
    const demand = sim.demand!;
    for (const [h, row] of rows.entries()) {
      const startMs = dayMs + h * HOUR_MS;
      expect(demand.requestedKwh('dishwasher', startMs, startMs + HOUR_MS)).toBeCloseTo(row.request, 9);
      expect(demand.requestedKwh('dishwasher', startMs + 15 * MIN_MS, startMs + 30 * MIN_MS)).toBeCloseTo(row.request / 4, 9);
      expect(demand.requestedKwh('ev-charger', startMs, startMs + HOUR_MS)).toBe(0);
    }
    const dayKwh = rows.reduce((s, r) => s + r.request, 0);
    expect(demand.requestedKwh('dishwasher', dayMs, dayMs + 24 * HOUR_MS)).toBeCloseTo(dayKwh, 9);
  });

  it('serves the requests through a relay rated above every hourly request, and starts the battery as evaluation.md says', () => {
    expect(sim.plant.relayLoadKw(0)).toBe(2);
    const rows = csvDay('residential4', Date.parse('2016-07-01T00:00:00Z'), 184 * 24);
    expect(Math.max(...rows.map((r) => r.request))).toBeLessThan(2);
    expect(sim.plant.battery).toMatchObject({ capacityKwh: battery.capacityKwh, maxChargeKw: battery.maxChargeKw, maxDischargeKw: battery.maxDischargeKw, chargeEfficiency: battery.chargeEfficiency, dischargeEfficiency: battery.dischargeEfficiency });
    expect(sim.plant.pvRatedPowerKw()).toBeGreaterThanOrEqual(Math.max(...rows.map((r) => r.pv)));
  });

  it('starts the battery at 5 kWh', async () => {
    const fresh = await startSimulator({ clock: new ManualClock(dayMs), household: { id: 'residential1' } });
    try {
      expect(fresh.plant.batteryEnergyKwh()).toBeCloseTo(initialEnergyKwh, 9);
    } finally {
      await fresh.close();
    }
  });

  it('has no demand feed without a household', async () => {
    const plain = await startSimulator({ clock });
    try {
      expect(plain.demand).toBeNull();
    } finally {
      await plain.close();
    }
  });

  it('refuses a board without the relay or with an inverter smaller than the PV peak, naming both', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-household-'));
    const noRelay = join(dir, 'no-relay.yaml');
    writeFileSync(noRelay, readFileSync(simBoardFile, 'utf8'));
    await expect(startSimulator({ clock, boardFile: noRelay, household: { id: 'residential4', shiftableRelay: 'sauna' } })).rejects.toThrow(/relay "sauna".*dishwasher/);
    const smallPv = join(dir, 'small-pv.yaml');
    writeFileSync(smallPv, readFileSync(simBoardFile, 'utf8').replace(/ratedPowerKw: 10 /, 'ratedPowerKw: 5 '));
    await expect(startSimulator({ clock, boardFile: smallPv, household: { id: 'residential4' } })).rejects.toThrow(/ratedPowerKw 5 is below residential4's PV peak of 8\.495 kW/);
  });
});

describe('the simulated household’s dishwasher (residential2 on boards/sim.yaml)', () => {
  const startMs = Date.parse('2016-06-30T19:00:00Z');
  const clock = new ManualClock(startMs);
  let sim: Simulator;

  beforeAll(async () => {
    sim = await startSimulator({ clock, household: { id: 'residential2' } });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('draws what was asked of it and no more: on through an hour that asks 1 Wh, it draws 1 Wh, not 2 kW', () => {
    // 19:00 … 02:59: 0.428 and 0.554 kWh at 19:00 and 20:00, then a few Wh an hour.
    const rows = csvDay('residential2', startMs, 8);
    const relayKwh = () => sim.plant.totals().relayLoadKwh;
    // Off for two hours: what was asked waits in the dishwasher.
    clock.advance(2 * HOUR_MS);
    expect(sim.plant.relayPendingKwh(0)).toBeCloseTo(rows[0]!.request + rows[1]!.request, 9);
    expect(relayKwh()).toBe(0);
    // On from 21:00: it runs the waiting jobs at its rating, then only what is asked as it is asked.
    sim.plant.setRelay(0, true);
    expect(sim.plant.relayDrawKw(0)).toBe(2);
    clock.advance(HOUR_MS);
    expect(relayKwh()).toBeCloseTo(rows[0]!.request + rows[1]!.request + rows[2]!.request, 9);
    expect(sim.plant.relayPendingKwh(0)).toBe(0);
    for (let h = 3; h < 8; h++) {
      const beforeKwh = relayKwh();
      clock.advance(17 * MIN_MS);
      // Nothing pending: the meter sees the inflexible load and the trickle that is asked (the measured load), not 2 kW more.
      expect(sim.plant.relayDrawKw(0)).toBeCloseTo(rows[h]!.request, 12);
      expect(sim.plant.meterNetImportKw()).toBeCloseTo(rows[h]!.load - rows[h]!.pv - sim.plant.batteryPowerKw(), 9);
      clock.advance(HOUR_MS - 17 * MIN_MS);
      expect(relayKwh() - beforeKwh).toBeCloseTo(rows[h]!.request, 9);
    }
    expect(rows[6]!.request).toBe(0.001); // 2016-07-01 01:00
  });

  it('asks for nothing before the simulator started, so the gateway’s queue and the dishwasher begin together', () => {
    expect(sim.demand!.startMs).toBe(startMs);
    expect(sim.demand!.requestedKwh('dishwasher', startMs - 2 * HOUR_MS, startMs)).toBe(0);
    expect(sim.demand!.requestedKwh('dishwasher', startMs - HOUR_MS, startMs + HOUR_MS)).toBeCloseTo(0.428, 9);
  });
});
