/**
 * What a clearing is worth to the community: every peer re-dispatches its own battery and grid
 * around its cleared trades, and the community pays Σ_n f_n(q_n) (payments between peers cancel).
 */
import type { Prosumer } from './prosumer.ts';
import type { Clearing } from './types.ts';

export function communityCost(prosumers: readonly Prosumer[], clearing: Clearing): number {
  return prosumers.reduce((sum, p) => sum + p.costWithTrades(clearing.netKwh[p.profile.id] ?? new Array<number>(p.slots).fill(0)), 0);
}

/** (community cost after trading − central optimum) / |central optimum|. */
export function welfareGap(costEur: number, centralCostEur: number): number {
  return (costEur - centralCostEur) / Math.abs(centralCostEur);
}
