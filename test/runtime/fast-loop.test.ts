import { afterEach, describe, expect, it } from 'vitest';
import { connect, type MqttClient } from 'mqtt';
import { startEmbeddedBroker } from '../../src/market/broker.ts';
import type { HourRecord, LiveImport, MarketView, RuntimeSnapshot, ShiftableDemandFeed, TradeView } from '../../src/runtime/types.ts';
import { CommunityGuard } from '../../src/runtime/community-guard.ts';
import type { PlantTotals } from '../../sim/plant/plant.ts';
import { createOptimizer, type ChanceFamily } from '../../src/optimizer/index.ts';
import { syntheticInput } from '../../src/optimizer/synthetic.ts';
import { Plant } from '../../src/household/plant.ts';
import { HourAccount } from '../../src/runtime/hour-account.ts';
import { createTariffSource } from '../../src/runtime/prices.ts';
import { HOUR_MS, rigConfig, startRig, type Rig, type RigOptions } from './fast-loop-rig.ts';

const MIN_MS = 60_000;
const rigs: Rig[] = [];
const cleanups: (() => Promise<void>)[] = [];

async function rig(options: RigOptions): Promise<Rig> {
  const r = await startRig(options);
  rigs.push(r);
  return r;
}

afterEach(async () => {
  for (const r of rigs.splice(0)) await r.close();
  for (const c of cleanups.splice(0)) await c();
});

const commandOf = (s: RuntimeSnapshot) => s.setpoint!.commandedKw;
const stepIndex = (s: RuntimeSnapshot) => {
  let endMs = s.plan!.startMs;
  return s.plan!.stepHours.findIndex((h) => (endMs += h * HOUR_MS) > s.atMs);
};

/** Runs the rig to `untilMs` and keeps the plant's own totals at every iteration instant. */
async function runSampling(r: Rig, untilMs: number): Promise<{ snapshots: RuntimeSnapshot[]; totals: Map<number, PlantTotals> }> {
  const totals = new Map<number, PlantTotals>([[r.clock.nowMs(), r.sim.plant.totals()]]);
  const snapshots = await r.run(untilMs, (s) => (totals.set(s.atMs, r.sim.plant.totals()), false));
  return { snapshots, totals };
}

