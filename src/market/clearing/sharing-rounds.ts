/**
 * The community clearing (formulation §8: ADMM in sharing form, docs/community-coordination.md)
 * over the market's signed round messages, with the leader and failover of `runClearing`
 * (rounds.ts): the leader runs the coordinator's half (SharingCoordinator) and its own household,
 * every other participant answers with its household's half (HouseholdAgent).
 *
 * Per round, and nothing else:
 *  - leader → all (`sharing-round`, one broadcast): the round, its participants, ρ, the scaled
 *    prices u (ρu is the price of net import per kW), the common shift (z − Σx̂)/N from which each
 *    household computes its own target z_n (nextTarget: the same operations as the coordinator's,
 *    so the same bits), λ and each participant's κ price;
 *  - household → leader (`sharing-answer`): its scheduled net import per step (T numbers), κ, its
 *    grid connection limits (the coordinator's column bounds), and the prices at which it trades
 *    with a neighbour (its ceiling to buy and floor to sell per step, community-trades.ts).
 * Never a load, forecast, sample or battery state. The community chance family is not run here:
 * its contributions and the coordinator's bounds would carry the households' error samples.
 *
 * The leader's `clearing-result` carries the P2P trades: the final net positions split pro rata
 * (splitNetPositions). A household commits them only inside its own final plan and prices (the
 * market loop's mandate), so a leader that invents trades gets none committed.
 *
 * A household commits only its own plan, computed by itself: the leader's messages set its prices
 * and target, never its plan. The last round message (`done`) carries the final prices; the
 * `clearing-result` that ends `runClearing` carries the participants and rounds, and a household
 * refuses one that does not match the `done` it heard from the same leader. A participant that
 * does not answer a round within `roundTimeoutMs` is dropped and the rest go on from the same
 * prices; a failed leader's successor clears again from the start.
 */
import type { Plan } from '../../optimizer/types.ts';
import { SharingCoordinator, nextTarget, type ContributionOf, type CoordinatorTerms, type HouseholdAgent, type HouseholdAnswer, type SharingPrices, type SharingSettings } from '../../optimizer/community/index.ts';
import { netFromTrades } from './bilateral.ts';
import { splitNetPositions, type Reservation } from './community-trades.ts';
import { answers, collector, runClearing, type ClearingOptions, type Led, type RoundChannel, type Server } from './rounds.ts';
import type { BilateralTrade, Clearing } from './types.ts';

/** What this peer coordinates with when it leads (the community's terms, the same on every gateway). */
export interface SharingSpec {
  terms: CoordinatorTerms;
  stepHours: number[];
  settings: SharingSettings;
}

/** This household's part of a finished clearing. */
export interface SharingOutcome {
  leader: string;
  participants: string[];
  rounds: number;
  converged: boolean;
  /** Its own plan of the final round. */
  plan: Plan;
  /** The clearing's price of scheduled net import per step (EUR/kWh): ρu_t/Δt. */
  couplingPriceEurPerKwh: number[];
  /** The P2P trades of the leader's result (all of them; a household commits only its own, within its mandate). */
  trades: BilateralTrade[];
}

interface RoundMessage {
  clearing: string;
  round: number;
  participants: string[];
  penaltyEurPerKw2: number;
  scaledPrice: number[];
  shareShiftKw: number[];
  lipschitz: number;
  lipschitzScaledPrice: number[];
  done: boolean;
  converged: boolean;
}

interface AnswerMessage {
  clearing: string;
  leader: string;
  round: number;
  contributionKw: number[];
  lipschitzCopy: number;
  maxImportKw: number;
  maxExportKw: number;
  /** Empty: this household does not trade. */
  maxBuyEurPerKwh: number[];
  minSellEurPerKwh: number[];
  maxTradeKw: number;
}

/**
 * One peer's part in a community clearing, leading or answering. Resolves with this household's
 * outcome, or null when it was dropped (it commits nothing from this clearing); rejects when the
 * clearing fails here (a refused result, an abort, a failed z-update of the leader, no household left).
 */
