/**
 * Two batteries as one pool (src/gateway/battery-pool.ts): two simulated homes' storage inverters
 * with their BMSes, each over its own Modbus TCP server and pty, pooled. The pool reads the sums,
 * splits a setpoint by each battery's live limit, and stops both when one goes silent.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadBoardProfile } from '../../src/config/board.ts';
import { assembleGateway, type Gateway } from '../../src/gateway/assemble.ts';
import { poolBatteries } from '../../src/gateway/battery-pool.ts';
import { ScaledClock } from '../../src/time/clock.ts';
import { simBoardFile, startSimulator, type Simulator } from '../../sim/simulator.ts';

const started: { sim: Simulator; gateway: Gateway }[] = [];
afterEach(async () => {
  for (const { sim, gateway } of started.splice(0)) {
    await gateway.close();
    await sim.close();
  }
});

/** Two simulated homes on one clock; their batteries, and the plants behind them. */
async function twoBatteries() {
  const clock = new ScaledClock(Date.parse('2016-06-22T11:00:00Z'), 60);
  for (let k = 0; k < 2; k++) {
    const sim = await startSimulator({ clock });
    started.push({ sim, gateway: await assembleGateway(loadBoardProfile(simBoardFile, sim.vars), { clock }) });
  }
  return { parts: started.map((s) => s.gateway.battery!), plants: started.map((s) => s.sim.plant), sims: started.map((s) => s.sim) };
}

describe('a pool of two batteries', () => {
  it('reads as one battery: capacity, energy, power and live limits summed', async () => {
    const { parts, plants } = await twoBatteries();
    const pool = poolBatteries(parts);
    expect(pool.id).toBe(`${parts[0]!.id}+${parts[1]!.id}`);
    const reading = await pool.read();
    expect(reading.ok).toBe(true);
    if (!reading.ok) return;
    expect(reading.value.capacityKwh).toBe(plants[0]!.batteryCapacityKwh() + plants[1]!.batteryCapacityKwh());
    expect(reading.value.energyKwh).toBeCloseTo(plants.reduce((sum, p) => sum + p.batterySocFraction() * p.batteryCapacityKwh(), 0), 1);
    expect(reading.value.maxChargeKw).toBeCloseTo(plants[0]!.batteryMaxChargeKw() + plants[1]!.batteryMaxChargeKw(), 1);
  });

  it('splits a setpoint by each battery’s live limit, and the plants take the whole of it', async () => {
    const { parts, plants } = await twoBatteries();
    const pool = poolBatteries(parts);
    await pool.read();
    await pool.setPowerSetpoint(-3, 60_000);
    const limits = plants.map((p) => p.batteryMaxChargeKw());
    plants.forEach((p, k) => expect(p.batteryPowerKw()).toBeCloseTo((-3 * limits[k]!) / (limits[0]! + limits[1]!), 1));
    expect(plants[0]!.batteryPowerKw() + plants[1]!.batteryPowerKw()).toBeCloseTo(-3, 1);
  });

  it('reads as unavailable with the silent battery named, and a setpoint stops the other and fails', async () => {
    const { parts, plants, sims } = await twoBatteries();
    const pool = poolBatteries(parts);
    await pool.read();
    await pool.setPowerSetpoint(2, 60_000);
    expect(plants[0]!.batteryPowerKw()).toBeGreaterThan(0.5);
    sims[1]!.faults.modbus['lan']!.set(3, { silent: true });
    const reading = await pool.read();
    expect(reading.ok).toBe(false);
    if (!reading.ok) expect(reading.error.device).toBe(parts[1]!.id);
    await expect(pool.setPowerSetpoint(2, 60_000)).rejects.toThrow();
    expect(plants[0]!.batteryPowerKw()).toBeCloseTo(0, 2);
  });
});