describe('the fast loop following a solved plan', () => {
  it('moves the setpoint by β·ξ when the net load departs from the forecast', async () => {
    const r = await rig({ startIso: '2016-06-22T10:00:00Z', config: { control: { batteryWearEurPerKw2h: 0.2, stepMinutes: 30 } } });
    // Costly wear and wide forecast errors: the optimizer lets the battery take only part of each deviation.
    r.active = await r.solve({ steps: 6, errorKw: 1.5 });
    const beta = r.active.plan.decisionRule[0]!;
    expect(beta).toBeGreaterThan(0.05);
    expect(beta).toBeLessThan(0.95);
    const before = await r.run(r.clock.nowMs() + 3 * MIN_MS);
    r.sim.plant.setPvLimitFraction(0.05); // a cloud: PV falls to 0.5 kW, the net load rises by the rest
    const after = await r.run(r.clock.nowMs() + 3 * MIN_MS);
    const inStep0 = [...before, ...after].filter((s) => stepIndex(s) === 0);
    expect(inStep0.length).toBeGreaterThan(6);
    const { plan, netLoadForecastKw } = r.active;
    for (const s of inStep0) {
      expect(s.mode).toBe('plan');
      const xi = s.measurement.netLoadKw! - netLoadForecastKw[0]!;
      expect(s.setpoint!.requestedKw).toBeCloseTo(plan.dischargeKw[0]! - plan.chargeKw[0]! + beta * xi, 6);
      expect(Math.abs(commandOf(s) - s.setpoint!.requestedKw)).toBeLessThan(0.01);
    }
    const last = (list: RuntimeSnapshot[]) => list.filter((s) => stepIndex(s) === 0).at(-1)!;
    const pvDropKw = last(before).measurement.pvKw! - last(after).measurement.pvKw!;
    expect(pvDropKw).toBeGreaterThan(1);
    expect(last(after).setpoint!.requestedKw - last(before).setpoint!.requestedKw).toBeCloseTo(beta * pvDropKw, 1);
    // The battery did what it was told; the grid took the rest.
    expect(r.sim.plant.batteryPowerKw()).toBeCloseTo(commandOf(last(after)), 1);

    // A plan solved without error samples (certainty-equivalent) has no priced β: the grid takes ξ.
    r.active = await r.solve({ steps: 6, errorSamplesKw: null });
    expect(r.active.plan.decisionRule[0]!).toBeGreaterThan(0.5); // whatever the solver left there: nothing priced it
    const ce = await r.run(r.clock.nowMs() + 2 * MIN_MS);
    expect(Math.abs(ce.at(-1)!.measurement.netLoadKw! - r.active.netLoadForecastKw[0]!)).toBeLessThan(0.5); // forecast = what was measured
    r.sim.plant.setPvLimitFraction(null); // the cloud passes
    const clear = await r.run(r.clock.nowMs() + 2 * MIN_MS);
    expect(clear.at(-1)!.setpoint!.requestedKw).toBeCloseTo(r.active.plan.dischargeKw[0]! - r.active.plan.chargeKw[0]!, 9);
  });

  it('holds the hour’s metered import to the peak its plan pays for when a deviation would exceed it, as the evaluation’s plant does', async () => {
    const r = await rig({ startIso: '2016-06-22T10:00:00Z', config: { control: { batteryWearEurPerKw2h: 0.2, stepMinutes: 30 } } });
    // A plan with the demand charge: the largest import it schedules today (its six half hours) is the guard.
    r.active = await r.solve({ steps: 6, errorKw: 1.5, adjust: (input) => void (input.tariff.peakEurPerKw = 0.5) });
    const { plan, netLoadForecastKw } = r.active;
    const plannedKw = Math.max(...plan.gridImportKw);
    const hourStartMs = r.clock.nowMs();
    const before = await runSampling(r, hourStartMs + 3 * MIN_MS);
    r.sim.plant.setPvLimitFraction(0.02); // a cloud for the rest of the hour: the net load rises by most of the PV
    const after = await runSampling(r, hourStartMs + HOUR_MS - r.periodMs);
    const totals = new Map([...before.totals, ...after.totals]);
    // No hour of the day has closed yet, so the plan's own peak is the guard, on the hour's import.
    let guarded = 0;
    for (const s of [...before.snapshots, ...after.snapshots]) {
      const k = stepIndex(s);
      const netLoadKw = s.measurement.netLoadKw!;
      const rule = plan.dischargeKw[k]! - plan.chargeKw[k]! + plan.decisionRule[k]! * (netLoadKw - netLoadForecastKw[k]!);
      // What the rest of the hour may import, by the plant's own meter.
      const soFarKwh = totals.get(s.atMs)!.importedKwh - totals.get(hourStartMs)!.importedKwh;
      const allowedKw = Math.max(0, (plannedKw - soFarKwh) / ((hourStartMs + HOUR_MS - s.atMs) / HOUR_MS));
      expect(s.setpoint!.requestedKw).toBeCloseTo(Math.max(rule, netLoadKw - allowedKw), 6);
      if (netLoadKw - rule > allowedKw + 0.1) guarded++;
    }
    // The cloud took the import past the plan's peak, and the guard answered it every time: the hour
    // imports no more than its first reading of the cloud found (the period before, no reading had
    // seen it), within the setpoints' 0.01 kW.
    expect(guarded).toBeGreaterThan(3);
    await r.run(hourStartMs + HOUR_MS);
    const hourKwh = r.sim.plant.totals().importedKwh - totals.get(hourStartMs)!.importedKwh;
    const cloudSeenMs = after.snapshots[0]!.atMs;
    const unseenKwh = Math.max(0, after.totals.get(cloudSeenMs)!.importedKwh - totals.get(hourStartMs)!.importedKwh - plannedKw * ((cloudSeenMs - hourStartMs) / HOUR_MS));
    expect(unseenKwh).toBeGreaterThan(0);
    expect(hourKwh).toBeLessThan(plannedKw + unseenKwh + 0.01);
  });

  it('lets the battery store the P2P energy the plan bought: the peak guard counts it on the meter, where it arrives', async () => {
    const r = await rig({ startIso: '2016-06-22T02:00:00Z', config: { control: { batteryWearEurPerKw2h: 0.02, stepMinutes: 30 } } });
    // A neighbour's 2 kW, committed for the next three hours above the feed-in price and below the tariff: the plan stores what the house does not use.
    const boughtKw = 2;
    r.active = await r.solve({
      steps: 6,
      errorKw: 0.2,
      adjust: (input) => {
        input.tariff.peakEurPerKw = 0.5;
        input.tariff.sellEurPerKwh = new Array<number>(6).fill(0);
        input.peers = [{ peerId: 'gw-neighbour', priceEurPerKwh: new Array<number>(6).fill(0.15), maxKw: boughtKw, committedKw: new Array<number>(6).fill(boughtKw) }];
      },
    });
    const { plan, netLoadForecastKw } = r.active;
    expect(plan.tradesKw['gw-neighbour']![0]).toBeCloseTo(boughtKw, 9);
    expect(plan.chargeKw[0]!).toBeGreaterThan(1);
    expect(Math.max(...plan.gridImportKw)).toBeLessThan(0.5);
    const inStep0 = (await r.run(r.clock.nowMs() + 10 * MIN_MS)).filter((s) => stepIndex(s) === 0);
    expect(inStep0.length).toBeGreaterThan(6);
    for (const s of inStep0) {
      const rule = plan.dischargeKw[0]! - plan.chargeKw[0]! + plan.decisionRule[0]! * (s.measurement.netLoadKw! - netLoadForecastKw[0]!);
      // Guarding the grid import alone would have turned the charge into a discharge.
      expect(s.measurement.netLoadKw! - Math.max(...plan.gridImportKw)).toBeGreaterThan(rule + 1);
      expect(s.setpoint!.requestedKw).toBeCloseTo(rule, 6);
    }
    // The meter shows what the plan expects of it: the energy bought, less what goes on to the grid.
    expect(inStep0.at(-1)!.measurement.gridKw!).toBeCloseTo(plan.gridImportKw[0]! - plan.gridExportKw[0]! + boughtKw, 1);
    expect(inStep0.at(-1)!.measurement.gridKw!).toBeGreaterThan(1);
  });

  it('once an hour of the day has metered more than the plan’s peak, guards that billed peak instead of spending the battery on one already paid', async () => {
    // The plant starts at 5.0 kWh and the guard band starts there: the battery cannot discharge, so a cloud's import goes to the meter.
    const r = await rig({ startIso: '2016-06-22T10:00:00Z', config: { battery: { minEnergyKwh: 4.8 }, control: { batteryWearEurPerKw2h: 0.2, stepMinutes: 30, fastPeriodS: 60 } } });
    r.active = await r.solve({ steps: 6, errorKw: 1.5, adjust: (input) => void (input.tariff.peakEurPerKw = 0.5) });
    const { plan, netLoadForecastKw } = r.active;
    r.sim.plant.setPvLimitFraction(0); // clouds for the rest of the morning
    const { snapshots, totals } = await runSampling(r, r.clock.nowMs() + 2 * HOUR_MS - r.periodMs);
    const hourMs = plan.startMs + HOUR_MS;
    // The first hour's metered import, by the plant's own meter: today's billed peak so far.
    const billedKw = totals.get(hourMs)!.importedKwh - totals.get(plan.startMs)!.importedKwh;
    expect(r.hours[0]).toMatchObject({ hourStartMs: plan.startMs });
    expect(r.hours[0]!.importKwh).toBeCloseTo(billedKw, 2);
    const plannedFromKw = (atMs: number) => Math.max(...plan.gridImportKw.filter((_, k) => plan.startMs + (k + 1) * 0.5 * HOUR_MS > atMs));
    expect(billedKw).toBeGreaterThan(plannedFromKw(hourMs) + 0.2);

    let spared = 0;
    // The hour's record closes with the first reading after it, once that period's command is written.
    for (const s of snapshots.filter((x) => x.atMs > hourMs)) {
      const k = stepIndex(s);
      const netLoadKw = s.measurement.netLoadKw!;
      const rule = plan.dischargeKw[k]! - plan.chargeKw[k]! + plan.decisionRule[k]! * (netLoadKw - netLoadForecastKw[k]!);
      const hourStartMs = s.atMs - (s.atMs % HOUR_MS);
      const soFarKwh = totals.get(s.atMs)!.importedKwh - totals.get(hourStartMs)!.importedKwh;
      const allowedKw = (guardKw: number) => Math.max(0, (guardKw - soFarKwh) / ((hourStartMs + HOUR_MS - s.atMs) / HOUR_MS));
      const guardKw = Math.max(plannedFromKw(s.atMs), billedKw);
      expect(s.setpoint!.requestedKw).toBeCloseTo(Math.max(rule, netLoadKw - allowedKw(guardKw)), 2);
      // Guarding the plan's own peak would have asked this much more of the battery.
      if (Math.max(rule, netLoadKw - allowedKw(plannedFromKw(s.atMs))) > s.setpoint!.requestedKw + 0.1) spared++;
    }
    expect(spared).toBeGreaterThan(10);
  });

  it('discharges its share of its room more while the live community guard finds the community’s hour above the peak it pays for', async () => {
    const dayMs = Date.UTC(2016, 5, 22);
    const slotsMs = [10, 11].map((h) => dayMs + h * HOUR_MS);
    const told: LiveImport[] = [];
    // The community: this gateway and a neighbour that imports 2 kW with no room; the clearing scheduled 0.3 + 0.5 kW.
    const guard = new CommunityGuard();
    const neighbourSoFarKwh = (atMs: number) => (2 * (atMs % HOUR_MS)) / HOUR_MS;
    const market: MarketView = {
      peerTrades: () => [],
      trades: () => [],
      connected: () => true,
      guardCommunity: async (own) => {
        told.push(own);
        return guard.decide(own.atMs, new Map([
          ['rig', { ...own, closedHour: null, planned: { slotStartsMs: slotsMs, netKw: [0.3, 0.3] } }],
          ['neighbour', { atMs: own.atMs, importKw: 2, hourSoFarKwh: neighbourSoFarKwh(own.atMs), roomKw: 0, closedHour: null, planned: { slotStartsMs: slotsMs, netKw: [0.5, 0.5] } }],
        ]));
      },
    };
    const r = await rig({ startIso: '2016-06-22T10:00:00Z', market });
    r.active = await r.solve({ steps: 6 });
    r.sim.plant.setPvLimitFraction(0.1); // clouds: the house imports
    const { snapshots, totals } = await runSampling(r, r.clock.nowMs() + HOUR_MS);
    expect(told.map((t) => t.atMs)).toEqual(snapshots.map((s) => s.atMs));
    const { battery } = r.config.site;
    let guarded = 0;
    snapshots.forEach((s, i) => {
      const own = told[i]!;
      const extraKw = s.setpoint!.communityGuardKw ?? 0;
      const hourStartMs = s.atMs - (s.atMs % HOUR_MS);
      const restH = (hourStartMs + HOUR_MS - s.atMs) / HOUR_MS;
      // What it told: its import after its own command, its hour so far by the plant's own meter, and its battery's room for the rest of the hour above the guard band.
      expect(own.importKw).toBeCloseTo(s.measurement.netLoadKw! - (commandOf(s) - extraKw), 9);
      const at = totals.get(s.atMs)!;
      const start = totals.get(hourStartMs)!;
      // The meter's counters count whole watt-hours.
      expect(own.hourSoFarKwh).toBeCloseTo(at.importedKwh - start.importedKwh - (at.exportedKwh - start.exportedKwh), 2);
      const restRoomKw = Math.min(s.measurement.maxDischargeKw!, ((s.measurement.energyKwh! - battery.minEnergyKwh - r.config.control.socGuardBandKwh) * battery.dischargeEfficiency) / Math.max(restH, r.periodMs / HOUR_MS));
      // The supervisor's limit, to its 0.01 kW setpoint resolution.
      const exactRoomKw = Math.max(0, restRoomKw - (commandOf(s) - extraKw));
      expect(own.roomKw).toBeLessThanOrEqual(exactRoomKw + 1e-9);
      expect(own.roomKw).toBeGreaterThan(exactRoomKw - 0.01);
      // What it did: the excess over the rate the rest of the hour may keep for 0.8 kWh, out of its room (the neighbour has none).
      const excessKw = own.importKw + 2 - (0.8 - own.hourSoFarKwh - neighbourSoFarKwh(s.atMs)) / restH;
      expect(extraKw).toBeCloseTo(excessKw > 0 ? Math.min(own.roomKw, excessKw) : 0, 9);
      if (extraKw > 0.1) guarded++;
    });
    expect(guarded).toBeGreaterThan(10);
    // The battery was written what the loop commanded.
    expect(r.sim.plant.batterySetpointKw()).toBeCloseTo(commandOf(snapshots.at(-1)!), 6);
    // The 10:00 hour's record: each extra command held for its period.
    const periodH = r.periodMs / HOUR_MS;
    const guardKwh = snapshots.filter((s) => s.atMs < slotsMs[1]!).reduce((sum, s) => sum + (s.setpoint!.communityGuardKw ?? 0) * periodH, 0);
    expect(r.hours[0]).toMatchObject({ hourStartMs: slotsMs[0] });
    expect(r.hours[0]!.communityGuardKwh).toBeCloseTo(guardKwh, 9);
    expect(guardKwh).toBeGreaterThan(0.1);
  });

  it('never commands the battery beyond the BMS’s live charge limit', async () => {
    const r = await rig({ startIso: '2016-06-22T10:00:00Z' });
    r.active = await r.solve({ steps: 6 });
    expect(r.active.plan.chargeKw[0]!).toBeGreaterThan(2); // noon surplus goes into the battery
    await r.run(r.clock.nowMs() + 2 * MIN_MS);
    r.sim.plant.setBatteryTemperatureC(52); // a hot pack: the BMS derates charging to 30 %
    const hot = await r.run(r.clock.nowMs() + 4 * MIN_MS);
    const derated = hot.filter((s) => s.measurement.maxChargeKw! < 2);
    expect(derated.length).toBeGreaterThan(4);
    for (const s of derated) {
      expect(-commandOf(s)).toBeLessThanOrEqual(s.measurement.maxChargeKw! + 1e-9);
      expect(s.setpoint!.requestedKw).toBeLessThan(-2);
      expect(s.mode).toBe('plan');
      expect(s.reasons).toEqual(['bms-limit']);
    }
    const clips = r.events.filter((e) => e.reason === 'bms-limit');
    expect(clips).toHaveLength(1); // once, not every period
    expect(clips[0]).toMatchObject({ action: 'clip', detail: expect.stringMatching(/^charge \d\.\d\d kW asked; the BMS allows 1\.\d\d kW$/) });
    expect(r.reopenStore().safetyEvents()).toContainEqual(clips[0]);
    expect(-r.sim.plant.batterySetpointKw()).toBeLessThanOrEqual(r.sim.plant.batteryMaxChargeKw() + 0.01);
  });

  it('stops discharge at the SoC guard band E^min + band', async () => {
    // The plant starts at 5.0 kWh; the gateway's E^min 4.6 + band 0.3 puts the guard 0.1 kWh below.
    const r = await rig({
      startIso: '2016-06-22T19:00:00Z',
      config: { battery: { minEnergyKwh: 4.6 }, control: { socGuardBandKwh: 0.3 } },
    });
    // Energy sells at 1.5 EUR/kWh for the next 10 minutes and is worth nothing after: the plan empties the battery to E^min.
    r.active = await r.solve({
      steps: 6,
      adjust: (input) => {
        input.tariff.buyEurPerKwh = input.tariff.buyEurPerKwh.map(() => 2);
        input.tariff.sellEurPerKwh = input.tariff.sellEurPerKwh.map((price, t) => (t === 0 ? 1.5 : price));
        input.weights.terminalEnergyEurPerKwh = 0;
      },
    });
    expect(r.active.plan.dischargeKw[0]!).toBeGreaterThan(1);
    expect(r.active.plan.energyKwh[1]!).toBeLessThan(4.85);
    const guardKwh = 4.9;
    // Step 0: 10 minutes in which the plan asks for more than 0.2 kWh at every instant.
    const stepEndMs = r.active.plan.startMs + 10 * MIN_MS;
    const snapshots = (await r.run(stepEndMs - 1_000)).filter((s) => s.atMs < stepEndMs);
    const energies = snapshots.map((s) => s.measurement.energyKwh!);
    expect(Math.min(...energies)).toBeGreaterThan(guardKwh - 0.01);
    expect(r.sim.plant.batteryEnergyKwh()).toBeGreaterThan(guardKwh - 0.01);
    // Near the guard no period may carry the SoC past it: power ≤ headroom / period.
    for (const s of snapshots) expect(commandOf(s)).toBeLessThanOrEqual((Math.max(0, s.measurement.energyKwh! - guardKwh) * 0.95 * HOUR_MS) / r.periodMs + 1e-9);
    // At the guard the battery stops although the plan still asks for its discharge.
    const stopped = snapshots.slice(-4);
    for (const s of stopped) {
      expect(commandOf(s)).toBeLessThanOrEqual(0.05);
      expect(s.setpoint!.requestedKw).toBeGreaterThan(1);
      expect(s.reasons).toEqual(['soc-guard']);
    }
    expect(r.events.filter((e) => e.reason === 'soc-guard').map((e) => e.action)).toEqual(['clip']);
    // The house imports again: what the battery would have sold stays in it.
    expect(r.sim.plant.meterNetImportKw()).toBeGreaterThan(0.1);
  });
});

