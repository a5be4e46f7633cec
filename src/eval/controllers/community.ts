/**
 * The community controllers (formulation.md §8, docs/community-coordination.md).
 *
 * Day-ahead clearing: at midnight, all households' own DRO problems — what each gateway knows —
 * plus the community's coincident-peak charge π^C and the community import chance family over the
 * households' joint forecast errors, solved
 *  - `community-dro`: distributed, by ADMM in sharing form (each gateway solves its own problem;
 *    only contributions and prices cross the wire);
 *  - `community-central`: as one joint model, the reference the distributed solution is held to.
 * Rolling in between: every other hour each gateway re-plans alone on its fresh forecast and state,
 * anchored to the clearing — the clearing's community price of import on its scheduled net import,
 * and a proximal pull towards the net import the clearing gave it (the household's part of one more
 * sharing round with the prices frozen). One clearing a day keeps the coordination's cost (tens of
 * rounds) off the hourly path; the anchor keeps the households from herding back into the same
 * cheap hours between clearings.
 * No household loses by joining: the evaluation runs each household's own controller in shadow
 * (ControllerSpec.standAlone) and settles each day's transfers on both fleets' realised bills,
 * over the days so far (src/household/bill.ts, noLossTransfers).
 * A household whose community plan failed falls back on its own (formulation.md §6), so a failed
 * clearing never leaves a gateway without a plan. The community perfect-foresight bound is the
 * joint clairvoyant optimum over a three-day look-ahead, every midnight (perfect-foresight.ts, with
 * the community terms).
 */
import { HOUR_MS } from '../../data/households.ts';
import { tariffParams } from '../../data/tariff.ts';
import { splitNetPositions } from '../../market/clearing/community-trades.ts';
import type { BilateralTrade } from '../../market/clearing/types.ts';
import { anchoredCoupling, solveCommunityCentral, solveCommunityDistributed, type CommunityAnchor, type CommunityProblem, type CommunityResult, type CommunityTerms } from '../../optimizer/community/index.ts';
import type { Plan, ProblemInput, SolveResult } from '../../optimizer/types.ts';
import type { Decision, DecisionContext, FleetController, SolveRecord } from '../controller.ts';
import type { HouseholdCase } from '../scenario.ts';
import { forecastHorizon, householdInput, planOrFallBack, realisedHorizon, solveOrFallBack, stepCommand, type HeldPlan, type Optimizer, type OptimizerSettings } from './optimizer.ts';
import { boundSettings, boundSteps, storedValueEurPerKwh } from './perfect-foresight.ts';

export interface CommunitySettings {
  /** π^C (EUR per kW of the community's daily peak). */
  peakChargeEurPerKwDay: number;
  /** ε^C of the community import family; null: the family is off. */
  importEpsilon: number | null;
  radiusKw: number;
  sampleCount: number;
  timeBudgetMs: number;
  /**
   * Hours between two clearings, counted from midnight (24: day-ahead only). Between clearings the
   * households re-plan alone, anchored to the last one. The perfect-foresight bound clears daily.
   */
  reclearEveryHours: number;
  /**
   * The live community guard: each hour the batteries with energy to spare discharge further, in
   * proportion to what each has left to give, until the community's coincident import is back at
   * today's planned community peak (or the day's billed one, if higher): hour by hour, what the
   * gateways' guard does each fast period (src/runtime/community-guard.ts).
   */
  liveGuard?: boolean;
}

export type CommunityMode = 'distributed' | 'central' | 'perfect-foresight';

/** The community terms of the hour: one peak per UTC day of the horizon, today's already at its realised level. */
function communityTerms(context: DecisionContext, steps: number, settings: CommunitySettings, jointSamplesKw: number[][][] | null): CommunityTerms {
  const dayOfStep = Array.from({ length: steps }, (_, k) => Math.floor((context.hourOfDay + k) / 24));
  return {
    peakChargeEurPerKwDay: settings.peakChargeEurPerKwDay,
    dayOfStep,
    peakSoFarKw: Array.from({ length: dayOfStep[steps - 1]! + 1 }, (_, d) => (d === 0 ? context.communityPeakSoFarKw : 0)),
    ...(jointSamplesKw && settings.importEpsilon !== null ? { chance: { epsilon: settings.importEpsilon, radiusKw: settings.radiusKw, jointSamplesKw } } : {}),
  };
}

/**
 * ξ̂ⁱ of all households on the same past days i (I × N × T): the days every household has an error
 * trajectory for, the most similar to now first (the order of the first household's store).
 */
