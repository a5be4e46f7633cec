/**
 * The no-loss shadow (src/runtime/shadow.ts) and the day it reports (src/runtime/no-loss.ts): the
 * shadow plans the household's problem alone and meters what its own battery would have done on
 * the measured hours; the day's bills are checked against the tariff worked out here.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

/** A measured hour of a household whose own battery idled: it imported its whole load. */
function measured(hourStartMs: number, loadKw: number, trade = { kwh: 0, eur: 0 }): HourRecord {
  return {
    hourStartMs, importKwh: loadKw, exportKwh: 0, peakImportKw: loadKw, pvKwh: 0, batteryDischargeKwh: 0, batteryChargeKwh: 0,
    shiftableRequestedKwh: 0, shiftableServedKwh: 0, scheduledGridKw: null,
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

function shadow(): NoLossShadow {
  return new NoLossShadow({ site, aloneInput, solver: optimizer(), log: () => undefined });
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
    expect(readSettlements(dir)).toEqual([{ dayMs: DAY_MS, participants: ['me', 'you'], transfersEur: { me: 0.25, you: -0.25 }, ownTransferEur: 0.25, aloneEur: 1, withCommunityEur: 2, booked: true, reason: 'every member confirmed', household: { billEur: report!.billEur, shadowBillEur: report!.shadowBillEur } }]);
    expect(readFileSync(join(dir, 'no-loss.jsonl'), 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
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