describe('the safe state', () => {
  it('commands a battery that stops answering to zero power within its revert time, and trusts it again only once it reads idle', async () => {
    const r = await rig({ startIso: '2016-06-22T10:00:00Z', config: { control: { revertTimeoutS: 90 } } });
    r.active = await r.solve({ steps: 6 });
    await r.run(r.clock.nowMs() + 2 * MIN_MS);
    expect(r.sim.plant.batteryPowerKw()).toBeLessThan(-2);

    r.sim.faults.modbus.lan!.set(3, { silent: true }); // the storage inverter's unit
    const silentFromMs = r.clock.nowMs();
    const silent = await r.run(silentFromMs + 90_000);
    // Nothing reaches the inverter any more; the last setpoint went out at most a revert time ago.
    await r.advance(silentFromMs + 90_000 - r.clock.nowMs());
    expect(r.sim.plant.batteryPowerKw()).toBe(0);
    const first = silent[0]!;
    expect(first.mode).toBe('safe');
    expect(first.reasons).toContain('battery-unavailable');
    expect(first.setpoint).toMatchObject({ commandedKw: 0, mode: 'safe' });
    expect(r.events.filter((e) => e.reason === 'battery-unavailable').map((e) => e.action)).toEqual(['enter']);

    r.sim.faults.modbus.lan!.clear(3);
    const back = await r.run(r.clock.nowMs() + 6 * MIN_MS, (s) => s.mode === 'plan');
    const answering = back.filter((s) => s.measurement.batteryKw !== null);
    // The first period it answers again it gets 0 kW; the plan resumes once it reads idle.
    expect(answering[0]).toMatchObject({ mode: 'safe', reasons: ['battery-unavailable'], setpoint: { commandedKw: 0 } });
    expect(back.at(-1)!.mode).toBe('plan');
    expect(commandOf(back.at(-1)!)).toBeLessThan(-2);
    expect(r.events.filter((e) => e.reason === 'battery-unavailable').map((e) => e.action)).toEqual(['enter', 'clear']);
  });

  it('idles the battery while the meter does not answer: without ξ there is nothing to follow', async () => {
    const r = await rig({ startIso: '2016-06-22T10:00:00Z' });
    r.active = await r.solve({ steps: 6 });
    await r.run(r.clock.nowMs() + MIN_MS);
    r.sim.faults.modbus.lan!.set(2, { silent: true }); // the meter's unit
    const blind = await r.run(r.clock.nowMs() + MIN_MS);
    expect(blind[0]).toMatchObject({ mode: 'safe', reasons: ['meter-unavailable'], setpoint: { requestedKw: 0, commandedKw: 0 } });
    expect(r.sim.plant.batteryPowerKw()).toBe(0);
    expect(r.events.find((e) => e.reason === 'meter-unavailable')).toMatchObject({ action: 'enter', detail: expect.stringMatching(/no answer/) });
  });

  it('puts a stale plan in the safe state within one period, and the event names the reason', async () => {
    const r = await rig({ startIso: '2016-06-22T10:00:00Z' });
    r.active = await r.solve({ steps: 2 }); // 20 minutes of plan
    const endMs = r.active.plan.startMs + 20 * MIN_MS;
    const snapshots = await r.run(endMs + 3 * MIN_MS);
    expect(snapshots.filter((s) => s.atMs < endMs).every((s) => s.mode === 'plan')).toBe(true);
    const stale = snapshots.filter((s) => s.atMs >= endMs);
    expect(stale[0]!.atMs - endMs).toBeLessThan(r.periodMs);
    for (const s of stale) expect(s).toMatchObject({ mode: 'safe', reasons: ['plan-stale'] });
    const enter = r.events.find((e) => e.reason === 'plan-stale')!;
    expect(enter).toMatchObject({ action: 'enter', atMs: stale[0]!.atMs });
    expect(enter.detail).toMatch(/covers .* not 2016-06-22T10:/);
    // The safe state is the self-consumption rule: the battery takes what the meter shows.
    const s = stale.at(-1)!;
    expect(s.setpoint!.requestedKw).toBeCloseTo(stale.at(-2)!.measurement.batteryKw! + stale.at(-2)!.measurement.gridKw!, 0);
    expect(Math.abs(r.sim.plant.meterNetImportKw())).toBeLessThan(0.1);
  });

  it('falls back to self-consumption when the solve failed and the optimizer’s safe rule is all there is', async () => {
    const r = await rig({ startIso: '2016-06-22T10:00:00Z' });
    r.active = await r.failedSolve(6);
    expect(r.active.plan.solver.name).toBe('fallback:safe-rule');
    const snapshots = await r.run(r.clock.nowMs() + 3 * MIN_MS);
    for (const s of snapshots) expect(s).toMatchObject({ mode: 'safe', reasons: ['optimizer-failed'], lastSolve: { fallback: true, status: 'time-limit' } });
    expect(r.events).toEqual([expect.objectContaining({ reason: 'optimizer-failed', action: 'enter' })]);
    // The surplus goes into the battery instead of the grid.
    expect(r.sim.plant.batteryPowerKw()).toBeLessThan(-2);
    expect(Math.abs(r.sim.plant.meterNetImportKw())).toBeLessThan(0.1);
  });

  it('makes a lost broker a safety event visible in the snapshot, and keeps the committed trades at the meter', async () => {
    const broker = await startEmbeddedBroker();
    const client: MqttClient = connect(broker.url, { protocolVersion: 4, reconnectPeriod: 200 });
    client.on('error', () => undefined);
    cleanups.push(async () => {
      await client.endAsync(true);
      await broker.close().catch(() => undefined);
    });
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    let trades: TradeView[] = [];
    const market: MarketView = { peerTrades: () => [], trades: () => trades, connected: () => client.connected };

    const r = await rig({ startIso: '2016-06-22T10:00:00Z', market });
    r.active = await r.solve({ steps: 6 });
    const nowMs = r.clock.nowMs();
    // A committed sale of 1 kW to a neighbour for the next hour (as the ledger would list it).
    trades = [{ tradeId: 't1', peerId: 'neighbour', slotStartMs: nowMs - MIN_MS, slotEndMs: nowMs + HOUR_MS, powerKw: -1, priceEurPerKwh: 0.2, state: 'committed' }];
    const connected = await r.run(r.clock.nowMs() + MIN_MS);
    expect(connected.at(-1)).toMatchObject({ mode: 'plan', brokerConnected: true, reasons: [] });

    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    await broker.close();
    await closed;
    const lost = await r.run(r.clock.nowMs() + 3 * MIN_MS);
    expect(lost.at(-1)).toMatchObject({ mode: 'safe', brokerConnected: false, reasons: ['broker-lost'], trades });
    expect(r.events.filter((e) => e.reason === 'broker-lost')).toEqual([expect.objectContaining({ action: 'enter', detail: expect.stringMatching(/1 committed trade\(s\) stand as the ledger has them/) })]);
    // Self-consumption around the committed sale: the meter exports the 1 kW sold.
    expect(r.sim.plant.meterNetImportKw()).toBeCloseTo(-1, 1);
  });
});