export function jointSamples(households: readonly HouseholdCase[], atMs: number, count: number): number[][][] {
  const pools = households.map((h) => new Map(h.samplesAt(atMs, Number.MAX_SAFE_INTEGER).map((s) => [s.issuedMs, s.errorKw])));
  const joint: number[][][] = [];
  for (const [issuedMs] of pools[0] ?? []) {
    if (joint.length === count) break;
    if (pools.every((p) => p.has(issuedMs))) joint.push(pools.map((p) => p.get(issuedMs)!));
  }
  return joint;
}

/** The starts of `steps` hourly steps from `startMs`. */
function hourStarts(startMs: number, steps: number): number[] {
  return Array.from({ length: steps }, (_, t) => startMs + t * HOUR_MS);
}

export function communityController(mode: CommunityMode, households: readonly HouseholdCase[], settings: CommunitySettings, optimizerSettings: OptimizerSettings, createOptimizer: () => Optimizer): FleetController {
  const optimizers = households.map(() => createOptimizer());
  let held: (HeldPlan | null)[] = households.map(() => null);
  const bound = boundSettings(optimizerSettings);

  function problem(contexts: readonly DecisionContext[]): { inputs: ProblemInput[]; terms: CommunityTerms } {
    const nowMs = contexts[0]!.hour.realised.timeMs;
    if (mode === 'perfect-foresight') {
      const steps = Math.min(...households.map((h) => boundSteps(h, nowMs)));
      const inputs = contexts.map((c) => householdInput(c, realisedHorizon(c.household.realisedFrom(nowMs, steps), c.household.tariffFrom(nowMs, steps), storedValueEurPerKwh(c.household)), bound));
      return { inputs, terms: communityTerms(contexts[0]!, steps, { ...settings, importEpsilon: null }, null) };
    }
    const inputs = contexts.map((c) => householdInput(c, forecastHorizon(c, { kind: 'dro', radiusKw: settings.radiusKw }), optimizerSettings));
    const joint = settings.importEpsilon === null ? null : jointSamples(households, nowMs, settings.sampleCount);
    return { inputs, terms: communityTerms(contexts[0]!, inputs[0]!.stepHours.length, settings, joint && joint.length > 0 ? joint : null) };
  }

  async function solve(inputs: ProblemInput[], terms: CommunityTerms, startMs: number): Promise<CommunityResult & { rounds?: number }> {
    const community: CommunityProblem = { households: inputs, terms, startMs };
    if (mode === 'distributed') {
      // Cold, as the gateways clear over MQTT: yesterday's final state as the start took more rounds,
      // not fewer (docs/community.md, "Against the evaluation"), and the two would part ways from the first round.
      return solveCommunityDistributed(community, { solveBudgetMs: settings.timeBudgetMs });
    }
    return solveCommunityCentral(community, { timeBudgetMs: settings.timeBudgetMs });
  }

  let anchors: (CommunityAnchor | null)[] = households.map(() => null);
  /** With the live guard, today's coincident peak as the day's first clearing planned it (kW); null: no guard. */
  let plannedCommunityPeakKw: number | null = null;
  /** The day's P2P trades by hour, fixed at its first clearing (as the runtime commits them). */
  let dayTrades: BilateralTrade[] = [];

  /** What each household sold in hour `hourOfDay`, by buyer: the seller's decision carries it. */
  const salesOf = (n: number, hourOfDay: number) => dayTrades.filter((t) => t.slot === hourOfDay && t.seller === String(n)).map((t) => ({ buyer: Number(t.buyer), energyKwh: t.energyKwh, priceEurPerKwh: t.priceEurPerKwh }));

  /** A re-plan between clearings: each household alone on its own optimizer, anchored to the day's clearing. */
  async function anchored(contexts: readonly DecisionContext[], nowMs: number): Promise<Decision[]> {
    const decisions: Decision[] = [];
    for (const [n, c] of contexts.entries()) {
      const input = householdInput(c, forecastHorizon(c, { kind: 'dro', radiusKw: settings.radiusKw }), optimizerSettings);
      const anchor = anchors[n];
      const solved = await solveOrFallBack(optimizers[n]!, anchor ? { ...input, community: anchoredCoupling(anchor, input, hourStarts(nowMs, input.stepHours.length)) } : input, nowMs, held[n]!);
      held[n] = solved.held;
      decisions.push({ command: stepCommand(solved.held, 0, true, c.energyKwh), solve: solved.record });
    }
    return decisions;
  }

  return {
    async decide(contexts): Promise<Decision[]> {
      const decisions = await decideHour(contexts);
      const hourOfDay = contexts[0]!.hourOfDay;
      return decisions.map((d, n) => {
        const sales = salesOf(n, hourOfDay);
        return sales.length > 0 ? { ...d, sales } : d;
      });
    },
    communityGuardKw(contexts) {
      return plannedCommunityPeakKw === null ? undefined : Math.max(plannedCommunityPeakKw, contexts[0]!.communityPeakSoFarKw);
    },
    dispose() {
      for (const o of optimizers) o.dispose?.();
      held = [];
      anchors = [];
    },
  };

  async function decideHour(contexts: readonly DecisionContext[]): Promise<Decision[]> {
    const nowMs = contexts[0]!.hour.realised.timeMs;
    const every = mode === 'perfect-foresight' ? 24 : settings.reclearEveryHours;
    const clearingHour = contexts[0]!.hourOfDay % every === 0 || held.some((h) => h === null);
    if (mode === 'perfect-foresight' && !clearingHour) {
      return contexts.map((c, n) => ({ command: stepCommand(held[n]!, Math.round((nowMs - held[n]!.solvedAtMs) / HOUR_MS), false, c.energyKwh) }));
    }
    if (!clearingHour) return anchored(contexts, nowMs);
    const { inputs, terms } = problem(contexts);
    const started = performance.now();
    let result: CommunityResult;
    let unhandled = false;
    try {
      result = await solve(inputs, terms, nowMs);
    } catch (error) {
      unhandled = true;
      result = { ok: false, status: 'error', message: (error as Error).message, plans: [], communityPeakByDayKw: [], objectiveEur: NaN, couplingPriceEurPerKwh: [], solveMs: performance.now() - started };
    }
    const solveMs = performance.now() - started;
    // The day's P2P trades and the live guard's level are fixed at its first clearing; later re-clearings move plans.
    if (contexts[0]!.hourOfDay === 0) {
      dayTrades = result.ok ? p2pTrades(inputs, result.plans) : [];
      plannedCommunityPeakKw = settings.liveGuard && mode !== 'perfect-foresight' && result.ok ? (result.communityPeakByDayKw[0] ?? null) : null;
    }
    return contexts.map((c, n) => {
      const own: SolveResult = result.ok ? { ok: true, plan: result.plans[n]! } : { ok: false, status: result.status === 'optimal' ? 'numerical' : result.status, message: result.message ?? 'community clearing failed', solveMs };
      const solved: { held: HeldPlan; record: SolveRecord } = planOrFallBack(own, inputs[n]!, nowMs, held[n]!, solveMs / contexts.length, unhandled);
      held[n] = solved.held;
      const plan = solved.held.plan;
      anchors[n] = result.ok ? { slotStartsMs: hourStarts(nowMs, plan.gridImportKw.length), priceEurPerKwh: result.couplingPriceEurPerKwh, netTargetKw: plan.gridImportKw.map((g, t) => g - plan.gridExportKw[t]!) } : null;
      return { command: stepCommand(solved.held, 0, mode !== 'perfect-foresight', c.energyKwh), solve: solved.record };
    });
  }
}

/**
 * The day's P2P trades: the clearing's planned net positions of the day's 24 hours split pro rata
 * (splitNetPositions, as the runtime's clearing does), each household buying at most at its buy
 * price less the local-trade fee and selling at least at its feed-in price.
 */
function p2pTrades(inputs: readonly ProblemInput[], plans: readonly Plan[]): BilateralTrade[] {
  const hours = 24;
  const feeEurPerKwh = tariffParams.p2pGridFeeEurPerKwh;
  const reservations = inputs.map((input) => ({
    maxBuyEurPerKwh: input.tariff.buyEurPerKwh.slice(0, hours).map((c) => c - feeEurPerKwh),
    minSellEurPerKwh: input.tariff.sellEurPerKwh.slice(0, hours),
    maxTradeKw: Infinity,
  }));
  const netKwh = plans.map((p) => p.gridImportKw.slice(0, hours).map((g, t) => (g - p.gridExportKw[t]!) * p.stepHours[t]!));
  return splitNetPositions(inputs.map((_, n) => String(n)), netKwh, reservations, plans[0]!.stepHours.slice(0, hours)).trades;
}
