/**
 * The planner offers the market loop its error trajectories by day (`HouseholdProblem.errorDays`):
 * the days it would name as a community clearing's leader are the days of its own problem's error
 * samples, and its errors on them are those samples; a day another gateway names that it lacks gets
 * a stand-in of its own. A real planner on real data (residential4's history).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GatewayConfig } from '../../src/config/gateway-config.ts';
import { battery, grid } from '../../src/data/assets.ts';
import { DAY_MS, defaultDataDir } from '../../src/data/households.ts';
import { tariffParams } from '../../src/data/tariff.ts';
import { createOptimizer } from '../../src/optimizer/index.ts';
import type { CommunityMarketView, HouseholdProblem } from '../../src/runtime/market-loop.ts';
import { createPlanner } from '../../src/runtime/planner.ts';
import { createTariffSource } from '../../src/runtime/prices.ts';
import type { MarketView } from '../../src/runtime/types.ts';
import { openRuntimeStore } from '../../src/storage/store.ts';
import { ManualClock } from '../../src/time/clock.ts';

const HORIZON = 6;
const t0 = Date.UTC(2016, 6, 1);

function gatewayConfig(dir: string): GatewayConfig {
  return {
    file: join(dir, 'gateway.yaml'),
    gatewayId: 'gw-a',
    board: { file: join(dir, 'board.yaml'), vars: {} },
    site: { battery, grid, shiftable: [] },
    tariff: { ...tariffParams, pricesFile: join(defaultDataDir, 'prices', 'day_ahead_DE_2015-2016.csv'), fallbackDayAheadEurPerMwh: 40 },
    control: { fastPeriodS: 5, stepMinutes: 60, horizonSteps: HORIZON, samples: 5, radiusKw: 0.03, epsilon: 0.05, method: 'joint', solver: 'highs', solveBudgetMs: 60_000, socGuardBandKwh: 0.2, revertTimeoutS: 60, batteryWearEurPerKw2h: 0.005, deferralEurPerKwh2: 0.01 },
    forecast: { historyFile: join(defaultDataDir, 'buildings', 'residential4_hourly.csv') },
    storage: { dir: join(dir, 'store'), measurementEveryS: 60 },
    telemetry: {},
  };
}

describe('the planner’s error days for the community chance family', () => {
  it('names the days of its own samples, gives those samples on them, and stands in for a day it lacks', { timeout: 60_000 }, async () => {
    const config = gatewayConfig(mkdtempSync(join(tmpdir(), 'planner-error-days-')));
    const store = openRuntimeStore(config.storage.dir, { log: () => {} });
    const solver = createOptimizer({ solver: 'highs' });
    try {
      let offered: HouseholdProblem | undefined;
      const market: MarketView & CommunityMarketView = { peerTrades: () => [], trades: () => [], connected: () => true, offerProblem: (problem) => (offered = problem), communityCoupling: () => undefined };
      const planner = createPlanner({ config, clock: new ManualClock(t0), store, tariff: createTariffSource(config.tariff), market, solver });
      await planner.tick(t0, { energyKwh: 5, maxChargeKw: 5, maxDischargeKw: 5, shiftable: { deferredKwh: 0, requestedThisStepKwh: 0, deadlinesKwh: new Array<number>(HORIZON).fill(0) } });
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