describe('the shiftable loads', () => {
  it('count a relay’s minutes at full power over the rest of the hour: the peak guard neither lets them raise the hour’s import past the plan’s peak nor meets them from the battery as if they lasted the hour', async () => {
    const r = await rig({
      startIso: '2016-06-22T19:58:00Z',
      config: {
        control: { stepMinutes: 60 },
        shiftable: [{ relay: 'dishwasher', ratedPowerKw: 2, maxDelayHours: 6, demand: { source: 'schedule', daily: [{ hour: 20, energyKwh: 0.5 }] } }],
      },
    });
    r.active = await r.solve({ steps: 6 });
    await r.run(Date.parse('2016-06-22T20:00:00Z'));
    // An hourly plan that buys the dishwasher's 0.5 kWh from the grid this hour and pays the demand charge on
    // that import; it plans no battery power, so its peak is this hour's load plus the dishwasher.
    r.active = await r.solve({
      steps: 6,
      shiftable: { deferredKwh: 0, desiredKw: [0.5, 0, 0, 0, 0, 0], dueKwh: new Array(6).fill(0) },
      adjust: (input) => {
        input.tariff.peakEurPerKw = 0.5;
        input.battery.maxChargeKw = 0;
        input.battery.maxDischargeKw = 0;
        input.shiftable!.minKw = [0.5, 0, 0, 0, 0, 0];
        input.shiftable!.maxKw = [0.5, 20, 20, 20, 20, 20];
      },
    });
    const { plan } = r.active;
    expect(plan.shiftableKw[0]).toBeCloseTo(0.5, 6);
    const peakKw = Math.max(...plan.gridImportKw);
    const hourStartMs = Date.parse('2016-06-22T20:00:00Z');
    const { snapshots, totals } = await runSampling(r, hourStartMs + HOUR_MS - r.periodMs);
    await r.run(hourStartMs + HOUR_MS);
    // The dishwasher ran at its 2 kW for about a quarter of the hour: the meter read far above the plan's peak then.
    const running = snapshots.filter((s) => s.measurement.relaysOn[0]);
    expect(running.length).toBeGreaterThan(5);
    expect(Math.max(...snapshots.map((s) => s.measurement.gridKw!))).toBeGreaterThan(peakKw + 1);
    // The guard hardly spent the battery on it (the plan has no battery power and ξ, the net load without
    // the relays against the forecast, is near zero): at most the hour's last periods, when a run of the
    // relay would pass what is left of the hour's energy.
    expect(plan.dischargeKw[0]! + plan.chargeKw[0]!).toBeLessThan(1e-6);
    const dischargedKwh = r.sim.plant.totals().batteryDischargeAcKwh - totals.get(hourStartMs)!.batteryDischargeAcKwh;
    expect(dischargedKwh).toBeLessThan(0.05);
    expect(snapshots.filter((s) => Math.abs(s.setpoint!.requestedKw) > 0.05).every((s) => s.atMs > hourStartMs + HOUR_MS - 5 * MIN_MS)).toBe(true);
    // And the hour imported what the plan bought: its load and the dishwasher's 0.5 kWh, at the plan's peak.
    const hourKwh = r.sim.plant.totals().importedKwh - totals.get(hourStartMs)!.importedKwh;
    const servedKwh = r.sim.plant.totals().relayLoadKwh - totals.get(hourStartMs)!.relayLoadKwh;
    expect(servedKwh).toBeCloseTo(0.5, 1);
    expect(hourKwh).toBeLessThan(peakKw + 0.05);
  });

  it('realise the plan’s f_k with relays: the energy served over a step is f_k·Δt within one fast-period quantum', async () => {
    const r = await rig({
      startIso: '2016-06-22T10:58:00Z',
      config: { shiftable: [{ relay: 'dishwasher', ratedPowerKw: 2, maxDelayHours: 6, demand: { source: 'schedule', daily: [{ hour: 11, energyKwh: 1.5 }] } }] },
    });
    // Until 11:00 a plan without shiftable energy: the request of 11:00 waits in the queue.
    r.active = await r.solve({ steps: 6 });
    await r.run(Date.parse('2016-06-22T11:00:30Z'));
    const queued = r.fast.shiftableState(r.clock.nowMs());
    expect(queued.requestedThisStepKwh).toBeCloseTo(1.5, 9);
    expect(r.sim.plant.relayOn(0)).toBe(false);
    // The plan serves 0.8 kW in each of the first two steps: a 40 % duty cycle of the 2 kW dishwasher.
    r.active = await r.solve({
      steps: 6,
      shiftable: { deferredKwh: 0, desiredKw: [1.5 * 6, 0, 0, 0, 0, 0], dueKwh: new Array(6).fill(0) },
      adjust: (input) => {
        input.shiftable!.minKw = [0.8, 0.8, 0, 0, 0, 0];
        input.shiftable!.maxKw = [0.8, 0.8, 20, 20, 20, 20];
      },
    });
    expect(r.active.plan.shiftableKw.slice(0, 2).map((f) => f.toFixed(3))).toEqual(['0.800', '0.800']);
    // The plan starts at 11:00:30, a fast-loop instant: its steps end on fast-loop instants too.
    const startMs = r.active.plan.startMs;
    const { snapshots, totals } = await runSampling(r, startMs + 20 * MIN_MS);
    const relayKwhAt = (atMs: number) => totals.get(atMs)!.relayLoadKwh;
    const quantumKwh = (2 * r.periodMs) / HOUR_MS;
    for (const k of [0, 1]) {
      const fromMs = startMs + k * 10 * MIN_MS;
      const servedKwh = relayKwhAt(fromMs + 10 * MIN_MS) - relayKwhAt(fromMs);
      expect(Math.abs(servedKwh - 0.8 / 6)).toBeLessThanOrEqual(quantumKwh / 2 + 1e-9);
    }
    // Duty-cycled, not run flat out: on in some periods of the step and off in others.
    const step0 = snapshots.filter((s) => s.atMs < startMs + 10 * MIN_MS).map((s) => s.measurement.relaysOn[0]);
    expect(step0).toContain(true);
    expect(step0).toContain(false);
    expect(snapshots.every((s) => s.mode === 'plan')).toBe(true);
  });

  it('serve deadline-due energy even if the plan says 0', async () => {
    const r = await rig({
      startIso: '2016-06-22T10:58:00Z',
      // 0.3 kWh asked at 11:00, due by 11:15; at 2 kW it takes 9 minutes.
      config: { shiftable: [{ relay: 'dishwasher', ratedPowerKw: 2, maxDelayHours: 0.25, demand: { source: 'schedule', daily: [{ hour: 11, energyKwh: 0.3 }] } }] },
    });
    r.active = await r.solve({ steps: 6, adjust: (input) => (input.shiftable!.maxKw = new Array(6).fill(0)) });
    expect(r.active.plan.shiftableKw.every((f) => Math.abs(f) < 1e-6)).toBe(true);
    const { snapshots, totals } = await runSampling(r, Date.parse('2016-06-22T11:20:00Z'));
    const requestMs = Date.parse('2016-06-22T11:00:00Z');
    const servedByDeadline = totals.get(requestMs + 15 * MIN_MS)!.relayLoadKwh - totals.get(requestMs)!.relayLoadKwh;
    const quantumKwh = (2 * r.periodMs) / HOUR_MS;
    // All of it, by the deadline; at most one period's energy more (the dishwasher stops when done).
    expect(servedByDeadline).toBeGreaterThanOrEqual(0.3 - 1e-9);
    expect(servedByDeadline).toBeLessThanOrEqual(0.3 + quantumKwh);
    // Not at once: the relay waited while the deadline allowed.
    const onAt = snapshots.find((s) => s.measurement.relaysOn[0])!.atMs;
    expect(onAt).toBeGreaterThan(requestMs + 4 * MIN_MS);
    expect(snapshots.every((s) => s.mode === 'plan')).toBe(true);
    expect(r.fast.shiftableState(r.clock.nowMs()).deferredKwh).toBe(0);
  });

  it('go on their desired profile when a relay cannot be switched, which is a safety event', async () => {
    const r = await rig({
      startIso: '2016-06-22T10:58:00Z',
      config: {
        shiftable: [
          { relay: 'dishwasher', ratedPowerKw: 2, maxDelayHours: 6, demand: { source: 'schedule', daily: [{ hour: 11, energyKwh: 1 }] } },
          { relay: 'heat-pump-boost', ratedPowerKw: 3, maxDelayHours: 6, demand: { source: 'schedule', daily: [{ hour: 11, energyKwh: 1 }] } },
        ],
      },
    });
    r.active = await r.solve({ steps: 6 });
    await r.run(Date.parse('2016-06-22T11:00:30Z'));
    r.sim.faults.firmata.firmata!.setSilent(true); // the dishwasher's Firmata board hangs
    // The plan asks for 2 kW of shiftable load now: the dishwasher, first in line, is switched on.
    r.active = await r.solve({
      steps: 6,
      shiftable: { deferredKwh: 0, desiredKw: [12, 0, 0, 0, 0, 0], dueKwh: new Array(6).fill(0) },
      adjust: (input) => {
        input.shiftable!.minKw = [2, 0, 0, 0, 0, 0];
        input.shiftable!.maxKw = [2, 20, 20, 20, 20, 20];
      },
    });
    const snapshots = await r.run(r.clock.nowMs() + 3 * MIN_MS, (s) => s.measurement.relaysOn[1] === true);
    const failed = snapshots.find((s) => s.reasons.includes('relay-failed'))!;
    expect(failed).toMatchObject({ mode: 'safe' });
    expect(r.events.find((e) => e.reason === 'relay-failed')).toMatchObject({ action: 'enter', detail: expect.stringMatching(/switching dishwasher on failed/) });
    // In the safe state every load with queued energy runs: the heat pump too, the dishwasher if it could.
    expect(snapshots.at(-1)).toMatchObject({ mode: 'safe', measurement: { relaysOn: [false, true] } });
    expect(r.sim.plant.relayOn(2)).toBe(true);
  });
});

