/**
 * Community coordination in the market loop (`market.coordination: community`): three gateways'
 * loops on each real broker, each offered its household's problem as the planner offers it and
 * solving on an optimizer of its own, clear the day at midnight of the gateway clock; the anchor
 * each loop then gives the planner is its household's part of the in-process distributed clearing
 * of the same problems. A restarted gateway keeps its anchor and does not clear the day again.
 * With `market.communityImportChance` and a π^C of their own, the loops clear on the days the leader
 * names, as the in-process clearing of the same joint samples, π^C and sample-free bounds does.
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
import type { ErrorDays } from '../../src/market/clearing/sharing-household.ts';
import { generateIdentity, saveIdentity } from '../../src/market/index.ts';
import { ANCHOR_WEIGHT_EUR_PER_KW2, sharingSettings, solveCommunityDistributed, type DistributedResult } from '../../src/optimizer/community/index.ts';
import { createOptimizer, type Optimizer } from '../../src/optimizer/index.ts';
import { createMarketLoop, type MarketLoop, type MarketLoopTiming } from '../../src/runtime/market-loop.ts';
import { ManualClock } from '../../src/time/clock.ts';
import type { ProblemInput } from '../../src/optimizer/types.ts';
import { coincidentCommunity, jointSamples } from '../optimizer/community/instances.ts';
import { BROKERS, embeddedBroker, FAST_TIMING, type TestBroker } from '../market/fixtures.ts';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

/** Midnight UTC: the day's community clearing. */
const MIDNIGHT_MS = Date.UTC(2030, 6, 15);
const SOLVE_BUDGET_MS = 5_000;
const TIMING: Partial<MarketLoopTiming> = { joinTimeoutMs: 5_000, roundTimeoutMs: 5_000, commitTimeoutMs: 8_000, node: FAST_TIMING };
const ids = ['gw-a', 'gw-b', 'gw-c'];
// T = 6 hourly steps from midnight, one billing day: alone, the three batteries charge in the same cheap hour.
const problem = coincidentCommunity(3);
const slotStartsMs = problem.households[0]!.stepHours.map((_, t) => MIDNIGHT_MS + t * HOUR_MS);
const settings = sharingSettings({ solveBudgetMs: SOLVE_BUDGET_MS });
/** The solver a gateway's agent would create for itself: the reference's local steps, solve for solve. */
const localSolver = () => createOptimizer({ timeBudgetMs: SOLVE_BUDGET_MS, highsGap: { relative: 1e-7, absolute: 1e-7 } });

