import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayConfig } from '../../src/config/gateway-config.ts';
import { battery, grid, shiftableRule } from '../../src/data/assets.ts';
import { defaultDataDir, HOUR_MS, loadHousehold, loadPrices, valueAt, type HouseholdSeries } from '../../src/data/households.ts';
import { buildHouseholdCase } from '../../src/eval/scenario.ts';
import { communityDataDir } from '../../sim/plant/household.ts';
import { tariffParams } from '../../src/data/tariff.ts';
import { Ledger, type TradeTerms } from '../../src/market/ledger.ts';
import { withCommittedTrades } from '../../src/market/optimizer-link.ts';
import { createPlanner, type PlannerOptions, type PlannerState } from '../../src/runtime/planner.ts';
import { createTariffSource } from '../../src/runtime/prices.ts';
import { createSolverClient, type SolverClient } from '../../src/runtime/solver-client.ts';
import type { HourRecord, MarketView, RuntimeStore } from '../../src/runtime/types.ts';
import { openRuntimeStore } from '../../src/storage/store.ts';
import { ManualClock } from '../../src/time/clock.ts';

const STEP_MS = 15 * 60_000;
const HORIZON = 32;
/** The split of evaluation.md: the history file is only read before it. */
const t0 = Date.UTC(2016, 6, 1);
const historyFile = join(defaultDataDir, 'buildings', 'residential4_hourly.csv');

function gatewayConfig(dir: string, withHistory: boolean): GatewayConfig {
  return {
    file: join(dir, 'gateway.yaml'),
    gatewayId: 'gw-a',
    board: { file: join(dir, 'board.yaml'), vars: {} },
    site: {
      battery,
      grid,
      shiftable: [{ relay: 'dishwasher', ratedPowerKw: 2, maxDelayHours: 6, demand: { source: 'schedule', daily: [] } }],
    },
    tariff: { ...tariffParams, pricesFile: join(defaultDataDir, 'prices', 'day_ahead_DE_2015-2016.csv'), fallbackDayAheadEurPerMwh: 40 },
    control: {
      fastPeriodS: 5,
      stepMinutes: 15,
      horizonSteps: HORIZON,
      samples: 20,
      radiusKw: 0.03,
      epsilon: 0.05,
      method: 'joint',
      importLimit: 'connection',
      solver: 'highs',
      solveBudgetMs: 60_000,
      socGuardBandKwh: 0.2,
      revertTimeoutS: 60,
      batteryWearEurPerKw2h: 0.005,
      deferralEurPerKwh2: 0.01,
    },
    forecast: withHistory ? { historyFile } : {},
    storage: { dir: join(dir, 'store'), measurementEveryS: 60 },
    telemetry: {},
  };
}

const quiet = () => {};
const openStore = (config: GatewayConfig): RuntimeStore => openRuntimeStore(config.storage.dir, { log: quiet });

function state(energyKwh: number | null, deadlinesKwh: number[] = new Array<number>(HORIZON).fill(0)): PlannerState {
  return { energyKwh, maxChargeKw: 5, maxDischargeKw: 5, shiftable: { deferredKwh: 0, requestedThisStepKwh: 0, deadlinesKwh } };
}

/** An hour of residential4 as the gateway's meter would have accounted it, with no battery. */
function hourRecord(series: HouseholdSeries, hourStartMs: number): HourRecord {
  const loadKw = valueAt(series.loadKw, series.startMs, hourStartMs);
  const pvKw = valueAt(series.pvKw, series.startMs, hourStartMs);
  const requestKw = valueAt(shiftableRule(series).requestKw, series.startMs, hourStartMs);
  return {
    hourStartMs,
    importKwh: Math.max(0, loadKw - pvKw),
    exportKwh: Math.max(0, pvKw - loadKw),
    peakImportKw: Math.max(0, loadKw - pvKw),
    pvKwh: pvKw,
    batteryDischargeKwh: 0,
    batteryChargeKwh: 0,
    shiftableRequestedKwh: requestKw,
    shiftableServedKwh: requestKw,
    scheduledGridKw: null,
    buyEurPerKwh: 0.3,
    sellEurPerKwh: 0.08,
    realtimeBuyEurPerKwh: 0.4,
    realtimeSellEurPerKwh: 0.04,
    tradeKwh: 0,
    tradeCostEur: 0,
    trades: [],
    socMinFraction: 0.5,
    socMaxFraction: 0.5,
    violations: [],
    safeIterations: 0,
    iterations: 720,
  };
}

