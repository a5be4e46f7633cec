/**
 * The planner with community coordination: each tick offers the market loop its problem without an
 * anchor, and solves with the anchor the market view gives (`ProblemInput.community`). Checked
 * against the same optimizer solving the offered problem with that coupling directly, and against
 * the plan alone. A real planner on real data (residential4's history), the real solver worker.
 * For the community chance family it offers its error trajectories by day: the days it would name
 * as a clearing's leader are its own samples' days, and a day it lacks gets a stand-in of its own.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GatewayConfig } from '../../src/config/gateway-config.ts';
import { battery, grid } from '../../src/data/assets.ts';
import { DAY_MS, defaultDataDir } from '../../src/data/households.ts';
import { tariffParams } from '../../src/data/tariff.ts';
import { anchoredCoupling, ANCHOR_WEIGHT_EUR_PER_KW2, type CommunityAnchor } from '../../src/optimizer/community/index.ts';
import { createOptimizer, type Plan } from '../../src/optimizer/index.ts';
import { gatewayHighsGapEur } from '../../src/optimizer/settings.ts';
import type { CommunityMarketView, HouseholdProblem } from '../../src/runtime/market-loop.ts';
import { createPlanner } from '../../src/runtime/planner.ts';
import { createTariffSource } from '../../src/runtime/prices.ts';
import { createSolverClient } from '../../src/runtime/solver-client.ts';
import type { MarketView } from '../../src/runtime/types.ts';
import { openRuntimeStore } from '../../src/storage/store.ts';
import { ManualClock } from '../../src/time/clock.ts';

const HOUR_MS = 3_600_000;
const HORIZON = 12;
const t0 = Date.UTC(2016, 6, 1);

function gatewayConfig(dir: string): GatewayConfig {
  return {
    file: join(dir, 'gateway.yaml'),
    gatewayId: 'gw-a',
    board: { file: join(dir, 'board.yaml'), vars: {} },
    site: { battery, grid, shiftable: [] },
    tariff: { ...tariffParams, pricesFile: join(defaultDataDir, 'prices', 'day_ahead_DE_2015-2016.csv'), fallbackDayAheadEurPerMwh: 40 },
    control: {
      fastPeriodS: 5,
      stepMinutes: 60,
      horizonSteps: HORIZON,
      samples: 5,
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
    forecast: { historyFile: join(defaultDataDir, 'buildings', 'residential4_hourly.csv') },
    storage: { dir: join(dir, 'store'), measurementEveryS: 60 },
    telemetry: {},
  };
}

const net = (plan: Plan) => plan.gridImportKw.map((g, t) => g - plan.gridExportKw[t]!);
const state = { energyKwh: 5, maxChargeKw: 5, maxDischargeKw: 5, shiftable: { deferredKwh: 0, requestedThisStepKwh: 0, deadlinesKwh: new Array<number>(HORIZON).fill(0) } };

describe('the planner with community coordination', () => {
  it('offers its problem without an anchor and plans with the anchor of the market view, which carries its committed trades: no trade columns besides', { timeout: 120_000 }, async () => {
    const config = gatewayConfig(mkdtempSync(join(tmpdir(), 'planner-community-')));
    const store = openRuntimeStore(config.storage.dir, { log: () => {} });
    const solver = createSolverClient({ solver: 'highs', timeBudgetMs: 60_000 });
    // The worker's gap, so the two solve the same problem to the same certificate.
    const direct = createOptimizer({ solver: 'highs', highsGap: gatewayHighsGapEur });
    try {
      // A clearing's anchor over the first 8 hours: import is dear (0.5 EUR/kWh on top) and the cleared net import is zero.
      const anchor: CommunityAnchor = { slotStartsMs: Array.from({ length: 8 }, (_, t) => t0 + t * HOUR_MS), priceEurPerKwh: new Array<number>(8).fill(0.5), netTargetKw: new Array<number>(8).fill(0) };
      let offered: HouseholdProblem | undefined;
      // A sale of 1 kW to gw-b committed for the first four hours (the clearing's split of the anchor's net positions).
      const committedKw = Array.from({ length: HORIZON }, (_, t) => (t < 4 ? -1 : 0));
      const market: MarketView & CommunityMarketView = {
        peerTrades: (slotStartsMs) => [{ peerId: 'gw-b', priceEurPerKwh: slotStartsMs.map(() => 0.2), maxKw: 3, committedKw }],
        trades: () => [],
        connected: () => true,
        offerProblem: (problem) => (offered = problem),
        communityCoupling: (input, slotStartsMs) => anchoredCoupling(anchor, input, slotStartsMs),
      };
      const planner = createPlanner({ config, clock: new ManualClock(t0), store, tariff: createTariffSource(config.tariff), market, solver });
      const active = await planner.tick(t0, state);
      expect(active.fallback).toBe(false);
      expect(offered).toBeDefined();
      expect(offered!.input.community).toBeUndefined();
      expect(offered!.startMs).toBe(t0);
      expect(offered!.slotStartsMs).toEqual(Array.from({ length: HORIZON }, (_, t) => t0 + t * HOUR_MS));

      const coupling = anchoredCoupling(anchor, offered!.input, offered!.slotStartsMs);
      expect(coupling.proximalWeightEurPerKw2).toBe(ANCHOR_WEIGHT_EUR_PER_KW2);
      // Beyond the anchor: no price, the forecast net load (with the shiftable loads' wish) as the target.
      const { netLoadForecastKw, shiftable } = offered!.input;
      expect(coupling.netPriceEurPerKwh.slice(8)).toEqual([0, 0, 0, 0]);
      expect(coupling.netTargetKw.slice(8)).toEqual(netLoadForecastKw.slice(8).map((mu, k) => mu + (shiftable?.desiredKw[8 + k] ?? 0)));
      // The clearing's problem holds the committed trade; the plan under the anchor does not: it plans the meter, and the sale is settled on it.
      const { peers, ...meterInput } = offered!.input;
      expect(peers?.[0]?.committedKw).toEqual(committedKw);
      expect(active.plan.tradesKw).toEqual({});
      const anchored = await direct.solve({ ...meterInput, community: coupling }, { startMs: t0 });
      const alone = await direct.solve(meterInput, { startMs: t0 });
      if (!anchored.ok || !alone.ok) throw new Error('reference solves failed');
      net(active.plan).forEach((v, t) => expect(v).toBeCloseTo(net(anchored.plan)[t]!, 4));
      // The anchor moves the plan: less net import in the anchored hours than alone.
      const sum = (v: number[]) => v.slice(0, 8).reduce((a, b) => a + b, 0);
      expect(sum(net(active.plan))).toBeLessThan(sum(net(alone.plan)) - 0.1);
    } finally {
      direct.dispose();
      await solver.close();
      store.close();
    }
  });
});

describe('the planner’s error days for the community chance family', () => {
  it('names the days of its own samples, gives those samples on them, and stands in for a day it lacks', { timeout: 60_000 }, async () => {
    const config = gatewayConfig(mkdtempSync(join(tmpdir(), 'planner-error-days-')));
    const store = openRuntimeStore(config.storage.dir, { log: () => {} });
    const solver = createOptimizer({ solver: 'highs' });
    try {
      let offered: HouseholdProblem | undefined;
      const market: MarketView & CommunityMarketView = { peerTrades: () => [], trades: () => [], connected: () => true, offerProblem: (problem) => (offered = problem), communityCoupling: () => undefined };
      const planner = createPlanner({ config, clock: new ManualClock(t0), store, tariff: createTariffSource(config.tariff), market, solver });
      await planner.tick(t0, state);
      const days = offered!.errorDays!.nearest(5);
      expect(days.length).toBe(5);
      // Issued at the clearing's first hour, on earlier days, most similar (nearest in the year) first.
      for (const day of days) expect((t0 - day) % DAY_MS).toBe(0);
      expect(offered!.errorDays!.on(days)).toEqual(offered!.input.errorSamplesKw);
      // A day it has no trajectory of (in the future of t0): its own nearest unused one instead, one T-vector per day.
      const named = [days[0]!, t0 + 3 * DAY_MS, days[1]!];
      const samples = offered!.errorDays!.on(named);
      expect(samples.length).toBe(3);
      expect(samples[0]).toEqual(offered!.input.errorSamplesKw[0]);
      expect(samples[1]!.length).toBe(HORIZON);
      expect(offered!.input.errorSamplesKw.slice(0, 2)).not.toContainEqual(samples[1]);
    } finally {
      solver.dispose();
      store.close();
    }
  });
});