let reference: DistributedResult;
beforeAll(async () => {
  reference = await solveCommunityDistributed({ ...problem, startMs: MIDNIGHT_MS }, settings);
  expect(reference.ok && reference.converged).toBe(true);
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

type MarketSettings = Partial<NonNullable<GatewayConfig['market']>>;

function config(dir: string, communityId: string, id: string, brokerUrl: string, market: MarketSettings): GatewayConfig {
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
    control: {
      fastPeriodS: 2,
      stepMinutes: 60,
      horizonSteps: 6,
      samples: 3,
      radiusKw: 0.02,
      epsilon: 0.05,
      method: 'joint',
      importLimit: 'connection',
      solver: 'highs',
      solveBudgetMs: SOLVE_BUDGET_MS,
      socGuardBandKwh: 0.2,
      revertTimeoutS: 30,
      batteryWearEurPerKw2h: 0.005,
      deferralEurPerKwh2: 0.01,
    },
    forecast: {},
    market: { brokerUrl, community: communityId, identityFile: join(dir, id, 'identity.json'), membersFile: join(dir, 'members.json'), maxTradeKw: 4, coordination: 'community', reclearEveryHours: 24, ...market },
    storage: { dir: join(dir, id), measurementEveryS: 300 },
    telemetry: {},
  };
}

/**
 * Three gateways' market loops on one broker and one manual clock at midnight, each offered its
 * household's problem, and with the chance family its error trajectories by day: sample i issued
 * i + 1 days before midnight, as a gateway's error store holds them.
 */
async function community(start: () => Promise<TestBroker>, households: readonly ProblemInput[], market: MarketSettings = {}, connections: Record<string, { maxImportKw: number; maxExportKw: number }> = {}) {
  broker = await start();
  root = mkdtempSync(join(tmpdir(), 'pe-community-loop-'));
  const dir = root;
  const communityId = `t-${randomUUID().slice(0, 12)}`;
  const identities = ids.map((id) => generateIdentity(id));
  for (const identity of identities) saveIdentity(identity, join(dir, identity.peerId, 'identity.json'));
  writeFileSync(join(dir, 'members.json'), JSON.stringify({ members: identities.map(({ peerId, publicKey }) => ({ peerId, publicKey, ...connections[peerId] })) }));
  const clock = new ManualClock(MIDNIGHT_MS);
  const lines: string[] = [];
  const startLoop = async (id: string) => {
    const loop = createMarketLoop({ config: config(dir, communityId, id, broker!.url, market), clock, dataDir: join(dir, id, 'market'), plan: () => null, log: (level, line) => lines.push(`${id} ${level} ${line}`), timing: TIMING });
    await loop.start();
    loops.push(loop);
    return loop;
  };
  const started = await Promise.all(ids.map(startLoop));
  started.forEach((loop, n) => {
    const solver = localSolver();
    optimizers.push(solver);
    const input = households[n]!;
    loop.offerProblem({ input, startMs: MIDNIGHT_MS, slotStartsMs, solver, ...(market.communityImportChance ? { errorDays: errorDaysOf(input) } : {}) });
  });
  return { clock, lines, startLoop, started };
}

function errorDaysOf(input: ProblemInput): ErrorDays {
  const store = new ErrorSampleStore(input.stepHours.length);
  input.errorSamplesKw.forEach((errorKw, i) => store.add({ issuedMs: MIDNIGHT_MS - (i + 1) * DAY_MS, errorKw }));
  return { nearest: (count) => store.samples(MIDNIGHT_MS, count).map((s) => s.issuedMs), on: (days) => store.onDays(MIDNIGHT_MS, days).map((s) => s.errorKw) };
}

describe.each(BROKERS)('community coordination in the market loop over $name', ({ start }) => {
  it('three gateways clear the day at midnight; each anchor is its household’s part of the in-process clearing; a restart keeps it', async () => {
    const { clock, lines, startLoop, started } = await community(start, problem.households);
    // Before the day's clearing there is no anchor: the planner plans alone.
    expect(started[0]!.communityCoupling(problem.households[0]!, slotStartsMs)).toBeUndefined();
    await Promise.all(started.map((l) => l.tick(MIDNIGHT_MS)));
    await Promise.all(started.map((l) => l.settled()));
    const net = (n: number) => reference.plans[n]!.gridImportKw.map((g, t) => g - reference.plans[n]!.gridExportKw[t]!);
    started.forEach((loop, n) => {
      const anchor = loop.communityCoupling(problem.households[n]!, slotStartsMs);
      expect(anchor, `${ids[n]}: ${lines.join('\n')}`).toBeDefined();
      expect(anchor!.proximalWeightEurPerKw2).toBe(ANCHOR_WEIGHT_EUR_PER_KW2);
      anchor!.netTargetKw.forEach((v, t) => expect(v).toBeCloseTo(net(n)[t]!, 6));
      anchor!.netPriceEurPerKwh.forEach((p, t) => expect(p).toBeCloseTo(reference.couplingPriceEurPerKwh[t]!, 6));
    });
    // Every gateway logs the same clearing among all three.
    expect(lines.filter((l) => l.includes('community clearing of 2030-07-15 among gw-a, gw-b, gw-c')).length).toBe(3);

    // A restart the same day: the anchor is back from the journal, and the day is not cleared again (nor auctioned).
    const restartedAt = MIDNIGHT_MS + 2 * HOUR_MS;
    clock.advance(restartedAt - MIDNIGHT_MS);
    const before = started[1]!.communityCoupling(problem.households[1]!, slotStartsMs);
    await started[1]!.close();
    loops.splice(loops.indexOf(started[1]!), 1);
    const again = await startLoop(ids[1]!);
    expect(again.communityCoupling(problem.households[1]!, slotStartsMs)).toEqual(before);
    const linesBefore = lines.length;
    await again.tick(restartedAt);
    await again.settled();
    expect(lines.slice(linesBefore).filter((l) => l.includes('community clearing') || l.includes('window'))).toEqual([]);
  });

  it('a household that exports while the others import sells them the overlap: each trade is in both ledgers with opposite signs, none beyond a cleared position', async () => {
    // gw-a's PV exceeds what its battery takes: it exports in every hour while gw-b and gw-c import.
    const households = problem.households.map((h, n) => (n === 0 ? { ...h, netLoadForecastKw: h.netLoadForecastKw.map(() => -9) } : h));
    const { lines, started } = await community(start, households);
    await Promise.all(started.map((l) => l.tick(MIDNIGHT_MS)));
    await Promise.all(started.map((l) => l.settled()));
    const views = started.map((l) => l.trades().filter((t) => t.state === 'committed'));
    expect(views[0]!.length, lines.join('\n')).toBeGreaterThan(0);
    expect(views[0]!.every((t) => t.powerKw < 0)).toBe(true);
    // The seller's record of each trade is the buyer's, with the opposite sign.
    for (const sale of views[0]!) {
      const purchase = views[ids.indexOf(sale.peerId)]!.find((t) => t.tradeId === sale.tradeId);
      expect(purchase?.powerKw).toBeCloseTo(-sale.powerKw, 12);
      expect(purchase?.priceEurPerKwh).toBe(sale.priceEurPerKwh);
    }
    // Nobody trades more than its cleared net import (its anchor's target) in any hour.
    started.forEach((loop, n) => {
      const cleared = loop.communityCoupling(households[n]!, slotStartsMs)!.netTargetKw;
      slotStartsMs.forEach((slotMs, t) => {
        const tradedKw = views[n]!.filter((v) => v.slotStartMs === slotMs).reduce((sum, v) => sum + v.powerKw, 0);
        expect(Math.abs(tradedKw)).toBeLessThanOrEqual(Math.abs(cleared[t]!) + 1e-6);
        if (tradedKw !== 0) expect(Math.sign(tradedKw)).toBe(Math.sign(cleared[t]!));
      });
    });
    expect(lines.filter((l) => l.includes('P2P') && l.includes('trades committed')).length).toBe(3);
  });

  it('re-cleared every 3 hours, the gateways re-anchor at 03:00 to the clearing of their fresh problems; the day keeps its midnight trades; a failed re-clearing leaves the last anchor in force', async () => {
    const households = problem.households.map((h, n) => (n === 0 ? { ...h, netLoadForecastKw: h.netLoadForecastKw.map(() => -9) } : h));
    const { clock, lines, started } = await community(start, households, { reclearEveryHours: 3 });
    await Promise.all(started.map((l) => l.tick(MIDNIGHT_MS)));
    await Promise.all(started.map((l) => l.settled()));
    const committed = () => started.map((l) => l.trades().filter((t) => t.state === 'committed').map((t) => t.tradeId).sort());
    const midnightTrades = committed();
    expect(midnightTrades[0]!.length, lines.join('\n')).toBeGreaterThan(0);

    // At 03:00 each planner offers its problem on a fresher forecast: the consumers now expect 1 kW more.
    const reclearMs = MIDNIGHT_MS + 3 * HOUR_MS;
    clock.advance(3 * HOUR_MS);
    const fresher = households.map((h, n) => (n === 0 ? h : { ...h, netLoadForecastKw: h.netLoadForecastKw.map((kw) => kw + 1) }));
    const laterSlotsMs = slotStartsMs.map((ms) => ms + 3 * HOUR_MS);
    started.forEach((loop, n) => loop.offerProblem({ input: fresher[n]!, startMs: reclearMs, slotStartsMs: laterSlotsMs, solver: optimizers[n]! }));
    await Promise.all(started.map((l) => l.tick(reclearMs)));
    await Promise.all(started.map((l) => l.settled()));
    const reference3 = await solveCommunityDistributed({ households: fresher, terms: problem.terms, startMs: reclearMs }, settings);
    expect(reference3.ok && reference3.converged).toBe(true);
    started.forEach((loop, n) => {
      const anchor = loop.communityCoupling(fresher[n]!, laterSlotsMs)!;
      const net = reference3.plans[n]!.gridImportKw.map((g, t) => g - reference3.plans[n]!.gridExportKw[t]!);
      anchor.netTargetKw.forEach((v, t) => expect(v).toBeCloseTo(net[t]!, 6));
      anchor.netPriceEurPerKwh.forEach((p, t) => expect(p).toBeCloseTo(reference3.couplingPriceEurPerKwh[t]!, 6));
    });
    expect(lines.filter((l) => l.includes('community clearing of 2030-07-15T03:00 among gw-a, gw-b, gw-c')).length).toBe(3);
    expect(committed()).toEqual(midnightTrades);

    // At 06:00 only gw-a is up to it: its re-clearing fails (nobody joins) and the 03:00 anchor stays in force.
    const before = started[0]!.communityCoupling(fresher[0]!, laterSlotsMs);
    clock.advance(3 * HOUR_MS);
    await started[0]!.tick(MIDNIGHT_MS + 6 * HOUR_MS);
    await started[0]!.settled();
    expect(lines.some((l) => l.startsWith('gw-a warn') && l.includes('community clearing of 2030-07-15T06:00 failed'))).toBe(true);
    expect(started[0]!.communityCoupling(fresher[0]!, laterSlotsMs)).toEqual(before);
  });
});

describe.each(BROKERS)('the live community guard in the market loop over $name', ({ start }) => {
  it('at each fast period the gateways exchange their imports and decide alike: the clearing’s scheduled peak is held, each battery gives the same share of its room', async () => {
    const { clock, lines, started } = await community(start, problem.households);
    await Promise.all(started.map((l) => l.tick(MIDNIGHT_MS)));
    await Promise.all(started.map((l) => l.settled()));
    // The community's scheduled net import per slot, from the in-process clearing of the same problems.
    const scheduledKw = slotStartsMs.map((_, t) => reference.plans.reduce((sum, plan) => sum + plan.gridImportKw[t]! - plan.gridExportKw[t]!, 0));
    const peakKw = Math.max(...scheduledKw);
    expect(peakKw).toBeGreaterThan(0.5);
    const atMs = MIDNIGHT_MS + HOUR_MS;
    clock.advance(HOUR_MS);
    // The community imports 1.5 times its scheduled peak; the batteries have 3.5 kW of room between them.
    const importKw = [0.6, 0.5, 0.4].map((f) => f * peakKw);
    const roomKw = [1, 2, 0.5];
    // Each runs its iteration a little after the instant, as on a real clock: all report for 01:00.
    const lateMs = [0, 150, 320];
    const decisions = await Promise.all(started.map((l, n) => l.guardCommunity({ atMs: atMs + lateMs[n]!, importKw: importKw[n]!, hourSoFarKwh: 0, roomKw: roomKw[n]! })));
    for (const decision of decisions) {
      expect(decision, lines.join('\n')).not.toBeNull();
      expect(decision!.atMs).toBe(atMs);
      expect(decision!.members).toEqual(ids);
      expect(decision!.guardKw).toBeCloseTo(peakKw, 6);
      expect(decision!.share).toBeCloseTo((0.5 * peakKw) / 3.5, 6);
      expect(decision).toEqual(decisions[0]);
    }
    // Another iteration at the instant applies its decision; an instant between two fast periods has none.
    await expect(started[1]!.guardCommunity({ atMs, importKw: 0, hourSoFarKwh: 0, roomKw: 0 })).resolves.toEqual(decisions[1]);
    await expect(started[1]!.guardCommunity({ atMs: atMs + 1_000, importKw: 0, hourSoFarKwh: 0, roomKw: 0 })).resolves.toBeNull();

    // gw-c stays online but stops reporting: it is waited for once, then the others decide between themselves.
    for (const next of [atMs + 2_000, atMs + 4_000]) {
      clock.advance(2_000);
      // Each has imported at its present rate since the hour began.
      const soFarH = (next - atMs) / HOUR_MS;
      const two = await Promise.all(started.slice(0, 2).map((l, n) => l.guardCommunity({ atMs: next, importKw: importKw[n]!, hourSoFarKwh: importKw[n]! * soFarH, roomKw: roomKw[n]! })));
      for (const decision of two) {
        expect(decision!.members).toEqual(['gw-a', 'gw-b']);
        // 1.1 × the peak against the two households' share of the schedule, peak of their slot sums.
        const theirsKw = Math.max(...slotStartsMs.map((_, t) => [0, 1].reduce((sum, n) => sum + reference.plans[n]!.gridImportKw[t]! - reference.plans[n]!.gridExportKw[t]!, 0)));
        expect(decision!.guardKw).toBeCloseTo(theirsKw, 6);
        const allowedKw = (theirsKw - 1.1 * peakKw * soFarH) / (1 - soFarH);
        expect(decision!.share).toBeCloseTo(Math.min(1, Math.max(0, 1.1 * peakKw - allowedKw) / 3), 6);
      }
    }
  });

  it('a member that claims more than its listed connection carries counts as one at its limits', async () => {
    const { clock, lines, started } = await community(start, problem.households, {}, { 'gw-c': { maxImportKw: 3, maxExportKw: 2 } });
    await Promise.all(started.map((l) => l.tick(MIDNIGHT_MS)));
    await Promise.all(started.map((l) => l.settled()));
    const atMs = MIDNIGHT_MS + HOUR_MS;
    clock.advance(HOUR_MS);
    // gw-c, with a valid key, claims 50 kW of import, 40 kW of room and, at the hour's first instant, 20 kWh imported in it.
    const claims = [
      { importKw: 1, hourSoFarKwh: 0, roomKw: 1 },
      { importKw: 1, hourSoFarKwh: 0, roomKw: 2 },
      { importKw: 50, hourSoFarKwh: 20, roomKw: 40 },
    ];
    const decisions = await Promise.all(started.map((l, n) => l.guardCommunity({ atMs, ...claims[n]! })));
    for (const decision of decisions.slice(0, 2)) {
      expect(decision, lines.join('\n')).not.toBeNull();
      expect(decision!.communityImportKw).toBeCloseTo(1 + 1 + 3, 9);
      expect(decision!.hourSoFarKwh).toBe(0);
      expect(decision!.roomKw).toBeCloseTo(1 + 2 + 5, 9);
      expect(decision!.share).toBeCloseTo(Math.min(1, Math.max(0, 5 - decision!.guardKw) / 8), 9);
    }
  });
});

describe('the market loop’s community clearing with the community import chance family (embedded broker)', () => {
  const chance = { epsilon: 0.1, radiusKw: 0.02, samples: 3 };
  const peakChargeEurPerKwDay = 2;
  let withChance: DistributedResult;
  beforeAll(async () => {
    const terms = { ...problem.terms, peakChargeEurPerKwDay, chance: { epsilon: chance.epsilon, radiusKw: chance.radiusKw, jointSamplesKw: jointSamples(problem.households) } };
    withChance = await solveCommunityDistributed({ ...problem, terms, startMs: MIDNIGHT_MS }, { ...settings, chanceBounds: 'connection' });
    expect(withChance.ok).toBe(true);
  });

  it('clears at midnight on the leader’s days, with the configured π^C: each anchor is its household’s part of the in-process clearing', async () => {
    const { lines, started } = await community(embeddedBroker, problem.households, { communityPeakChargeEurPerKwDay: peakChargeEurPerKwDay, communityImportChance: chance });
    await Promise.all(started.map((l) => l.tick(MIDNIGHT_MS)));
    await Promise.all(started.map((l) => l.settled()));
    const net = (n: number) => withChance.plans[n]!.gridImportKw.map((g, t) => g - withChance.plans[n]!.gridExportKw[t]!);
    started.forEach((loop, n) => {
      const anchor = loop.communityCoupling(problem.households[n]!, slotStartsMs);
      expect(anchor, `${ids[n]}: ${lines.join('\n')}`).toBeDefined();
      expect(anchor!.netTargetKw).toEqual(net(n));
      expect(anchor!.netPriceEurPerKwh).toEqual(withChance.couplingPriceEurPerKwh);
    });
    expect(lines.filter((l) => l.includes('among gw-a, gw-b, gw-c (leader gw-a, community chance family on 3 joint samples)')).length, lines.join('\n')).toBe(3);
  });
});
