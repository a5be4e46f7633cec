/**
 * The community clearing (formulation §8: ADMM in sharing form, docs/community-coordination.md)
 * over the market's signed round messages, with the leader and failover of `runClearing`
 * (rounds.ts): the leader runs the coordinator's half (SharingCoordinator) and its own household,
 * every other participant answers with its household's half (HouseholdAgent).
 *
 * Per round, and nothing else:
 *  - leader → all (`sharing-round`, one broadcast): the round, its participants, its community
 *    terms (π^C, ε^C, ρ^C as configured: a household with others does not answer), ρ, the scaled
 *    prices u (ρu is the price per kW of each coupling entry), the common shift (z − Σx̂)/N from
 *    which each household computes its own target z_n (nextTarget: the same operations as the
 *    coordinator's, so the same bits), λ and each participant's κ price; with the community chance
 *    family also the I named sample days (issue instants, sharing-household.ts) and whether κ is priced;
 *  - household → leader (`sharing-answer`): its contribution — its scheduled net import per step
 *    (T numbers) and, with the family, y_{t,i} = (1 − β_t)ξ̂ⁱ_t (T·I numbers) — κ, its grid
 *    connection limits (the coordinator's column bounds, also of y: ± their full swing, never the
 *    samples' ranges), and the prices at which it trades with a neighbour (its ceiling to buy and
 *    floor to sell per step, community-trades.ts).
 * Never a load, forecast, battery state or a sample as such; y is (1 − β) times the samples.
 * The long vectors (u, the shift, the contribution) travel as base64 of their doubles
 * (wire-vector.ts): exact, and compact enough that every message stays below the market's 16 KiB
 * with the evaluation's 20 samples at T = 24; the leader clears with at most as many samples as its
 * messages fit in the worst case (wireSampleCount).
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
import { HouseholdAgent, SharingCoordinator, nextTarget, type ContributionOf, type CoordinatorTerms, type HouseholdAnswer, type SharingPrices, type SharingSettings } from '../../optimizer/community/index.ts';
import { DEFAULT_LIMITS } from '../messages.ts';
import { netFromTrades } from './bilateral.ts';
import type { SharingHousehold } from './sharing-household.ts';
import { splitNetPositions, type Reservation } from './community-trades.ts';
import { answers, collector, runClearing, type ClearingOptions, type Led, type RoundChannel, type Server } from './rounds.ts';
import type { BilateralTrade, Clearing } from './types.ts';
import { VECTOR_CHARS_PER_NUMBER, decodeVector, encodeVector } from './wire-vector.ts';

/**
 * What this peer coordinates with when it leads. The leader's terms shape the clearing: the others
 * learn from its round messages what their local steps need (the named days, whether κ is priced).
 * `terms.chance.sampleCount` is the most samples the leader names. The community's terms (π^C, ε^C
 * and ρ^C) are an agreement: every round message carries the leader's, and a household whose own
 * differ does not take part (agreedTerms).
 */
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
  /** I, the joint samples of the community chance family the clearing ran with (0: without it). */
  sampleCount: number;
}

/** JSON of a double takes at most 24 characters ("-2.2250738585072014e-308"), and a comma. */
const NUMBER_BYTES = 25;
/** The envelope (ids, signature, times), the field names and a 64-character clearing id, with room to spare. */
const OVERHEAD_BYTES = 1_024;
/** A 64-character id in JSON, with its quotes and comma. */
const ID_BYTES = 67;
/** Base64 of a vector of n doubles, padding included. */
const vectorBytes = (n: number): number => n * VECTOR_CHARS_PER_NUMBER + 4;

/**
 * The most joint samples (≤ `requested`) with which both messages of a clearing of T steps and N
 * participants fit `maxMessageBytes` whatever their numbers: the round's two vectors of T·(1 + I),
 * N κ prices, I days and N ids; the answer's vector of T·(1 + I) and its 2T trade prices.
 * At T = 24: 20 (the evaluation's) with 4 gateways, 19 with 50.
 */
export function wireSampleCount(steps: number, participants: number, requested: number, maxMessageBytes = DEFAULT_LIMITS.maxMessageBytes): number {
  const roundBytes = (I: number) => OVERHEAD_BYTES + participants * (ID_BYTES + NUMBER_BYTES) + I * NUMBER_BYTES + 2 * vectorBytes(steps * (1 + I));
  const answerBytes = (I: number) => OVERHEAD_BYTES + 2 * ID_BYTES + NUMBER_BYTES * (2 * steps + 5) + vectorBytes(steps * (1 + I));
  let I = Math.max(0, requested);
  while (I > 0 && Math.max(roundBytes(I), answerBytes(I)) > maxMessageBytes) I--;
  return I;
}

