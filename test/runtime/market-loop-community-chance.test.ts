/**
 * The market loop's community clearing with the settings of the community terms: three gateways'
 * loops on the embedded broker with `market.communityImportChance` and a π^C of their own, each
 * offered its household's problem with its error trajectories by day (as the planner offers them),
 * clear at midnight on the days the leader names; each loop's anchor is its household's part of the
 * in-process clearing of the same joint samples, π^C and sample-free coordinator bounds.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { GatewayConfig } from '../../src/config/gateway-config.ts';
import { DAY_MS, HOUR_MS } from '../../src/data/households.ts';
import { tariffParams } from '../../src/data/tariff.ts';
import { ErrorSampleStore } from '../../src/forecast/error-store.ts';
import { generateIdentity, saveIdentity } from '../../src/market/index.ts';
import { sharingSettings, solveCommunityDistributed, type DistributedResult } from '../../src/optimizer/community/index.ts';
import { createOptimizer, type Optimizer } from '../../src/optimizer/index.ts';
import { createMarketLoop, type MarketLoop, type MarketLoopTiming } from '../../src/runtime/market-loop.ts';
import { ManualClock } from '../../src/time/clock.ts';
import { coincidentCommunity, jointSamples } from '../optimizer/community/instances.ts';
import { embeddedBroker, FAST_TIMING, type TestBroker } from '../market/fixtures.ts';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const MIDNIGHT_MS = Date.UTC(2030, 6, 15);
const SOLVE_BUDGET_MS = 5_000;
const TIMING: Partial<MarketLoopTiming> = { joinTimeoutMs: 5_000, roundTimeoutMs: 5_000, commitTimeoutMs: 8_000, node: FAST_TIMING };
const ids = ['gw-a', 'gw-b', 'gw-c'];
const CHANCE = { epsilon: 0.1, radiusKw: 0.02, samples: 3 };
const PEAK_CHARGE_EUR_PER_KW_DAY = 2;
// T = 6 hourly steps from midnight, 3 error samples each: sample i was issued i + 1 days before midnight.
const problem = coincidentCommunity(3);
const slotStartsMs = problem.households[0]!.stepHours.map((_, t) => MIDNIGHT_MS + t * HOUR_MS);
const settings = sharingSettings({ solveBudgetMs: SOLVE_BUDGET_MS });

let reference: DistributedResult;
beforeAll(async () => {
  const terms = { ...problem.terms, peakChargeEurPerKwDay: PEAK_CHARGE_EUR_PER_KW_DAY, chance: { epsilon: CHANCE.epsilon, radiusKw: CHANCE.radiusKw, jointSamplesKw: jointSamples(problem.households) } };
  reference = await solveCommunityDistributed({ ...problem, terms, startMs: MIDNIGHT_MS }, { ...settings, chanceBounds: 'connection' });
  expect(reference.ok).toBe(true);
});

let root: string | undefined;
let broker: TestBroker | undefined;
const loops: MarketLoop[] = [];
const optimizers: Optimizer[] = [];
afterEach(async () => {
  await Promise.all(loops.splice(0).map((l) => l.close()));
  for (const o of optimizers.splice(0)) o.dispose();
  await broker?.close();
  if (root) rmSync(root, { recursive: true, force: true });
  root = undefined;
  broker = undefined;
});

function config(dir: string, communityId: string, id: string, brokerUrl: string): GatewayConfig {
  return {
    file: join(dir, id, 'gateway.yaml'),
    gatewayId: id,
    board: { file: join(dir, 'board.yaml'), vars: {} },
    site: {
      battery: { capacityKwh: 10, minEnergyKwh: 1, maxEnergyKwh: 9.5, maxChargeKw: 4, maxDischargeKw: 4, chargeEfficiency: 0.95, dischargeEfficiency: 0.95 },
      grid: { maxImportKw: 12, maxExportKw: 8 },
      shiftable: [],
    },
    tariff: { fallbackDayAheadEurPerMwh: 80, ...tariffParams, p2pGridFeeEurPerKwh: 0.09 },
    control: { fastPeriodS: 2, stepMinutes: 60, horizonSteps: 6, samples: 3, radiusKw: 0.02, epsilon: 0.05, method: 'joint', solver: 'highs', solveBudgetMs: SOLVE_BUDGET_MS, socGuardBandKwh: 0.2, revertTimeoutS: 30, batteryWearEurPerKw2h: 0.005, deferralEurPerKwh2: 0.01 },
    forecast: {},
    market: {
      brokerUrl,
      community: communityId,
      identityFile: join(dir, id, 'identity.json'),
      membersFile: join(dir, 'members.json'),
      maxTradeKw: 4,
      coordination: 'community',
      reclearEveryHours: 24,
      communityPeakChargeEurPerKwDay: PEAK_CHARGE_EUR_PER_KW_DAY,
      communityImportChance: CHANCE,
    },
    storage: { dir: join(dir, id), measurementEveryS: 300 },
    telemetry: {},
  };
}

describe('the market loop’s community clearing with the community import chance family (embedded broker)', () => {
  it('clears at midnight on the leader’s days, with the configured π^C: each anchor is its household’s part of the in-process clearing', async () => {
    broker = await embeddedBroker();
    root = mkdtempSync(join(tmpdir(), 'pe-community-chance-'));
    const dir = root;
    const communityId = `t-${randomUUID().slice(0, 12)}`;
    const identities = ids.map((id) => generateIdentity(id));
    for (const identity of identities) saveIdentity(identity, join(dir, identity.peerId, 'identity.json'));
    writeFileSync(join(dir, 'members.json'), JSON.stringify({ members: identities.map(({ peerId, publicKey }) => ({ peerId, publicKey })) }));
    const clock = new ManualClock(MIDNIGHT_MS);
    const lines: string[] = [];
    const started = await Promise.all(
      ids.map(async (id) => {
        const loop = createMarketLoop({ config: config(dir, communityId, id, broker!.url), clock, dataDir: join(dir, id, 'market'), plan: () => null, log: (level, line) => lines.push(`${id} ${level} ${line}`), timing: TIMING });
        await loop.start();
        loops.push(loop);
        return loop;
      }),
    );
    started.forEach((loop, n) => {
      const input = problem.households[n]!;
      const store = new ErrorSampleStore(6);
      input.errorSamplesKw.forEach((errorKw, i) => store.add({ issuedMs: MIDNIGHT_MS - (i + 1) * DAY_MS, errorKw }));
      const errorDays = { nearest: (count: number) => store.samples(MIDNIGHT_MS, count).map((s) => s.issuedMs), on: (days: readonly number[]) => store.onDays(MIDNIGHT_MS, days).map((s) => s.errorKw) };
      const solver = createOptimizer({ timeBudgetMs: SOLVE_BUDGET_MS, highsGap: { relative: 1e-7, absolute: 1e-7 } });
      optimizers.push(solver);
      loop.offerProblem({ input, startMs: MIDNIGHT_MS, slotStartsMs, solver, errorDays });
    });
    await Promise.all(started.map((l) => l.tick(MIDNIGHT_MS)));
    await Promise.all(started.map((l) => l.settled()));
    const net = (n: number) => reference.plans[n]!.gridImportKw.map((g, t) => g - reference.plans[n]!.gridExportKw[t]!);
    started.forEach((loop, n) => {
      const anchor = loop.communityCoupling(problem.households[n]!, slotStartsMs);
      expect(anchor, `${ids[n]}: ${lines.join('\n')}`).toBeDefined();
      expect(anchor!.netTargetKw).toEqual(net(n));
      expect(anchor!.netPriceEurPerKwh).toEqual(reference.couplingPriceEurPerKwh);
    });
    expect(lines.filter((l) => l.includes('among gw-a, gw-b, gw-c (leader gw-a, community chance family on 3 joint samples)')).length, lines.join('\n')).toBe(3);
  });
});
