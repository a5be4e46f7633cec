/**
 * The no-loss shadow (src/runtime/shadow.ts) and the day it reports (src/runtime/no-loss.ts): the
 * shadow plans the household's problem alone and meters what its own battery would have done on
 * the measured hours; the day's bills are checked against the tariff worked out here, and a
 * gateway restarted during the day against one that ran through.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayConfig } from '../../src/config/gateway-config.ts';
import { createOptimizer, type Optimizer, type ProblemInput } from '../../src/optimizer/index.ts';
import { recedingProblemInput } from '../../src/optimizer/receding-input.ts';
import type { DayReport, DaySettlement } from '../../src/runtime/no-loss-link.ts';
import { NoLossSettlement, readSettlements, type SettlementRecord } from '../../src/runtime/no-loss.ts';
import { Journal } from '../../src/storage/journal.ts';
import type { PlannerState } from '../../src/runtime/planner.ts';
import { NoLossShadow } from '../../src/runtime/shadow.ts';
import type { HourRecord } from '../../src/runtime/types.ts';
import { systemClock } from '../../src/time/clock.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = Date.UTC(2030, 0, 10);
const T = 6;
const site: GatewayConfig['site'] = {
  battery: { capacityKwh: 10, minEnergyKwh: 1, maxEnergyKwh: 9.5, maxChargeKw: 3, maxDischargeKw: 3, chargeEfficiency: 0.95, dischargeEfficiency: 0.95 },
  grid: { maxImportKw: 12, maxExportKw: 8 },
  shiftable: [],
};
const forecastKw = 1.5;
/** Cheap at night, dear from 06:00: the battery charges first, then discharges. */
const buyAt = (hourMs: number) => (new Date(hourMs).getUTCHours() < 6 ? 0.1 : 0.4);
const sellEurPerKwh = 0.05;

/** The household's problem alone at an hour: the planner's kind of input, built here from the state the shadow gives. */
function aloneInput(nowMs: number, state: PlannerState): ProblemInput {
  const buy = Array.from({ length: T }, (_, k) => buyAt(nowMs + k * HOUR_MS));
  return recedingProblemInput({
    stepHours: new Array<number>(T).fill(1),
    netLoadForecastKw: new Array<number>(T).fill(forecastKw),
    errorSamplesKw: null,
    tariff: { buyEurPerKwh: buy, sellEurPerKwh: new Array<number>(T).fill(sellEurPerKwh), realtimeBuyEurPerKwh: buy, realtimeSellEurPerKwh: new Array<number>(T).fill(0), peakEurPerKw: 0 },
    battery: site.battery,
    grid: site.grid,
    energyKwh: state.energyKwh!,
    shiftable: { deferredKwh: state.shiftable.deferredKwh, desiredKw: new Array<number>(T).fill(0), dueKwh: state.shiftable.deadlinesKwh, maxDeferredKwh: 0 },
    chance: { radiusKw: 0, method: 'joint', epsilon: {} },
    weights: { batteryWearEurPerKw2h: 0.005, deferralEurPerKwh2: 0.01, scheduleDeviationEurPerKw2: 0 },
  });
}

const state = (energyKwh: number): PlannerState => ({ energyKwh, maxChargeKw: null, maxDischargeKw: null, shiftable: { deferredKwh: 0, requestedThisStepKwh: 0, deadlinesKwh: new Array<number>(T).fill(0) } });

/** A measured hour of a household whose own battery idled: it imported its whole load (and deferred what it asked of its shiftable loads). */
function measured(hourStartMs: number, loadKw: number, trade = { kwh: 0, eur: 0 }, shiftableRequestedKwh = 0): HourRecord {
  return {
    hourStartMs, importKwh: loadKw, exportKwh: 0, peakImportKw: loadKw, pvKwh: 0, batteryDischargeKwh: 0, batteryChargeKwh: 0,
    shiftableRequestedKwh, shiftableServedKwh: 0, scheduledGridKw: null,
    buyEurPerKwh: buyAt(hourStartMs), sellEurPerKwh, realtimeBuyEurPerKwh: buyAt(hourStartMs), realtimeSellEurPerKwh: 0,
    tradeKwh: trade.kwh, tradeCostEur: trade.eur, trades: [], socMinFraction: 0, socMaxFraction: 1, violations: [], safeIterations: 0, iterations: 12,
  };
}