/** The terms of a community the members must share: what each gateway's `market` section says. */
export interface AgreedTerms {
  peakChargeEurPerKwDay: number;
  chance: { epsilon: number; radiusKw: number } | null;
}

export function agreedTerms(terms: CoordinatorTerms): AgreedTerms {
  return { peakChargeEurPerKwDay: terms.peakChargeEurPerKwDay, chance: terms.chance ? { epsilon: terms.chance.epsilon, radiusKw: terms.chance.radiusKw } : null };
}

const describeTerms = (t: AgreedTerms): string => `π^C ${t.peakChargeEurPerKwDay} EUR/kW per day, ${t.chance ? `community chance family ε ${t.chance.epsilon}, ρ ${t.chance.radiusKw} kW` : 'no community chance family'}`;

/** Why this household cannot clear under `leader`'s terms, or undefined when they are its own. */
function termsDisagreement(own: AgreedTerms, leader: AgreedTerms): string | undefined {
  const same = own.peakChargeEurPerKwDay === leader.peakChargeEurPerKwDay && (own.chance === null) === (leader.chance === null) && (own.chance === null || (own.chance.epsilon === leader.chance!.epsilon && own.chance.radiusKw === leader.chance!.radiusKw));
  return same ? undefined : `the leader's terms (${describeTerms(leader)}) are not this gateway's (${describeTerms(own)})`;
}

interface RoundMessage {
  clearing: string;
  round: number;
  /** The community terms the leader coordinates with (as configured: ε^C even where it names no sample days). */
  terms: AgreedTerms;
  participants: string[];
  penaltyEurPerKw2: number;
  scaledPrice: number[];
  shareShiftKw: number[];
  lipschitz: number;
  lipschitzScaledPrice: number[];
  /** The joint samples' days (issue instants), [] without the chance family; the same in every round of a leader. */
  sampleDaysMs: number[];
  lipschitzPriced: boolean;
  done: boolean;
  converged: boolean;
}

/** The messages as sent: their long vectors in base64 (wire-vector.ts). */
type RoundWire = Omit<RoundMessage, 'scaledPrice' | 'shareShiftKw'> & { scaledPrice: string; shareShiftKw: string };
type AnswerWire = Omit<AnswerMessage, 'contributionKw'> & { contributionKw: string };
/** The ranges the schemas allow (rounds.ts): u grows as ρ shrinks, hence its wider one. */
const KW_RANGE = 1e4;
const SCALED_PRICE_RANGE = 1e9;

const roundToWire = (m: RoundMessage): RoundWire => ({ ...m, scaledPrice: encodeVector(m.scaledPrice), shareShiftKw: encodeVector(m.shareShiftKw) });
const answerToWire = (m: AnswerMessage): AnswerWire => ({ ...m, contributionKw: encodeVector(m.contributionKw) });

/** null: a vector is not a canonical one within its range (the message is not acted on). */
function roundFromWire(w: RoundWire): RoundMessage | null {
  const scaledPrice = decodeVector(w.scaledPrice, -SCALED_PRICE_RANGE, SCALED_PRICE_RANGE);
  const shareShiftKw = decodeVector(w.shareShiftKw, -KW_RANGE, KW_RANGE);
  return scaledPrice && shareShiftKw ? { ...w, scaledPrice, shareShiftKw } : null;
}