describe('the slow loop', () => {
  let solver: SolverClient;
  let residential4: HouseholdSeries;
  beforeAll(async () => {
    solver = createSolverClient({ solver: 'highs', timeBudgetMs: 60_000 });
    residential4 = await loadHousehold(defaultDataDir, 'residential4');
  });
  afterAll(() => solver.close());

  function planner(config: GatewayConfig, store: RuntimeStore, overrides: Partial<PlannerOptions> = {}) {
    return createPlanner({ config, clock: new ManualClock(t0), store, tariff: createTariffSource(config.tariff), market: null, solver, ...overrides });
  }

  it('plans from the history-fitted forecast with its error samples, on the step grid, and stores the plan', async () => {
    const config = gatewayConfig(mkdtempSync(join(tmpdir(), 'planner-')), true);
    const store = openStore(config);
    try {
      const p = planner(config, store);
      expect(p.active()).toBeNull();
      const active = await p.tick(t0, state(5));
      expect(active).toMatchObject({ fallback: false, status: 'optimal', solvedAtMs: t0, initialEnergyFrom: 'measured' });
      expect(active.plan.stepHours).toEqual(new Array<number>(HORIZON).fill(0.25));
      expect(active.plan.energyKwh[0]).toBe(5);
      expect(active.netLoadForecastKw).toHaveLength(HORIZON);
      // DRO: the default families are constrained, which needs samples (none would mean certainty-equivalent).
      expect(Object.keys(active.plan.worstCaseCvar).sort()).toEqual(['import', 'socMax', 'socMin']);
      expect(p.active()).toBe(active);
      expect(store.plans()).toHaveLength(0); // what was durable at open; the reopened store has it
    } finally {
      store.close();
    }
    const reopened = openStore(config);
    expect(reopened.plans().map((plan) => plan.startMs)).toEqual([t0]);
    reopened.close();
  });

  it('a solve over its budget returns time-limit and the planner falls back to the shifted previous plan', async () => {
    const config = gatewayConfig(mkdtempSync(join(tmpdir(), 'planner-')), true);
    const store = openStore(config);
    const tight = createSolverClient({ solver: 'highs', timeBudgetMs: 1 });
    let use: SolverClient = solver;
    try {
      const p = planner(config, store, { solver: { solve: (input, options) => use.solve(input, options) } });
      const first = await p.tick(t0, state(5));
      expect(first.fallback).toBe(false);
      use = tight;
      // The next tick comes two seconds early (an accelerated clock): it is still the 00:15 step.
      const nowMs = t0 + STEP_MS - 2_000;
      const second = await p.tick(nowMs, state(first.plan.energyKwh[1]!));
      expect(second).toMatchObject({ fallback: true, status: 'time-limit' });
      expect(second.plan.solver).toMatchObject({ name: 'fallback:shifted-plan', status: 'time-limit' });
      expect(second.plan.startMs).toBe(nowMs);
      // Step 0 ends on the grid, at 00:30.
      expect(second.plan.stepHours[0]! * HOUR_MS).toBeCloseTo(2 * STEP_MS - (nowMs - t0), 3);
      // The first plan's step 1 is now step 0, step 2 step 1, … (re-anchored to the measured energy).
      for (let k = 0; k < 4; k++) {
        expect(second.plan.dischargeKw[k]! - second.plan.chargeKw[k]!).toBeCloseTo(first.plan.dischargeKw[k + 1]! - first.plan.chargeKw[k + 1]!, 6);
        expect(second.plan.decisionRule[k]).toBeCloseTo(first.plan.decisionRule[k + 1]!, 9);
      }
    } finally {
      await tight.close();
      store.close();
    }
  });

  it('plans from the SoC path of the last plan while the battery does not answer, and says so', async () => {
    const config = gatewayConfig(mkdtempSync(join(tmpdir(), 'planner-')), true);
    const store = openStore(config);
    try {
      const p = planner(config, store);
      const blind = await p.tick(t0, state(null));
      expect(blind.initialEnergyFrom).toBe('minimum');
      expect(blind.plan.energyKwh[0]).toBe(battery.minEnergyKwh);
      const first = await p.tick(t0 + STEP_MS, state(6));
      const second = await p.tick(t0 + 2 * STEP_MS, state(null));
      expect(second.initialEnergyFrom).toBe('last-plan');
      expect(second.plan.energyKwh[0]).toBeCloseTo(first.plan.energyKwh[1]!, 9);
    } finally {
      store.close();
    }
  });

  it('committed trades from the market view are fixed in the plan', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'planner-'));
    const config = gatewayConfig(dir, true);
    const store = openStore(config);
    const ledger = Ledger.open(store.marketDir, 'gw-a');
    try {
      const terms = (tradeId: string, seller: string, buyer: string, slot: number, powerKw: number): TradeTerms => ({
        tradeId, offerId: `offer-${tradeId}`, seller, buyer, slotStartMs: t0 + slot * STEP_MS, slotMinutes: 15, powerKw, priceEurPerKwh: 0.25,
      });
      // gw-a buys 1.5 kW from gw-b in the third slot, and sells 0.8 kW to it in the sixth.
      const bought = terms('t1', 'gw-b', 'gw-a', 2, 1.5);
      ledger.recordAccepted(bought);
      ledger.recordDecision(bought, 'committed');
      ledger.recordDecision(terms('t2', 'gw-a', 'gw-b', 5, 0.8), 'committed');
      const market: MarketView = {
        peerTrades: (slotStartsMs) => withCommittedTrades([{ peerId: 'gw-b', priceEurPerKwh: slotStartsMs.map(() => 0.34), maxKw: 3 }], ledger, slotStartsMs),
        trades: () => [],
        connected: () => true,
      };
      const active = await planner(config, store, { market }).tick(t0, state(5));
      expect(active.fallback).toBe(false);
      const traded = active.plan.tradesKw['gw-b']!;
      expect(traded).toHaveLength(HORIZON);
      expect(traded[2]).toBeCloseTo(1.5, 6);
      expect(traded[5]).toBeCloseTo(-0.8, 6);
    } finally {
      ledger.close();
      store.close();
    }
  });

  it('a gateway without history plans certainty-equivalent on a flat forecast until it has a day of its own records', async () => {
    const config = gatewayConfig(mkdtempSync(join(tmpdir(), 'planner-')), false);
    const store = openStore(config);
    try {
      const p = planner(config, store);
      const blank = await p.tick(t0, state(5));
      expect(blank.netLoadForecastKw).toEqual(new Array<number>(HORIZON).fill(0));
      for (let h = 0; h < 3; h++) p.observeHour(hourRecord(residential4, t0 + h * HOUR_MS));
      const flat = await p.tick(t0 + 3 * HOUR_MS, state(5));
      const last = hourRecord(residential4, t0 + 2 * HOUR_MS);
      const lastNetKw = last.importKwh - last.exportKwh - last.shiftableServedKwh;
      flat.netLoadForecastKw.forEach((mu) => expect(mu).toBeCloseTo(lastNetKw, 9));
      expect(flat.plan.worstCaseCvar).toEqual({});
      expect(flat.fallback).toBe(false);
      for (let h = 3; h < 24; h++) p.observeHour(hourRecord(residential4, t0 + h * HOUR_MS));
      const daily = await p.tick(t0 + 24 * HOUR_MS, state(5));
      expect(new Set(daily.netLoadForecastKw.map((mu) => mu.toFixed(6))).size).toBeGreaterThan(1);
      // Its errors are not measured yet: still certainty-equivalent.
      expect(daily.plan.worstCaseCvar).toEqual({});
    } finally {
      store.close();
    }
  });

  it('a restarted planner reloads its error samples from the store', async () => {
    const config = gatewayConfig(mkdtempSync(join(tmpdir(), 'planner-')), false);
    const tickMs = t0 + 3 * 24 * HOUR_MS;
    let store = openStore(config);
    let before;
    try {
      const p = planner(config, store);
      // Three days of the gateway's own hours (as the runtime does: stored, then observed).
      for (let t = t0; t < tickMs; t += HOUR_MS) {
        const record = hourRecord(residential4, t);
        store.appendHour(record);
        p.observeHour(record);
      }
      before = await p.tick(tickMs, state(5));
      expect(Object.keys(before.plan.worstCaseCvar)).toContain('import');
    } finally {
      store.close();
    }

    store = openStore(config);
    try {
      expect(store.errorSamples().length).toBeGreaterThan(0);
      const restarted = await planner(config, store).tick(tickMs, state(5));
      expect(restarted.netLoadForecastKw).toEqual(before.netLoadForecastKw);
      expect(restarted.plan.worstCaseCvar).toEqual(before.plan.worstCaseCvar);
      expect(Math.abs(restarted.plan.objectiveEur - before.plan.objectiveEur)).toBeLessThanOrEqual(1e-6 * Math.abs(before.plan.objectiveEur));
    } finally {
      store.close();
    }

    // The same hours without the stored samples: no samples to plan with, so certainty-equivalent.
    const other = gatewayConfig(mkdtempSync(join(tmpdir(), 'planner-')), false);
    const bare = openStore(other);
    try {
      for (let t = t0; t < tickMs; t += HOUR_MS) bare.appendHour(hourRecord(residential4, t));
    } finally {
      bare.close();
    }
    const reopened = openStore(other);
    try {
      const withoutSamples = await planner(other, reopened).tick(tickMs, state(5));
      expect(withoutSamples.netLoadForecastKw).toEqual(before.netLoadForecastKw);
      expect(withoutSamples.plan.worstCaseCvar).toEqual({});
    } finally {
      reopened.close();
    }
  });

  it('with forecast.freezeIso at the evaluation\'s split, it forecasts and samples as the evaluation does, from its own hours too; without it, it learns from every hour', async () => {
    // Hourly steps over 24 h, as the evaluation; the shipped data (2016 only), so the fit is Jan–Jun.
    const hourly = (freezeIso?: string): GatewayConfig => {
      const config = gatewayConfig(mkdtempSync(join(tmpdir(), 'planner-')), true);
      return { ...config, control: { ...config.control, stepMinutes: 60, horizonSteps: 24 }, forecast: { historyFile: join(communityDataDir, 'buildings', 'residential4_hourly.csv'), ...(freezeIso ? { freezeIso } : {}) } };
    };
    const startMs = Date.UTC(2016, 10, 1);
    const series = await loadHousehold(communityDataDir, 'residential4');
    const prices = await loadPrices(communityDataDir);
    const nextDayMs = startMs + 24 * HOUR_MS;
    const evaluated = buildHouseholdCase(series, prices, [startMs, nextDayMs], { steps: 24, sampleCount: 20, freezeMs: t0 });
    const atEvaluation = (dayMs: number) => evaluated.days.find((d) => d.dayMs === dayMs)!.hours[0]!;
    const day = state(5, new Array<number>(24).fill(0));

    const frozen = hourly('2016-07-01T00:00:00Z');
    const store = openStore(frozen);
    try {
      const p = createPlanner({ config: frozen, clock: new ManualClock(startMs), store, tariff: createTariffSource(frozen.tariff), market: null, solver });
      const input = p.aloneInput(startMs, day);
      expect(input.netLoadForecastKw).toEqual(atEvaluation(startMs).forecast.netLoadKw);
      expect(input.errorSamplesKw).toEqual(atEvaluation(startMs).samplesKw);
      // The import family protects the connection, as the evaluation's does by default.
      expect(input.chance.importLimit).toBe('connection');
      // A day of its own hours later (the data's, as its meter would account them): observed, not learnt from.
      for (let t = startMs; t < nextDayMs; t += HOUR_MS) p.observeHour(hourRecord(series, t));
      const nextDay = p.aloneInput(nextDayMs, day);
      expect(nextDay.netLoadForecastKw.map((kw, k) => kw - atEvaluation(nextDayMs).forecast.netLoadKw[k]!).every((d) => Math.abs(d) < 1e-9)).toBe(true);
      expect(nextDay.errorSamplesKw).toEqual(atEvaluation(nextDayMs).samplesKw);
      expect(store.errorSamples()).toEqual([]);
    } finally {
      store.close();
    }

    const learning = hourly();
    const learningStore = openStore(learning);
    try {
      const input = createPlanner({ config: learning, clock: new ManualClock(startMs), store: learningStore, tariff: createTariffSource(learning.tariff), market: null, solver }).aloneInput(startMs, day);
      // Its samples are the test period's, the latest issued before the hour, not June's.
      expect(input.errorSamplesKw).toHaveLength(20);
      expect(input.errorSamplesKw).not.toEqual(atEvaluation(startMs).samplesKw);
    } finally {
      learningStore.close();
    }
  });

  it("plans each UTC day's demand charge as the evaluation does: today's metered peak so far is paid for, also after a restart, and tomorrow starts from nothing", async () => {
    const config = gatewayConfig(mkdtempSync(join(tmpdir(), 'planner-')), false);
    const nowMs = t0 + 20 * HOUR_MS;
    let store = openStore(config);
    const importsKwh = [0.4, 1.7, 0.9];
    try {
      const p = planner(config, store);
      for (const [h, importKwh] of importsKwh.entries()) {
        const record = { ...hourRecord(residential4, t0 + (17 + h) * HOUR_MS), importKwh };
        store.appendHour(record);
        p.observeHour(record);
      }
      const input = p.aloneInput(nowMs, state(5));
      // 20:00 + 32 quarter hours: 16 steps today, 16 tomorrow.
      expect(input.tariff.peakDayOfStep).toEqual([...new Array<number>(16).fill(0), ...new Array<number>(16).fill(1)]);
      expect(input.tariff.peakSoFarKw).toEqual([1.7, 0]);
      expect(input.tariff.peakEurPerKw).toBe(config.tariff.demandChargeEurPerKwDay);
      // The next day's first hour starts a new day's peak.
      p.observeHour({ ...hourRecord(residential4, t0 + 24 * HOUR_MS), importKwh: 0.2 });
      expect(p.aloneInput(t0 + 25 * HOUR_MS, state(5)).tariff.peakSoFarKw).toEqual([0.2]);
    } finally {
      store.close();
    }
    store = openStore(config);
    try {
      const restarted = createPlanner({ config, clock: new ManualClock(nowMs), store, tariff: createTariffSource(config.tariff), market: null, solver });
      expect(restarted.aloneInput(nowMs, state(5)).tariff.peakSoFarKw).toEqual([1.7, 0]);
    } finally {
      store.close();
    }
  });

  it('refuses a step that neither divides an hour nor covers whole hours', () => {
    const config = gatewayConfig(mkdtempSync(join(tmpdir(), 'planner-')), false);
    const store = openStore(config);
    try {
      expect(() => planner({ ...config, control: { ...config.control, stepMinutes: 25 } }, store)).toThrow(/control.stepMinutes must divide 60 or be a multiple of 60/);
      expect(() => planner({ ...config, control: { ...config.control, stepMinutes: 120, horizonSteps: 12 } }, store)).not.toThrow();
    } finally {
      store.close();
    }
  });
});