const optimizers: Optimizer[] = [];
let dir: string | undefined;
afterEach(() => {
  for (const o of optimizers.splice(0)) o.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function optimizer(): Optimizer {
  const o = createOptimizer({ timeBudgetMs: 10_000 });
  optimizers.push(o);
  return o;
}

/** `planned`: the state the shadow planned each hour from, by hour start. */
function shadow(planned?: Map<number, PlannerState>): NoLossShadow {
  return new NoLossShadow({ site, aloneInput: (nowMs, state) => (planned?.set(nowMs, state), aloneInput(nowMs, state)), solver: optimizer(), log: () => undefined });
}

describe('the no-loss shadow', () => {
  it('on an hour whose load is its forecast, meters its own plan’s step 0, and carries its battery on', async () => {
    const s = shadow();
    // 04:00: two cheap hours, then dear ones.
    const at = DAY_MS + 4 * HOUR_MS;
    await s.decide(at, state(5));
    const outcome = s.observeHour(measured(at, forecastKw));
    // The same problem solved apart: the plan the shadow follows.
    const solved = await optimizer().solve(aloneInput(at, state(5)), { startMs: at });
    if (!solved.ok) throw new Error(solved.message);
    const batteryKw = solved.plan.dischargeKw[0]! - solved.plan.chargeKw[0]!;
    expect(batteryKw).toBeLessThan(-0.5);
    expect(outcome!.batteryKw).toBeCloseTo(batteryKw, 6);
    expect(outcome!.gridKw).toBeCloseTo(forecastKw - batteryKw, 6);
    expect(s.energyKwh()).toBeCloseTo(5 - batteryKw * site.battery.chargeEfficiency, 6);
    // The next hour starts from the shadow's battery, not from the household's.
    await s.decide(at + HOUR_MS, state(1));
    const next = await optimizer().solve(aloneInput(at + HOUR_MS, state(s.energyKwh()!)), { startMs: at + HOUR_MS });
    if (!next.ok) throw new Error(next.message);
    expect(s.observeHour(measured(at + HOUR_MS, forecastKw))!.batteryKw).toBeCloseTo(next.plan.dischargeKw[0]! - next.plan.chargeKw[0]!, 6);
  });

  it('an hour it did not plan is not metered', async () => {
    const s = shadow();
    await s.decide(DAY_MS, state(5));
    expect(s.observeHour(measured(DAY_MS + HOUR_MS, forecastKw))).toBeNull();
  });
});

describe('the day the gateway settles', () => {
  it('reports both days billed alike: energy at the hour’s prices, the daily demand charge, battery wear, P2P as contracted', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pe-no-loss-'));
    const reports: DayReport[] = [];
    const settle = (report: DayReport): Promise<DaySettlement> => {
      reports.push(report);
      return Promise.resolve({ dayMs: report.dayMs, participants: ['me', 'you'], transfersEur: { me: 0.25, you: -0.25 }, ownTransferEur: 0.25, aloneEur: 1, withCommunityEur: 2, booked: true, reason: 'every member confirmed' });
    };
    const wear = 0.005;
    const demand = 0.2;
    const settlement = new NoLossSettlement({ shadow: shadow(), settle, batteryWearEurPerKw2h: wear, demandChargeEurPerKwDay: demand, clock: systemClock, dataDir: dir, log: () => undefined });
    const loadKw = (h: number) => (h === 19 ? 3 : 1);
    for (let h = 0; h < 24; h++) {
      const at = DAY_MS + h * HOUR_MS;
      await settlement.decide(at, state(5));
      // Hour 19 bought 0.5 kWh from a neighbour for 0.12 EUR.
      settlement.observeHour(measured(at, loadKw(h), h === 19 ? { kwh: 0.5, eur: 0.12 } : undefined));
    }
    await settlement.settled();
    expect(reports).toHaveLength(1);
    const [report] = reports;
    expect(report!.dayMs).toBe(DAY_MS);
    expect(report!.gridKw).toEqual(Array.from({ length: 24 }, (_, h) => loadKw(h)));
    // With the community: 1 kW at every hour but 3 kW at 19:00, 0.5 kWh of it bought from a neighbour, no battery.
    const retailerEur = Array.from({ length: 24 }, (_, h) => buyAt(DAY_MS + h * HOUR_MS) * (loadKw(h) - (h === 19 ? 0.5 : 0))).reduce((a, b) => a + b, 0);
    expect(report!.billEur).toBeCloseTo(retailerEur + demand * 3 + 0.12, 9);
    // Alone: the shadow's exchange and battery at the same prices.
    const shadowEur = report!.shadowGridKw.reduce((sum, g, h) => {
      const buy = buyAt(DAY_MS + h * HOUR_MS);
      return sum + (g > 0 ? buy * g : sellEurPerKwh * g);
    }, 0);
    expect(report!.shadowGridKw.some((g, h) => Math.abs(g - loadKw(h)) > 0.1)).toBe(true);
    const shadowBatteryKw = report!.shadowGridKw.map((g, h) => loadKw(h) - g);
    const shadowWearEur = shadowBatteryKw.reduce((sum, b) => sum + wear * b * b, 0);
    expect(report!.shadowBillEur).toBeCloseTo(shadowEur + demand * Math.max(...report!.shadowGridKw) + shadowWearEur, 9);
    // The outcome is kept, one line a day.
    expect(report!.account).toEqual({ aloneEur: 0, withCommunityEur: 0, transferEur: 0 });
    expect(readSettlements(dir)).toEqual([{ dayMs: DAY_MS, participants: ['me', 'you'], transfersEur: { me: 0.25, you: -0.25 }, ownTransferEur: 0.25, aloneEur: 1, withCommunityEur: 2, booked: true, reason: 'every member confirmed', household: { billEur: report!.billEur, shadowBillEur: report!.shadowBillEur }, account: { aloneEur: 1, withCommunityEur: 2, transferEur: 0.25 } }]);
    expect(readFileSync(join(dir, 'no-loss.jsonl'), 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('carries its running account over a restart: the next day reports the days settled before it, an unbooked day without its transfer', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pe-no-loss-'));
    const reports: DayReport[] = [];
    const outcomes = [
      { booked: true, ownTransferEur: -0.5, aloneEur: 3, withCommunityEur: 3.2 },
      { booked: false, ownTransferEur: 0.4, aloneEur: 2, withCommunityEur: 1.5 },
    ];
    const settle = (report: DayReport): Promise<DaySettlement> => {
      const outcome = outcomes[reports.push(report) - 1] ?? { booked: false, ownTransferEur: 0, aloneEur: 0, withCommunityEur: 0 };
      return Promise.resolve({ dayMs: report.dayMs, participants: ['me', 'you'], transfersEur: { me: outcome.ownTransferEur, you: -outcome.ownTransferEur }, reason: '', ...outcome });
    };
    // Each day by a gateway started afresh on the same folder.
    for (let d = 0; d < 3; d++) {
      const settlement = new NoLossSettlement({ shadow: shadow(), settle, batteryWearEurPerKw2h: 0, demandChargeEurPerKwDay: 0, clock: systemClock, dataDir: dir, log: () => undefined });
      for (let h = 0; h < 24; h++) {
        const at = DAY_MS + (d * 24 + h) * HOUR_MS;
        await settlement.decide(at, state(5));
        settlement.observeHour(measured(at, 1));
      }
      await settlement.close();
    }
    expect(reports.map((r) => r.account)).toEqual([
      { aloneEur: 0, withCommunityEur: 0, transferEur: 0 },
      { aloneEur: 3, withCommunityEur: 3.2, transferEur: -0.5 },
      { aloneEur: 5, withCommunityEur: 4.7, transferEur: -0.5 },
    ]);
  });

  it('keeps the settled days bounded: at start, a journal of more than 800 days keeps its newest 400', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pe-no-loss-'));
    const day = (d: number): SettlementRecord => ({ dayMs: DAY_MS + d * 86_400_000, participants: ['me', 'you'], transfersEur: { me: 0, you: 0 }, ownTransferEur: 0, aloneEur: 1, withCommunityEur: 1, booked: true, reason: 'every member confirmed', household: { billEur: 1, shadowBillEur: 1 } });
    const { journal } = Journal.open<SettlementRecord>(join(dir, 'no-loss.jsonl'));
    for (let d = 0; d < 801; d++) journal.append(day(d));
    journal.close();
    await new NoLossSettlement({ shadow: shadow(), settle: () => null, batteryWearEurPerKw2h: 0, demandChargeEurPerKwDay: 0, clock: systemClock, dataDir: dir, log: () => undefined }).close();
    const kept = readSettlements(dir);
    expect(kept).toHaveLength(400);
    expect(kept[0]).toEqual(day(401));
    expect(kept.at(-1)).toEqual(day(800));
  });

  it('a day with an hour the shadow did not plan is not settled', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pe-no-loss-'));
    const reports: DayReport[] = [];
    const lines: string[] = [];
    const settlement = new NoLossSettlement({ shadow: shadow(), settle: (r) => (reports.push(r), null), batteryWearEurPerKw2h: 0, demandChargeEurPerKwDay: 0, clock: systemClock, dataDir: dir, log: (_, line) => lines.push(line) });
    for (let h = 0; h < 24; h++) {
      const at = DAY_MS + h * HOUR_MS;
      // The gateway started at 00:30: its shadow plans from 01:00.
      if (h > 0) await settlement.decide(at, state(5));
      settlement.observeHour(measured(at, 1));
    }
    await settlement.settled();
    expect(reports).toEqual([]);
    expect(lines).toEqual(['no-loss settlement: 2030-01-10 not settled: 1 of its hours were not accounted with a shadow (the gateway or its shadow started during the day)']);
  });
});

describe('a gateway restarted during the day', () => {
  const loadKw = (h: number) => (h === 19 ? 3 : 1);
  const trade = (h: number) => (h === 9 ? { kwh: -0.4, eur: -0.05 } : undefined);
  /** The household asks 0.6 kWh of its shiftable loads at 13:00: the shadow's queue holds it at 14:00. */
  const requestedKwh = (h: number) => (h === 13 ? 0.6 : 0);

  interface Run {
    settlement: NoLossSettlement;
    shadow: NoLossShadow;
    reports: DayReport[];
    lines: string[];
    planned: Map<number, PlannerState>;
  }

  /** A gateway (its settlement and a shadow on a fresh solver) started on the market folder `dataDir`. */
  function start(dataDir: string): Run {
    const planned = new Map<number, PlannerState>();
    const reports: DayReport[] = [];
    const lines: string[] = [];
    const alone = shadow(planned);
    const settlement = new NoLossSettlement({ shadow: alone, settle: (r) => (reports.push(r), null), batteryWearEurPerKw2h: 0.005, demandChargeEurPerKwDay: 0.2, clock: systemClock, dataDir, log: (_, line) => lines.push(line) });
    return { settlement, shadow: alone, reports, lines, planned };
  }

  /** Hours [from, to) of the day starting at `dayMs`, the household's battery measured at `measuredKwh`. */
  async function hours(run: Run, dayMs: number, from: number, to: number, measuredKwh: number): Promise<void> {
    for (let h = from; h < to; h++) {
      const at = dayMs + h * HOUR_MS;
      await run.settlement.decide(at, state(measuredKwh));
      run.settlement.observeHour(measured(at, loadKw(h), trade(h), requestedKwh(h)));
    }
    await run.settlement.settled();
  }

  function folders(): { through: string; restarted: string } {
    dir = mkdtempSync(join(tmpdir(), 'pe-no-loss-'));
    const through = join(dir, 'through');
    const restarted = join(dir, 'restarted');
    mkdirSync(through);
    mkdirSync(restarted);
    return { through, restarted };
  }

  /** The same day run through, and restarted at 14:00 (stopped after its 13:00 hour, its battery then measured at 2 kWh). */
  async function day(): Promise<{ through: Run; before: Run; after: Run; stateFile: string }> {
    const dirs = folders();
    const through = start(dirs.through);
    await hours(through, DAY_MS, 0, 24, 5);
    const before = start(dirs.restarted);
    await hours(before, DAY_MS, 0, 14, 5);
    await before.settlement.close();
    const after = start(dirs.restarted);
    await hours(after, DAY_MS, 14, 24, 2);
    await after.settlement.close();
    await through.settlement.close();
    return { through, before, after, stateFile: join(dirs.restarted, 'no-loss-state.json') };
  }

  it('a gateway restarted at 14:00 still settles the day with the hours before the restart, as one that ran through does', async () => {
    const { through, before, after, stateFile } = await day();
    expect(before.reports).toEqual([]);
    expect(after.lines[0]).toBe(`no-loss settlement: going on from ${stateFile} (its newest hour 2030-01-10T13:00Z; 14 hours of 2030-01-10 accounted before the restart)`);
    expect(after.reports).toHaveLength(1);
    expect(through.reports).toHaveLength(1);
    const [restarted, ran] = [after.reports[0]!, through.reports[0]!];
    expect(restarted.dayMs).toBe(DAY_MS);
    // The household's day is the same hours' records: the same to the bit.
    expect(restarted.gridKw).toEqual(ran.gridKw);
    expect(restarted.billEur).toBe(ran.billEur);
    // The shadow's too up to the restart, and its 14:00 plan starts from the same state (next test);
    // after it, it solves on a cold solver, whose cutting planes of the wear term start elsewhere
    // than the warm chain's: the same plans within a watt, the same bill within a tenth of a cent.
    expect(restarted.shadowGridKw.slice(0, 14)).toEqual(ran.shadowGridKw.slice(0, 14));
    restarted.shadowGridKw.forEach((gridKw, h) => expect(Math.abs(gridKw - ran.shadowGridKw[h]!)).toBeLessThan(1e-3));
    expect(Math.abs(restarted.shadowBillEur - ran.shadowBillEur)).toBeLessThan(1e-3);
    // The shadow did use its battery, before the restart and after it.
    const batteryKw = ran.shadowGridKw.map((g, h) => loadKw(h) - g);
    expect(Math.max(...batteryKw.slice(0, 14).map(Math.abs))).toBeGreaterThan(0.5);
    expect(Math.max(...batteryKw.slice(14).map(Math.abs))).toBeGreaterThan(0.5);
    // What it keeps stays small: a day's hours and a (6-step) plan's schedule.
    expect(statSync(stateFile).size).toBeLessThan(10_000);
  });

  it('the shadow goes on from its kept battery and queue, not from the household’s measured battery', async () => {
    const { through, after } = await day();
    const at = DAY_MS + 14 * HOUR_MS;
    const kept = after.planned.get(at)!;
    expect(kept.energyKwh).not.toBeCloseTo(2, 1);
    expect(kept.shiftable.deferredKwh).toBeCloseTo(0.6, 12);
    expect(kept).toEqual(through.planned.get(at));
  });

  it('a snapshot from an earlier day is not used: the shadow starts from the measured battery', async () => {
    const { restarted } = folders();
    const before = start(restarted);
    // The gateway stopped after the previous day's 20:00 hour and comes back at 14:00.
    await hours(before, DAY_MS - 24 * HOUR_MS, 10, 21, 5);
    await before.settlement.close();
    const after = start(restarted);
    await hours(after, DAY_MS, 14, 15, 2);
    expect(after.planned.get(DAY_MS + 14 * HOUR_MS)!.energyKwh).toBe(2);
    expect(after.lines).toEqual([`no-loss settlement: not going on from ${join(restarted, 'no-loss-state.json')}: its newest hour 2030-01-09T20:00Z is not of 2030-01-10 nor the hour before it; the shadow starts from the measured battery`]);
  });

  it('a restart right after midnight lets the shadow go on from the previous day, whose hours are not counted again', async () => {
    const { restarted } = folders();
    const before = start(restarted);
    await hours(before, DAY_MS - 24 * HOUR_MS, 0, 24, 5);
    await before.settlement.close();
    expect(before.reports).toHaveLength(1);
    const keptKwh = before.shadow.energyKwh();
    const after = start(restarted);
    await hours(after, DAY_MS, 0, 1, 2);
    expect(after.planned.get(DAY_MS)!.energyKwh).toBe(keptKwh);
    expect(after.lines).toEqual([`no-loss settlement: going on from ${join(restarted, 'no-loss-state.json')} (its newest hour 2030-01-09T23:00Z; 0 hours of 2030-01-10 accounted before the restart)`]);
    expect(after.reports).toEqual([]);
  });

  it.each([
    ['torn', (text: string) => text.slice(0, text.length / 2), /Unexpected end of JSON input|Unterminated/],
    ['malformed', (text: string) => text.replace(/"plant":\{"energyKwh":[-0-9.e]+/, '"plant":{"energyKwh":"5"'), /\/shadow\/plant\/energyKwh must be number/],
  ])('a damaged snapshot (%s) is reported and ignored: the shadow starts from the measured battery', async (_, damage, why) => {
    const { restarted } = folders();
    const before = start(restarted);
    await hours(before, DAY_MS, 0, 14, 5);
    await before.settlement.close();
    const stateFile = join(restarted, 'no-loss-state.json');
    writeFileSync(stateFile, damage(readFileSync(stateFile, 'utf8')));
    const after = start(restarted);
    expect(after.lines).toHaveLength(1);
    expect(after.lines[0]).toMatch(why);
    expect(after.lines[0]).toContain(`no-loss settlement: ignoring the damaged ${stateFile} (`);
    await hours(after, DAY_MS, 14, 24, 2);
    expect(after.planned.get(DAY_MS + 14 * HOUR_MS)!.energyKwh).toBe(2);
    // The hours before the restart are lost: the day is not settled.
    expect(after.reports).toEqual([]);
    expect(after.lines.at(-1)).toBe('no-loss settlement: 2030-01-10 not settled: 14 of its hours were not accounted with a shadow (the gateway or its shadow started during the day)');
    // And the file is whole again.
    expect(JSON.parse(readFileSync(stateFile, 'utf8')).day.hours).toHaveLength(10);
  });
});
