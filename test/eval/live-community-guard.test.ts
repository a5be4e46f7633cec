/**
 * The live community guard of the evaluation's fleet loop, on a real December day of three shipped
 * households: when the coincident import passes the guard, the batteries with energy to spare give
 * more, each in proportion to what it has left to give. The fleet here commands every battery idle
 * and serves every request at once, so the whole outcome can be computed by hand from the data.
 */
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHousehold, loadPrices } from '../../src/data/households.ts';
import { serveAllKw, type FleetController } from '../../src/eval/controller.ts';
import { runController, type ControllerRun } from '../../src/eval/run.ts';
import { buildHouseholdCase, type HouseholdCase } from '../../src/eval/scenario.ts';

const dataDir = resolve(import.meta.dirname, '../../data/community');
const guardKw = 2.5;
let cases: HouseholdCase[];
let guarded: ControllerRun;

/** Every battery idle unless the guard asks, every request served in its hour. */
function idleFleet(withGuard: boolean): FleetController {
  return {
    async decide(contexts) {
      return contexts.map((c) => ({
        command: { netLoadForecastKw: 0, scheduledGridKw: 0, batteryKw: 0, decisionRule: 0, shiftableKw: serveAllKw(c), plannedPeakKw: 11, plannedEnergyNextKwh: c.energyKwh },
      }));
    },
    ...(withGuard ? { communityGuardKw: () => guardKw } : {}),
  };
}

beforeAll(async () => {
  const prices = await loadPrices(dataDir);
  const series = await Promise.all(['residential1', 'residential2', 'residential4'].map((id) => loadHousehold(dataDir, id)));
  cases = series.map((s) => buildHouseholdCase(s, prices, [Date.UTC(2016, 11, 11)], { steps: 24, sampleCount: 2 }));
  guarded = await runController({ name: 'guarded', createFleet: () => idleFleet(true) }, cases, 0, () => undefined);
}, 60_000);

describe('the live community guard', () => {
  it('holds the coincident import at the guard while any battery has energy to give, sharing the discharge by what each has left', () => {
    const energyKwh = cases.map((c) => c.initialEnergyKwh);
    let held = 0;
    for (let h = 0; h < 24; h++) {
      const netKw = cases.map((c) => {
        const r = c.days[0]!.hours[h]!.realised;
        return r.inflexibleKw - r.pvKw + r.requestKw;
      });
      const roomKw = cases.map((c, n) => Math.min(c.battery.maxDischargeKw, Math.max(0, (energyKwh[n]! - c.battery.minEnergyKwh) * c.battery.dischargeEfficiency)));
      const excessKw = netKw.reduce((a, b) => a + b, 0) - guardKw;
      const share = excessKw > 0 ? Math.min(1, excessKw / roomKw.reduce((a, b) => a + b, 0)) : 0;
      cases.forEach((c, n) => {
        const batteryKw = roomKw[n]! * share;
        energyKwh[n]! -= batteryKw / c.battery.dischargeEfficiency;
        expect(guarded.households[n]!.gridKw[h]).toBeCloseTo(netKw[n]! - batteryKw, 9);
        expect(guarded.households[n]!.energyKwh[h]).toBeCloseTo(energyKwh[n]!, 9);
      });
      const communityKw = guarded.households.reduce((sum, run) => sum + run.gridKw[h]!, 0);
      if (share > 0 && share < 1) {
        expect(communityKw).toBeCloseTo(guardKw, 9);
        held++;
      }
    }
    // The day has hours the guard held and, once the batteries are spent, hours it could not.
    expect(held).toBeGreaterThan(2);
    expect(Math.max(...Array.from({ length: 24 }, (_, h) => guarded.households.reduce((sum, run) => sum + run.gridKw[h]!, 0)))).toBeGreaterThan(guardKw + 0.5);
  });

  it('leaves every battery alone without a guard', async () => {
    const free = await runController({ name: 'free', createFleet: () => idleFleet(false) }, cases, 0, () => undefined);
    for (const run of free.households) expect(run.energyKwh.every((e) => e === run.energyKwh[0])).toBe(true);
  });
});
