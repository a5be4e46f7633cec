/**
 * The central planner's optimum: every prosumer's LP in one model, coupled per slot by
 * Σ_n q_{n,t} = 0 (what x_nm = −x_mn amounts to once trades are summed per peer). Payments between
 * peers cancel inside the community, so its cost is grid energy + P2P fees − terminal value;
 * this is the lower bound a market clearing is measured against.
 */
import { LpBuilder, createQuietModel, highsRuntime, runToOptimum } from './lp.ts';
import { addPeerRows } from './prosumer.ts';
import type { MarketRules, PeerProfile } from './types.ts';

export interface CentralOptimum {
  communityCostEur: number;
  /** Net community purchase per peer id and slot (kWh). */
  netKwh: Record<string, number[]>;
  /** Duals of the community balance: the efficient P2P price per slot (EUR/kWh). */
  priceEurPerKwh: number[];
}

export async function solveCentral(peers: readonly PeerProfile[], rules: MarketRules): Promise<CentralOptimum> {
  if (peers.length === 0) throw new RangeError('a community needs at least one peer');
  const T = peers[0]!.netLoadKw.length;
  if (peers.some((p) => p.netLoadKw.length !== T || p.stepHours !== peers[0]!.stepHours)) {
    throw new RangeError('all peers of a clearing must share the slot grid');
  }
  const highs = await highsRuntime();
  const lp = new LpBuilder();
  const cols = peers.map((p) => addPeerRows(lp, p, rules));
  const communityRows = Array.from({ length: T }, (_, t) =>
    lp.addRow(0, 0, cols.map((c) => [c.tradeKwh[t]!, 1] as const)),
  );
  const model = createQuietModel(highs, lp.build());
  try {
    runToOptimum(highs, model, 'central optimum');
    const solution = model.getSolution();
    return {
      communityCostEur: model.getObjectiveValue(),
      netKwh: Object.fromEntries(peers.map((p, n) => [p.id, cols[n]!.tradeKwh.map((c) => solution.colValue[c]!)])),
      priceEurPerKwh: communityRows.map((r) => -solution.rowDual[r]!),
    };
  } finally {
    model.dispose();
  }
}