function answerFromWire(w: AnswerWire): AnswerMessage | null {
  const contributionKw = decodeVector(w.contributionKw, -KW_RANGE, KW_RANGE);
  return contributionKw ? { ...w, contributionKw } : null;
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
export async function runSharing(channel: RoundChannel, household: HouseholdAgent | SharingHousehold, spec: SharingSpec, options: ClearingOptions, reservation?: Reservation): Promise<SharingOutcome | null> {
  const T = spec.stepHours.length;
  if (household instanceof HouseholdAgent && household.length !== T) throw new Error('an agent with its own samples cannot clear over MQTT: the chance family needs the leader to name the sample days (a SharingHousehold)');
  const own: SharingHousehold = household instanceof HouseholdAgent ? { sampleDays: () => [], agentFor: (days) => (days.length === 0 ? household : null) } : household;
  // One solve at a time on the household's optimizer, also across a failover (a late answer to the old leader).
  let queue: Promise<unknown> = Promise.resolve();
  const solve = (agent: HouseholdAgent, prices: SharingPrices | undefined) => {
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
  const ownTerms = agreedTerms(spec.terms);
  // Why this household refused a leader's rounds (its terms differ), by leader.
  const refused = new Map<string, string>();
  // Why this household's last answer could not be sent (its own codec refused it), if it could not.
  let unsent: string | undefined;
  const price = (m: RoundMessage) => spec.stepHours.map((h, t) => (m.penaltyEurPerKw2 * m.scaledPrice[t]!) / h);

  const serve = (leader: string): Server => {
    let answered: { round: number; x: number[]; target: number[]; plan: Plan; payload: AnswerMessage } | undefined;
    // This leader's days and this household's local step on them (null: it cannot take part).
    let days: { key: string; agent: HouseholdAgent | null } | undefined;
    let busy = false;
    const publish = (payload: AnswerMessage) =>
      channel.publish('sharing-answer', answerToWire(payload)).then(
        () => (unsent = undefined),
        (error: unknown) => (unsent = `its answer to round ${payload.round} could not be sent (${error instanceof Error ? error.message : String(error)})`),
      );
    return (name, payload) => {
      if (name !== 'sharing-round') return;
      const m = roundFromWire(payload as RoundWire);
      if (m === null || !m.participants.includes(channel.id)) return;
      const disagreement = termsDisagreement(ownTerms, m.terms);
      if (disagreement !== undefined) return void refused.set(leader, disagreement);
      const key = `${m.sampleDaysMs.join()}/${m.lipschitzPriced}`;
      days ??= { key, agent: own.agentFor(m.sampleDaysMs, m.lipschitzPriced) };
      // A leader's days do not change within its clearing; a message that says otherwise is not answered.
      if (days.key !== key || days.agent === null) return;
      const agent = days.agent;
      const L = T * (1 + m.sampleDaysMs.length);
      if (m.done) {
        if (answered?.round === m.round && m.scaledPrice.length === L) {
          finals.set(leader, { leader, participants: m.participants, rounds: m.round, converged: m.converged, plan: answered.plan, couplingPriceEurPerKwh: price(m), sampleCount: m.sampleDaysMs.length });
        }
        return;
      }
      // A round the leader sends again (an answer was missing) gets the same answer.
      if (answered?.round === m.round) return void publish(answered.payload);
      if (busy || m.round !== (answered?.round ?? 0) + 1) return;
      const me = m.participants.indexOf(channel.id);
      let prices: SharingPrices | undefined;
      if (answered) {
        if (m.scaledPrice.length !== L || m.shareShiftKw.length !== L || m.lipschitzScaledPrice.length !== m.participants.length) return;
        prices = {
          penaltyEurPerKw2: m.penaltyEurPerKw2,
          scaledPrice: m.scaledPrice,
          targetKw: nextTarget(answered.x, answered.target, m.shareShiftKw, spec.settings.relaxation),
          lipschitz: m.lipschitz,
          lipschitzScaledPrice: m.lipschitzScaledPrice[me]!,
        };
      }
      busy = true;
      solve(agent, prices)
        .then((step) => {
          // A household whose solve fails does not answer: the leader drops it, and it commits nothing.
          if (!step.ok) return;
          const payload: AnswerMessage = { clearing: options.clearing, leader, round: m.round, contributionKw: step.contributionKw, lipschitzCopy: step.lipschitzCopy, ...agent.limits(false), ...tradePrices };
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
    // The days of the joint samples: this leader's own most similar ones, as many as its round message fits.
    // A leader without error trajectories of its own (a cold gateway) clears without the family.
    const { chance, ...withoutChance } = spec.terms;
    const sampleDaysMs = chance ? own.sampleDays(wireSampleCount(T, participants.length, chance.sampleCount)) : [];
    const terms: CoordinatorTerms = chance && sampleDaysMs.length > 0 ? { ...withoutChance, chance: { ...chance, sampleCount: sampleDaysMs.length } } : withoutChance;
    const lipschitzPriced = terms.chance !== undefined && terms.chance.radiusKw > 0;
    const L = T * (1 + sampleDaysMs.length);
    const agent = own.agentFor(sampleDaysMs, lipschitzPriced);
    let coordinator: SharingCoordinator | undefined;
    let mine: HouseholdAnswer | undefined;
    let round = 1;
    const message = (done: boolean): RoundMessage => ({
      clearing: options.clearing,
      round,
      participants,
      terms: ownTerms,
      penaltyEurPerKw2: coordinator?.penaltyEurPerKw2 ?? spec.settings.initialPenaltyEurPerKw2,
      scaledPrice: coordinator?.scaledPrice ?? [],
      shareShiftKw: coordinator?.shareShiftKw ?? [],
      lipschitz: coordinator?.lipschitz ?? 1,
      lipschitzScaledPrice: coordinator?.lipschitzScaledPrice ?? [],
      sampleDaysMs,
      lipschitzPriced,
      done,
      converged: coordinator?.converged ?? false,
    });
    let collecting = collector<AnswerMessage>(round, []);
    const stop = channel.on('sharing-answer', (from, payload) => {
      const p = answerFromWire(payload as AnswerWire);
      if (p !== null && p.clearing === options.clearing && p.leader === channel.id && p.contributionKw.length === L) collecting.add(from, p.round, p);
    });
    try {
      for (;;) {
        collecting = collector<AnswerMessage>(round, participants.filter((id) => id !== channel.id));
        const open = roundToWire(message(false));
        await channel.publish('sharing-round', open);
        // The leader's household is dropped like any other whose solve fails; the leader goes on coordinating.
        const n = participants.indexOf(channel.id);
        const step = n >= 0 && agent ? await solve(agent, coordinator?.pricesFor(n)) : undefined;
        mine = step?.ok ? step : undefined;
        await answers(collecting.complete, options, () => channel.publish('sharing-round', open));
        // Who answered stays; the silent are dropped, from the coordinator too.
        const kept = participants.flatMap((id, k) => ((id === channel.id ? mine !== undefined : collecting.received.has(id)) ? [k] : []));
        if (kept.length === 0) throw new Error(`clearing ${options.clearing}: no household answered round ${round}`);
        const answersInOrder: (ContributionOf & Omit<AnswerMessage, 'clearing' | 'leader' | 'round' | 'lipschitzCopy' | 'contributionKw'>)[] = kept.map((k) =>
          participants[k] === channel.id ? { ...mine!, ...agent!.limits(false), ...tradePrices } : collecting.received.get(participants[k]!)!,
        );
        coordinator?.keep(kept);
        participants = kept.map((k) => participants[k]!);
        coordinator ??= new SharingCoordinator(
          terms,
          spec.stepHours,
          answersInOrder.map((a) => ({ maxImportKw: a.maxImportKw, maxExportKw: a.maxExportKw })),
          spec.settings,
        );
        const outcome = await coordinator.collect(answersInOrder);
        if (!outcome.ok) throw new Error(`clearing ${options.clearing}: coordinator: ${outcome.message}`);
        if (outcome.done) {
          const done = message(true);
          await channel.publish('sharing-round', roundToWire(done));
          if (mine) finals.set(channel.id, { leader: channel.id, participants, rounds: round, converged: coordinator.converged, plan: mine.plan, couplingPriceEurPerKwh: price(done), sampleCount: sampleDaysMs.length });
          const reservations = answersInOrder.map((a) => (a.maxBuyEurPerKwh.length === T && a.minSellEurPerKwh.length === T ? { maxBuyEurPerKwh: a.maxBuyEurPerKwh, minSellEurPerKwh: a.minSellEurPerKwh, maxTradeKw: a.maxTradeKw } : null));
          const netKwh = answersInOrder.map((a) => a.contributionKw.slice(0, T).map((kw, t) => kw * spec.stepHours[t]!));
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
  if (mine && mine.participants.includes(channel.id)) return { ...mine, trades: accepted === undefined ? ledTrades : acceptedTrades };
  const refusal = [...refused.values()][0] ?? unsent;
  if (refusal !== undefined) throw new Error(`this gateway did not take part: ${refusal}`);
  return null;
}

/** The `clearing-result` of a sharing clearing: who took part, how it ended, and the P2P trades with their prices (the coupling prices are in the `done` round). */
function resultOf(peerIds: string[], slots: number, rounds: number, converged: boolean, split: { trades: BilateralTrade[]; priceEurPerKwh: number[] }): Clearing {
  return { mode: 'admm', peerIds, netKwh: netFromTrades(peerIds, slots, split.trades), priceEurPerKwh: split.priceEurPerKwh, trades: split.trades, rounds, converged };
}
