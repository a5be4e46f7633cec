import { beforeAll, describe, expect, it, vi } from 'vitest';
import { clearAdmm, defaultAdmmSettings, initialPrice } from '../../../src/market/clearing/admm.ts';
import { tradeMatrix } from '../../../src/market/clearing/bilateral.ts';
import { solveCentral } from '../../../src/market/clearing/central.ts';
import { marketRules } from '../../../src/market/clearing/community.ts';
import { Prosumer } from '../../../src/market/clearing/prosumer.ts';
import type { Clearing, PeerProfile } from '../../../src/market/clearing/types.ts';
import { communityCost, welfareGap } from '../../../src/market/clearing/welfare.ts';
import { householdDay } from './households.ts';

// Real solves and a real broker on a loaded 2-core machine: generous limits, never timing assertions.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

let peers: PeerProfile[];
let centralCostEur: number;

/** A clearing from scratch: fresh prosumers, so nothing carries over from an earlier run. */
async function clear(absentFrom?: Map<string, number>): Promise<{ clearing: Clearing; costEur: number; aloneEur: number }> {
  const prosumers = await Promise.all(peers.map((p) => Prosumer.create(p, marketRules)));
  try {
    const clearing = clearAdmm(prosumers, defaultAdmmSettings, initialPrice(peers[0]!.buyEurPerKwh, peers[0]!.sellEurPerKwh, marketRules.p2pFeeEurPerKwh), absentFrom);
    const aloneEur = prosumers.reduce((s, p) => s + p.planAlone().costEur, 0);
    return { clearing, costEur: communityCost(prosumers, clearing), aloneEur };
  } finally {
    prosumers.forEach((p) => p.dispose());
  }
}

let first: Awaited<ReturnType<typeof clear>>;

beforeAll(async () => {
  // The four real households on a summer test day: three with PV surplus at noon, one consumer.
  peers = await householdDay(24);
  centralCostEur = (await solveCentral(peers, marketRules)).communityCostEur;
  first = await clear();
});

describe('consensus-ADMM clearing of the four households', () => {
  it('converges to within 1 % of the central optimum, and trading beats going alone', () => {
    expect(first.clearing.converged).toBe(true);
    expect(welfareGap(first.costEur, centralCostEur)).toBeLessThanOrEqual(0.01);
    expect(welfareGap(first.costEur, centralCostEur)).toBeGreaterThanOrEqual(-1e-9); // nobody beats the planner
    expect(first.costEur).toBeLessThan(first.aloneEur - 0.5);
  });

  it('gives bilateral trades with exact antisymmetry that add up to each peer\'s net position', () => {
    const ids = first.clearing.peerIds;
    expect(first.clearing.trades.length).toBeGreaterThan(0);
    for (let t = 0; t < 24; t++) {
      const x = tradeMatrix(ids, first.clearing.trades, t);
      for (const n of ids) {
        for (const m of ids) expect(Object.is(x[n]![m], -x[m]![n]!) || (x[n]![m] === 0 && x[m]![n] === 0)).toBe(true);
        const rowSum = ids.reduce((s, m) => s + x[n]![m]!, 0);
        expect(rowSum).toBeCloseTo(first.clearing.netKwh[n]![t]!, 12);
        // A peer never buys and sells in the same slot (that would pay the fee for nothing).
        const row = Object.values(x[n]!);
        expect(row.some((v) => v > 0) && row.some((v) => v < 0)).toBe(false);
      }
      expect(ids.reduce((s, n) => s + first.clearing.netKwh[n]![t]!, 0)).toBeCloseTo(0, 12);
    }
    for (const trade of first.clearing.trades) {
      expect(trade.priceEurPerKwh).toBe(first.clearing.priceEurPerKwh[trade.slot]);
      expect(trade.energyKwh).toBeGreaterThan(0);
    }
  });

  it('is reproducible: a second clearing of the same day gives the same trades and prices, bit for bit', async () => {
    const second = await clear();
    expect(JSON.stringify(second.clearing)).toBe(JSON.stringify(first.clearing));
    expect(second.costEur).toBe(first.costEur);
  });

  it('a peer that stops answering from round 3 on trades nothing, and the others still clear', async () => {
    const missing = peers[1]!.id; // the consumer without PV, the main buyer
    const { clearing, costEur, aloneEur } = await clear(new Map([[missing, 3]]));
    expect(clearing.converged).toBe(true);
    expect(clearing.netKwh[missing]!.every((q) => q === 0)).toBe(true);
    expect(clearing.trades.some((t) => t.buyer === missing || t.seller === missing)).toBe(false);
    for (let t = 0; t < 24; t++) expect(clearing.peerIds.reduce((s, n) => s + clearing.netKwh[n]![t]!, 0)).toBeCloseTo(0, 12);
    expect(costEur).toBeLessThanOrEqual(aloneEur + 1e-9);
  });
});
