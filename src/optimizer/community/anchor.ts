/**
 * Between two community clearings a household re-plans alone, anchored to the last clearing: the
 * clearing's price of community import on its scheduled net import, and a proximal pull towards
 * the net import the clearing gave it (its part of one more sharing round with the prices frozen).
 * The evaluation's community controller (src/eval/controllers/community.ts) uses this rule too.
 */
import type { CommunityCoupling, ProblemInput } from '../types.ts';

/** How hard a re-plan holds to its cleared net import (EUR/kW²), in the runtime and the evaluation alike. */
export const ANCHOR_WEIGHT_EUR_PER_KW2 = 0.2;

/** What a household keeps of a clearing, per step of the clearing's horizon (slots by their start). */
export interface CommunityAnchor {
  slotStartsMs: number[];
  /** The clearing's price of scheduled net import (EUR/kWh). */
  priceEurPerKwh: number[];
  /** The net import the clearing gave this household (kW): its own final plan's. */
  netTargetKw: number[];
}

/**
 * The anchor over a re-plan's slots: a slot the clearing covered gets its price and target; a
 * later one no price and the forecast net load as the target (a pull towards leaving those hours
 * to the next clearing).
 */
export function anchoredCoupling(anchor: CommunityAnchor, input: ProblemInput, slotStartsMs: readonly number[]): CommunityCoupling {
  const index = new Map(anchor.slotStartsMs.map((ms, j) => [ms, j]));
  const at = (t: number) => index.get(slotStartsMs[t]!);
  return {
    netPriceEurPerKwh: slotStartsMs.map((_, t) => anchor.priceEurPerKwh[at(t) ?? -1] ?? 0),
    proximalWeightEurPerKw2: ANCHOR_WEIGHT_EUR_PER_KW2,
    netTargetKw: slotStartsMs.map((_, t) => anchor.netTargetKw[at(t) ?? -1] ?? input.netLoadForecastKw[t]! + (input.shiftable?.desiredKw[t] ?? 0)),
  };
}