export async function runSharing(channel: RoundChannel, agent: HouseholdAgent, spec: SharingSpec, options: ClearingOptions, reservation?: Reservation): Promise<SharingOutcome | null> {
  const T = spec.stepHours.length;
  if (agent.length !== T) throw new Error('the community chance family is not cleared over MQTT (its contributions carry the samples)');
  // One solve at a time on the household's optimizer, also across a failover (a late answer to the old leader).
  let queue: Promise<unknown> = Promise.resolve();
  const solve = (prices: SharingPrices | undefined) => {
    const next = queue.then(() => agent.step(prices));
    queue = next.catch(() => undefined);
    return next;
  };
  const finals = new Map<string, Omit<SharingOutcome, 'trades'>>();
  // The trades of the result this household accepted from a leader, or computed as the leader.
  let acceptedTrades: BilateralTrade[] = [];
  let ledTrades: BilateralTrade[] = [];
  const tradePrices = { maxBuyEurPerKwh: reservation?.maxBuyEurPerKwh ?? [], minSellEurPerKwh: reservation?.minSellEurPerKwh ?? [], maxTradeKw: reservation?.maxTradeKw ?? 0 };
  let accepted: string | undefined;
  const { maxImportKw, maxExportKw } = agent.limits(false);
  const price = (m: RoundMessage) => spec.stepHours.map((h, t) => (m.penaltyEurPerKw2 * m.scaledPrice[t]!) / h);

  const serve = (leader: string): Server => {
    let answered: { round: number; x: number[]; target: number[]; plan: Plan; payload: AnswerMessage } | undefined;
    let busy = false;
    const publish = (payload: AnswerMessage) => channel.publish('sharing-answer', payload).catch(() => undefined);
    return (name, payload) => {
      const m = payload as RoundMessage;
      if (name !== 'sharing-round' || !m.participants.includes(channel.id)) return;
      if (m.done) {
        if (answered?.round === m.round && m.scaledPrice.length === T) {
          finals.set(leader, { leader, participants: m.participants, rounds: m.round, converged: m.converged, plan: answered.plan, couplingPriceEurPerKwh: price(m) });
        }
        return;
      }
      // A round the leader sends again (an answer was missing) gets the same answer.
      if (answered?.round === m.round) return void publish(answered.payload);
      if (busy || m.round !== (answered?.round ?? 0) + 1) return;
      const me = m.participants.indexOf(channel.id);
      let prices: SharingPrices | undefined;
      if (answered) {
        if (m.scaledPrice.length !== T || m.shareShiftKw.length !== T || m.lipschitzScaledPrice.length !== m.participants.length) return;
        prices = {
          penaltyEurPerKw2: m.penaltyEurPerKw2,
          scaledPrice: m.scaledPrice,
          targetKw: nextTarget(answered.x, answered.target, m.shareShiftKw, spec.settings.relaxation),
          lipschitz: m.lipschitz,
          lipschitzScaledPrice: m.lipschitzScaledPrice[me]!,
        };
      }
      busy = true;
      solve(prices)
        .then((step) => {
          // A household whose solve fails does not answer: the leader drops it, and it commits nothing.
          if (!step.ok) return;
          const payload: AnswerMessage = { clearing: options.clearing, leader, round: m.round, contributionKw: step.contributionKw, lipschitzCopy: step.lipschitzCopy, maxImportKw, maxExportKw, ...tradePrices };
          // Cold start: the household's first share is what it planned alone (as the coordinator sets it).
          answered = { round: m.round, x: step.contributionKw, target: prices?.targetKw ?? step.contributionKw, plan: step.plan, payload };
          publish(payload);
        })
        .catch(() => undefined)
        .finally(() => (busy = false));
    };
  };

  const lead = async (peerIds: string[]): Promise<Led> => {
    let participants = [...peerIds].sort();
    let coordinator: SharingCoordinator | undefined;
    let own: HouseholdAnswer | undefined;
    let round = 1;
    const message = (done: boolean): RoundMessage => ({
      clearing: options.clearing,
      round,
      participants,
      penaltyEurPerKw2: coordinator?.penaltyEurPerKw2 ?? spec.settings.initialPenaltyEurPerKw2,
      scaledPrice: coordinator?.scaledPrice ?? [],
      shareShiftKw: coordinator?.shareShiftKw ?? [],
      lipschitz: coordinator?.lipschitz ?? 1,
      lipschitzScaledPrice: coordinator?.lipschitzScaledPrice ?? [],
      done,
      converged: coordinator?.converged ?? false,
    });
    let collecting = collector<AnswerMessage>(round, []);
    const stop = channel.on('sharing-answer', (from, payload) => {
      const p = payload as AnswerMessage;
      if (p.clearing === options.clearing && p.leader === channel.id && p.contributionKw.length === T) collecting.add(from, p.round, p);
    });
    try {
      for (;;) {
        collecting = collector<AnswerMessage>(round, participants.filter((id) => id !== channel.id));
        const open = message(false);
        await channel.publish('sharing-round', open);
        // The leader's household is dropped like any other whose solve fails; the leader goes on coordinating.
        const mine = participants.indexOf(channel.id);
        const step = mine >= 0 ? await solve(coordinator?.pricesFor(mine)) : undefined;
        own = step?.ok ? step : undefined;
        await answers(collecting.complete, options, () => channel.publish('sharing-round', open));
        // Who answered stays; the silent are dropped, from the coordinator too.
        const kept = participants.flatMap((id, n) => ((id === channel.id ? own !== undefined : collecting.received.has(id)) ? [n] : []));
        if (kept.length === 0) throw new Error(`clearing ${options.clearing}: no household answered round ${round}`);
        const answersInOrder: (ContributionOf & Omit<AnswerMessage, 'clearing' | 'leader' | 'round' | 'lipschitzCopy' | 'contributionKw'>)[] = kept.map((n) =>
          participants[n] === channel.id ? { ...own!, ...agent.limits(false), ...tradePrices } : collecting.received.get(participants[n]!)!,
        );
        coordinator?.keep(kept);
        participants = kept.map((n) => participants[n]!);
        coordinator ??= new SharingCoordinator(
          spec.terms,
          spec.stepHours,
          answersInOrder.map((a) => ({ maxImportKw: a.maxImportKw, maxExportKw: a.maxExportKw })),
          spec.settings,
        );
        const outcome = await coordinator.collect(answersInOrder);
        if (!outcome.ok) throw new Error(`clearing ${options.clearing}: coordinator: ${outcome.message}`);
        if (outcome.done) {
          const done = message(true);
          await channel.publish('sharing-round', done);
          if (own) finals.set(channel.id, { leader: channel.id, participants, rounds: round, converged: coordinator.converged, plan: own.plan, couplingPriceEurPerKwh: price(done) });
          const reservations = answersInOrder.map((a) => (a.maxBuyEurPerKwh.length === T && a.minSellEurPerKwh.length === T ? { maxBuyEurPerKwh: a.maxBuyEurPerKwh, minSellEurPerKwh: a.minSellEurPerKwh, maxTradeKw: a.maxTradeKw } : null));
          const netKwh = answersInOrder.map((a) => a.contributionKw.map((kw, t) => kw * spec.stepHours[t]!));
          const split = splitNetPositions(participants, netKwh, reservations, spec.stepHours);
          ledTrades = split.trades;
          return { clearing: resultOf(options.peerIds, T, round, coordinator.converged, split), participants };
        }
        round++;
      }
    } finally {
      stop();
      coordinator?.dispose();
    }
  };

  await runClearing(channel, options, T, {
    lead,
    serve,
    verify: (leader, result, participants) => {
      if (!participants.includes(channel.id)) return undefined;
      const final = finals.get(leader);
      if (final === undefined) return 'this household did not hear its final round';
      if (final.rounds !== result.rounds || final.converged !== result.converged || final.participants.join() !== [...participants].join()) return 'it does not match the final round this household heard';
      accepted = leader;
      acceptedTrades = result.trades;
      return undefined;
    },
  });
  const mine = finals.get(accepted ?? channel.id);
  return mine && mine.participants.includes(channel.id) ? { ...mine, trades: accepted === undefined ? ledTrades : acceptedTrades } : null;
}

/** The `clearing-result` of a sharing clearing: who took part, how it ended, and the P2P trades with their prices (the coupling prices are in the `done` round). */
function resultOf(peerIds: string[], slots: number, rounds: number, converged: boolean, split: { trades: BilateralTrade[]; priceEurPerKwh: number[] }): Clearing {
  return { mode: 'admm', peerIds, netKwh: netFromTrades(peerIds, slots, split.trades), priceEurPerKwh: split.priceEurPerKwh, trades: split.trades, rounds, converged };
}