describe('the hourly account', () => {
  it('adds up to the meter’s energy counters, hour by hour, and is stored durably', async () => {
    const r = await rig({ startIso: '2016-06-22T10:50:00Z', config: { control: { stepMinutes: 15 }, storage: { measurementEveryS: 300 } } });
    r.active = await r.solve({ steps: 6 });
    const { totals } = await runSampling(r, Date.parse('2016-06-22T12:00:30Z'));
    // 10:00 was seen from 10:50 only: a partial hour is not recorded, lest it pass for a whole one.
    expect(r.hours.map((h) => new Date(h.hourStartMs).toISOString())).toEqual(['2016-06-22T11:00:00.000Z']);
    const [full] = r.hours as [HourRecord];
    const plantAt = (iso: string) => totals.get(Date.parse(iso))!;
    const [p11, p12] = [plantAt('2016-06-22T11:00:00Z'), plantAt('2016-06-22T12:00:00Z')];
    // The meter and the PV inverter count whole Wh: each hour is their difference, to a Wh at either end.
    const WH = 0.001;
    for (const [field, key] of [['importKwh', 'importedKwh'], ['exportKwh', 'exportedKwh'], ['pvKwh', 'pvKwh']] as const) {
      expect(Math.abs(full[field] - (p12[key] - p11[key]))).toBeLessThanOrEqual(2 * WH);
    }
    expect(full.pvKwh).toBeGreaterThan(4);
    // Battery energy has no counter: integrated from the readings, and the setpoint only changes at them.
    expect(full.batteryChargeKwh).toBeCloseTo(p12.batteryChargeAcKwh - p11.batteryChargeAcKwh, 3);
    expect(full.batteryDischargeKwh).toBeCloseTo(p12.batteryDischargeAcKwh - p11.batteryDischargeAcKwh, 3);
    expect(full).toMatchObject({ iterations: 120, safeIterations: 0, tradeKwh: 0, tradeCostEur: 0, shiftableRequestedKwh: 0, violations: expect.any(Array) });
    expect(full.scheduledGridKw).not.toBeNull();
    expect(full.buyEurPerKwh).toBeCloseTo((30 / 1000 + 0.18) * 1.19, 9);
    expect(full.socMaxFraction).toBeGreaterThan(full.socMinFraction);

    await r.fast.safeStop();
    expect(r.sim.plant.batterySetpointKw()).toBe(0);

    const reopened = r.reopenStore();
    expect(reopened.hours()).toEqual(r.hours);
    // Measurements are stored every 5 simulated minutes, not every period: 10:50, 10:55, …, 12:00.
    expect(reopened.measurements().map((m) => new Date(m.atMs).toISOString().slice(11, 16))).toEqual(
      Array.from({ length: 15 }, (_, i) => new Date(Date.parse('2016-06-22T10:50:00Z') + i * 5 * MIN_MS).toISOString().slice(11, 16)),
    );
  });

  it('served shiftable energy in the hour records equals what the plant’s relay load drew, and import/export equal the plant’s counters', async () => {
    // residential2 from 2016-06-30 19:00: 0.43 and 0.55 kWh asked at 19:00 and 20:00, then 0–2 Wh an
    // hour (1 Wh at 01:00 and 08:00). Timing as in the community run at 1800×: a 450 s period, hourly plans.
    const startMs = Date.parse('2016-06-30T19:00:00Z');
    const endMs = Date.parse('2016-07-01T09:00:00Z');
    const r = await rig({
      startIso: '2016-06-30T19:00:00Z',
      household: { id: 'residential2' },
      config: {
        control: { fastPeriodS: 450, revertTimeoutS: 4500, stepMinutes: 60, horizonSteps: 6 },
        shiftable: [{ relay: 'dishwasher', ratedPowerKw: 2, maxDelayHours: 6, demand: { source: 'simulator' } }],
      },
    });
    const totals = new Map([[startMs, r.sim.plant.totals()]]);
    /** The periods the dishwasher's relay was on, by the instant they ended, with what it drew in them. */
    const relayOnPeriods: { atMs: number; drewKwh: number }[] = [];
    const observe = (s: RuntimeSnapshot) => {
      const before = [...totals.values()].at(-1)!;
      const now = r.sim.plant.totals();
      totals.set(s.atMs, now);
      if (r.snapshots.at(-2)?.measurement.relaysOn[0]) relayOnPeriods.push({ atMs: s.atMs, drewKwh: now.relayLoadKwh - before.relayLoadKwh });
      return false;
    };
    for (let hourMs = startMs; hourMs < endMs; hourMs += HOUR_MS) {
      // The first two hours without a plan (safe state: the desired profile), then a plan every hour.
      if (hourMs >= startMs + 2 * HOUR_MS) {
        const state = r.fast.shiftableState(hourMs);
        r.active = await r.solve({ steps: 6, shiftable: { deferredKwh: state.deferredKwh, desiredKw: [state.requestedThisStepKwh, 0, 0, 0, 0, 0], dueKwh: state.deadlinesKwh } });
      }
      await r.run(hourMs + HOUR_MS - 1, observe);
    }
    await r.run(endMs, observe);

    const hours = r.hours.filter((h) => h.hourStartMs < endMs);
    expect(hours.map((h) => h.hourStartMs)).toEqual(Array.from({ length: 14 }, (_, i) => startMs + i * HOUR_MS));
    expect(hours.every((h) => h.iterations === 8)).toBe(true);
    const WH = 0.001;
    for (const h of hours) {
      const [from, to] = [totals.get(h.hourStartMs)!, totals.get(h.hourStartMs + HOUR_MS)!];
      const at = new Date(h.hourStartMs).toISOString();
      expect(h.shiftableServedKwh, at).toBeCloseTo(to.relayLoadKwh - from.relayLoadKwh, 9);
      expect(h.shiftableRequestedKwh, at).toBeCloseTo(r.sim.demand!.requestedKwh('dishwasher', h.hourStartMs, h.hourStartMs + HOUR_MS), 9);
      // The meter counts whole Wh: each hour is its counters' difference, to a Wh at either end.
      expect(Math.abs(h.importKwh - (to.importedKwh - from.importedKwh)), at).toBeLessThanOrEqual(2 * WH);
      expect(Math.abs(h.exportKwh - (to.exportedKwh - from.exportedKwh)), at).toBeLessThanOrEqual(2 * WH);
    }
    const served = hours.reduce((sum, h) => sum + h.shiftableServedKwh, 0);
    const requested = hours.reduce((sum, h) => sum + h.shiftableRequestedKwh, 0);
    expect(served).toBeGreaterThan(0.9);
    // What is not served yet waits, the same in the gateway’s queue and in the dishwasher.
    const queued = r.fast.shiftableState(r.clock.nowMs());
    expect(queued.deferredKwh + queued.requestedThisStepKwh).toBeCloseTo(requested - served, 9);
    expect(r.sim.plant.relayPendingKwh(0)).toBeCloseTo(requested - served, 9);
    // Both modes ran, and the dishwasher was never switched on for a few Wh before they were due: a period
    // it was on drew at least a tenth of a period's energy (25 Wh), or began when the oldest request still
    // queued — made just after the previous run emptied the queue — could not wait one more period for its
    // 6 h deadline (then it ran the few Wh asked since).
    expect(r.snapshots.some((s) => s.mode === 'safe') && r.snapshots.some((s) => s.mode === 'plan')).toBe(true);
    expect(relayOnPeriods.length).toBeGreaterThan(3);
    const minRunKwh = (0.1 * 2 * r.periodMs) / HOUR_MS;
    relayOnPeriods.forEach((p, i) => {
      if (p.drewKwh >= minRunKwh - 1e-9) return;
      const previousRunEndMs = relayOnPeriods[i - 1]!.atMs;
      expect(p.atMs - r.periodMs, new Date(p.atMs).toISOString()).toBeGreaterThanOrEqual(previousRunEndMs + 6 * HOUR_MS - r.periodMs);
      expect(p.drewKwh).toBeGreaterThan(0);
    });
    expect(relayOnPeriods.some((p) => p.drewKwh < minRunKwh)).toBe(true); // the deadline runs (03:00, 09:00)
    // The hour that asked 1 Wh at 01:00 (the community run's defect: the relay on for most of it, 1.6 kWh
    // more at the meter) drew nothing; in 08:00 only the run for what was due by 09:00.
    expect(hours.find((h) => h.hourStartMs === Date.parse('2016-07-01T01:00:00Z'))!.shiftableServedKwh).toBe(0);
    expect(relayOnPeriods.filter((p) => p.atMs > Date.parse('2016-07-01T08:00:00Z')).map((p) => new Date(p.atMs).toISOString())).toEqual(['2016-07-01T09:00:00.000Z']);
  });

  it('records no hour it did not observe from its start: not the hours before it began, whatever requests it collected for them, nor its partial first hour', async () => {
    const beganMs = Date.parse('2016-06-22T10:50:00Z');
    // A feed whose requests begin three hours before the loop: they are queued, but their hours were not observed.
    const demand: ShiftableDemandFeed = { startMs: beganMs - 3 * HOUR_MS, requestedKwh: (_relay, fromMs, toMs) => ((toMs - fromMs) / HOUR_MS) * 0.2 };
    const r = await rig({
      startIso: '2016-06-22T10:50:00Z',
      demand,
      config: { shiftable: [{ relay: 'dishwasher', ratedPowerKw: 2, maxDelayHours: 6, demand: { source: 'simulator' } }] },
    });
    await r.run(beganMs);
    // The first iteration queued the requests of 07:50 – 10:50 …
    expect(r.fast.shiftableState(beganMs).deferredKwh).toBeCloseTo(0.6, 9);
    await r.run(Date.parse('2016-06-22T12:00:00Z'));
    // … but only 11:00, the first hour seen from its start, is recorded.
    expect(r.hours.map((h) => new Date(h.hourStartMs).toISOString())).toEqual(['2016-06-22T11:00:00.000Z']);
    expect(r.hours[0]!.shiftableRequestedKwh).toBeCloseTo(0.2, 9);
    expect(r.reopenStore().hours()).toEqual(r.hours);
  });

  // Under a demand charge the plan has a peak; the import row bounds it only where the model did ('peak').
  it.each([
    { importLimit: 'connection', peakEurPerKw: undefined },
    { importLimit: 'connection', peakEurPerKw: 0.5 },
    { importLimit: 'peak', peakEurPerKw: 0.5 },
  ] as const)('scores the chance-constraint rows of the plan it followed exactly as the evaluation’s plant does (import limit $importLimit, demand charge $peakEurPerKw)', async ({ importLimit, peakEurPerKw }) => {
    const config = rigConfig('/nonexistent');
    config.control.importLimit = importLimit;
    const optimizer = createOptimizer();
    try {
      const input = syntheticInput({ stepHours: new Array(12).fill(1), samples: 20, startHour: 17, radiusKw: 0.3, initialEnergyKwh: 2, ...(peakEurPerKw !== undefined ? { peakEurPerKw } : {}) });
      input.battery = config.site.battery;
      input.grid = config.site.grid;
      input.chance.importLimit = importLimit;
      const hourMs = Date.parse('2016-07-01T17:00:00Z');
      const result = await optimizer.solve(input, { startMs: hourMs });
      if (!result.ok) throw new Error(result.message);
      const plan = result.plan;
      if (peakEurPerKw !== undefined) expect(plan.peakImportKw).toBeLessThan(config.site.grid.maxImportKw - 1);
      const [mu, f] = [input.netLoadForecastKw[0]!, plan.shiftableKw[0]!];
      const seen = new Set<string>();
      for (let xiKw = -40; xiKw <= 40; xiKw += 0.5) {
        const account = new HourAccount(config, createTariffSource(config.tariff), null);
        let record;
        for (let minute = 0; minute <= 60; minute += 5) {
          const atMs = hourMs + minute * MIN_MS;
          const measurement = { atMs, gridKw: 0, pvKw: 0, batteryKw: 0, socFraction: 0.2, energyKwh: 2, maxChargeKw: 5, maxDischargeKw: 5, netLoadKw: mu + f + xiKw, relaysOn: [] };
          [record] = account.add({ atMs, measurement, counters: {}, safe: false, servedKwh: 0, arrivals: [], step: { plan, index: 0, netLoadForecastKw: mu }, communityGuardKw: 0 });
        }
        // The same hour in the evaluation: the realised inflexible net load is μ + ξ, the shiftable request is served as planned.
        const outcome = new Plant(input.initial.energyKwh, 6, config.site.battery, config.site.grid).step(
          { timeMs: hourMs, inflexibleKw: mu + xiKw, pvKw: 0, requestKw: f },
          {
            netLoadForecastKw: mu,
            scheduledGridKw: plan.gridImportKw[0]! - plan.gridExportKw[0]!,
            batteryKw: plan.dischargeKw[0]! - plan.chargeKw[0]!,
            decisionRule: plan.decisionRule[0]!,
            shiftableKw: f,
            plannedPeakKw: importLimit === 'connection' ? config.site.grid.maxImportKw : plan.peakImportKw!,
            plannedEnergyNextKwh: plan.energyKwh[1]!,
          },
        );
        const expected = (Object.keys(outcome.violated) as ChanceFamily[]).filter((family) => outcome.violated[family]);
        expect(record!.violations.slice().sort()).toEqual(expected.sort());
        for (const family of expected) seen.add(family);
      }
      // The sweep reaches both sides of the import/export rows, and of the battery's where the rule moves it.
      expect([...seen].sort()).toEqual(plan.decisionRule[0]! > 0 ? ['charge', 'discharge', 'export', 'import', 'socMax', 'socMin'] : ['export', 'import']);
    } finally {
      optimizer.dispose();
    }
  });
});
