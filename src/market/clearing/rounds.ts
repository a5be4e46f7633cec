/**
 * The clearings over the market's signed MQTT messages (`MarketNode` round messages).
 *
 * Every peer calls the same function (`runAdmm` / `runAuction`) and gets the same `Clearing`.
 * One peer leads: the lowest peer id that is online per presence. The leader opens each round
 * with the aggregate (ADMM: price, mean proposal, participants; auction: a call for order books),
 * waits until every participant answered or `roundTimeoutMs` passed, and closes it; at the end it
 * publishes the result (`clearing-result`, in parts below the message size limit), so every
 * participant holds the trades it must commit. A participant that did not answer in time is
 * dropped from the clearing: it trades nothing and the others carry on.
 *
 * The result is not trusted: only a candidate (a peer of `peerIds`) is ever followed, whatever a
 * non-participant publishes; an auction follower recomputes the result from the signed order books
 * it heard (every book is broadcast, the leader's too) and refuses one that differs; and each
 * gateway commits only trades inside its own mandate (`MarketNode.commitTrades`).
 *
 * Failover: a peer that hears nothing from its leader for `leaderTimeoutMs`, or sees it go offline,
 * counts it as failed and follows the next candidate in id order; the candidate that finds itself
 * next leads the clearing again **from its start** without the failed leaders. The result is then
 * the clearing of the remaining peers, the same whoever runs it. A peer that hears round messages
 * from a later candidate than its own leader follows that one (others already failed over) when,
 * in its own view, every candidate before it has failed or is offline.
 * Without failover and with every peer answering, the result equals the in-process one bit for
 * bit, since JSON carries doubles exactly; failover and timeouts are the only places where
 * timing enters.
 *
 * Peers need not start at the same instant: while answers are missing the leader repeats the
 * round's opening message (about once a second), and a repeated ADMM round gets the same proposal.
 *
 * Messages per round: one from the leader, one from each other participant, each covering all
 * slots, plus the repeats while answers are missing; plus the result's parts at the end.
 */
import type { AnySchema } from 'ajv';
import { INSTANT_MS, PRICE_EUR_PER_KWH } from '../messages.ts';
import type { MarketNode } from '../node.ts';
import { AdmmAggregator, type AdmmProposer, type AdmmRound, type AdmmSettings } from './admm.ts';
import { netFromTrades } from './bilateral.ts';
import { clearAuction, type OrderBook } from './auction.ts';
import { vectorSchema } from './wire-vector.ts';
import type { BilateralTrade, Clearing } from './types.ts';

/** What a clearing needs from the market layer: signed, schema-checked round messages and presence. */
export interface RoundChannel {
  readonly id: string;
  publish(name: RoundName, payload: object): Promise<void>;
  on(name: RoundName, handler: (from: string, payload: unknown) => void): () => void;
  /** Presence; a peer never heard of counts as online, so a fresh community can start. */
  isOnline(peerId: string): boolean;
}

export type RoundName = keyof typeof roundSchemas;

const maxSlots = 2880; // a day of 30-second slots: far beyond any real use, bounds the messages
/** Joint samples of the community chance family: a round's vectors are T·(1 + I) long, so I ≤ 2880 / T − 1 anyway. */
const maxSampleDays = 256;
/** Trades per `clearing-result` part: about 60 bytes each keeps a part well below the 16 KiB limit. */
const tradesPerPart = 150;
// Bounded so that one garbled proposal cannot push the prices out of any sensible range.
const numbers = { type: 'array', maxItems: maxSlots, items: { type: 'number', minimum: -1e4, maximum: 1e4 } };
const clearingId = { type: 'string', minLength: 1, maxLength: 64 };
const peerId = { type: 'string', minLength: 1, maxLength: 64 };
const order = {
  type: 'object',
  properties: { side: { enum: ['buy', 'sell'] }, energyKwh: { type: 'number', minimum: 0, maximum: 1e4 }, priceEurPerKwh: PRICE_EUR_PER_KWH },
  required: ['side', 'energyKwh', 'priceEurPerKwh'],
  additionalProperties: false,
};
const strict = (properties: Record<string, unknown>) => ({ type: 'object', properties, required: Object.keys(properties), additionalProperties: false });

/** Register these with the `MarketNode` (`roundSchemas` option): payloads are checked on arrival. */
export const roundSchemas = {
  'admm-round': strict({
    clearing: clearingId,
    round: { type: 'integer', minimum: 0 },
    participants: { type: 'array', maxItems: 10_000, items: peerId },
    priceEurPerKwh: numbers,
    meanKwh: numbers,
    done: { type: 'boolean' },
  }),
  // `leader`: after a failover, a late answer to the failed leader must not count for its successor.
  'admm-proposal': strict({ clearing: clearingId, leader: peerId, round: { type: 'integer', minimum: 0 }, tradeKwh: numbers }),
  'auction-open': strict({ clearing: clearingId }),
  // The community sharing clearing (sharing-rounds.ts). u may grow as ρ shrinks, hence its wider range.
  'sharing-round': strict({
    clearing: clearingId,
    round: { type: 'integer', minimum: 1 },
    participants: { type: 'array', maxItems: 10_000, items: peerId },
    terms: strict({
      peakChargeEurPerKwDay: { type: 'number', minimum: 0, maximum: 1e4 },
      chance: { anyOf: [{ type: 'null' }, strict({ epsilon: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 }, radiusKw: { type: 'number', minimum: 0, maximum: 1e4 } })] },
    }),
    penaltyEurPerKw2: { type: 'number', exclusiveMinimum: 0, maximum: 1e6 },
    // Base64 of doubles (wire-vector.ts), their ranges checked on decoding (sharing-rounds.ts).
    scaledPrice: vectorSchema(maxSlots),
    shareShiftKw: vectorSchema(maxSlots),
    lipschitz: { type: 'number', minimum: 0, maximum: 1 },
    lipschitzScaledPrice: { type: 'array', maxItems: 10_000, items: { type: 'number', minimum: -1e9, maximum: 1e9 } },
    // The community chance family's joint-sample days (issue instants); at most what a message can carry with its vectors.
    sampleDaysMs: { type: 'array', maxItems: maxSampleDays, uniqueItems: true, items: INSTANT_MS },
    lipschitzPriced: { type: 'boolean' },
    done: { type: 'boolean' },
    converged: { type: 'boolean' },
  }),
  'sharing-answer': strict({
    clearing: clearingId,
    leader: peerId,
    round: { type: 'integer', minimum: 1 },
    contributionKw: vectorSchema(maxSlots),
    lipschitzCopy: { type: 'number', minimum: 0, maximum: 1 },
    maxImportKw: { type: 'number', minimum: 0, maximum: 1e4 },
    maxExportKw: { type: 'number', minimum: 0, maximum: 1e4 },
    maxBuyEurPerKwh: { type: 'array', maxItems: maxSlots, items: PRICE_EUR_PER_KWH },
    minSellEurPerKwh: { type: 'array', maxItems: maxSlots, items: PRICE_EUR_PER_KWH },
    maxTradeKw: { type: 'number', minimum: 0, maximum: 1e4 },
  }),
  'auction-book': strict({ clearing: clearingId, leader: peerId, orders: { type: 'array', maxItems: maxSlots, items: { type: 'array', maxItems: 128, items: order } } }),
  'clearing-result': strict({
    clearing: clearingId,
    mode: { enum: ['admm', 'auction'] },
    part: { type: 'integer', minimum: 0 },
    parts: { type: 'integer', minimum: 1, maximum: 2_000 },
    rounds: { type: 'integer', minimum: 0 },
    converged: { type: 'boolean' },
    // Whose inputs (order books, proposals) the result is computed from: what a peer recomputes it from.
    participants: { type: 'array', maxItems: 10_000, items: peerId },
    // null: nothing cleared in the slot (NaN in `Clearing`, which JSON cannot carry).
    priceEurPerKwh: { type: 'array', maxItems: maxSlots, items: { anyOf: [PRICE_EUR_PER_KWH, { type: 'null' }] } },
    trades: {
      type: 'array',
      maxItems: tradesPerPart,
      // [slot, buyer, seller, energyKwh]: a quarter of the bytes of named fields.
      items: { type: 'array', items: [{ type: 'integer', minimum: 0, maximum: maxSlots }, peerId, peerId, { type: 'number', exclusiveMinimum: 0 }], minItems: 4, additionalItems: false },
    },
  }),
} satisfies Record<string, AnySchema>;

export function marketNodeChannel(node: MarketNode): RoundChannel {
  return {
    id: node.id,
    publish: (name, payload) => node.publish('round', { name, payload }),
    on: (name, handler) =>
      node.on('round', (envelope) => {
        if (envelope.body.name === name) handler(envelope.from, envelope.body.payload);
      }),
    isOnline: (peer) => peer === node.id || node.peers().every((p) => p.peerId !== peer || p.online),
  };
}

export interface ClearingOptions {
  clearing: string;
  /** Every peer of the community, this one included. */
  peerIds: string[];
  /**
   * How long the leader waits for a round's answers before dropping the silent peers: a failure
   * detector, so generous (a peer's local step takes up to a few hundred ms on a Pi-class CPU).
   */
  roundTimeoutMs: number;
  /** Silence from the leader after which the next candidate takes over; default 2 × `roundTimeoutMs`. */
  leaderTimeoutMs?: number;
  /** Aborting ends this peer's part at its next wait, rejecting with the signal's reason (a gateway shutting down). */
  signal?: AbortSignal;
}

/** The leader among `peerIds` for a peer that counts `failed` as gone: the lowest id online. */
function leaderOf(peerIds: readonly string[], isOnline: (peerId: string) => boolean = () => true, failed: ReadonlySet<string> = new Set()): string | undefined {
  return [...peerIds].sort().find((id) => !failed.has(id) && isOnline(id));
}

/**
 * One peer's part in an ADMM clearing, leading or answering. `newProposer` gives a fresh
 * participant: a clearing led again after a failover starts from scratch on every peer.
 */
export function runAdmm(channel: RoundChannel, newProposer: () => AdmmProposer, initialPriceEurPerKwh: number[], stepHours: number, settings: AdmmSettings, options: ClearingOptions): Promise<Clearing> {
  const slots = initialPriceEurPerKwh.length;
  return runClearing(channel, options, slots, {
    lead: (peerIds) => leadAdmm(channel, newProposer(), initialPriceEurPerKwh, stepHours, settings, options, peerIds),
    serve: (leader) => serveAdmm(channel, newProposer(), leader, options.clearing),
  });
}

/**
 * One peer's part in a pay-as-clear auction, leading or sending its order book. Books are signed
 * messages every peer hears (the leader publishes its own too), so a follower recomputes the
 * auction from the books of the result's participants and refuses a result that differs.
 */
export async function runAuction(channel: RoundChannel, book: OrderBook, slots: number, options: ClearingOptions): Promise<Clearing> {
  const heard = hearBooks(channel, options, slots);
  try {
    return await runClearing(channel, options, slots, {
      lead: (peerIds) => leadAuction(channel, book, slots, options, peerIds),
      serve: (leader) => serveAuction(channel, book, leader, options.clearing),
      verify: (leader, result, participants) => {
        const books = new Map<string, OrderBook>();
        for (const id of participants) {
          const theirs = id === channel.id ? book : heard.books.get(leader)?.get(id);
          // A book this peer did not hear: the result cannot be recomputed here; the commit's mandate still guards this peer's own trades.
          if (theirs === undefined) return undefined;
          books.set(id, theirs);
        }
        const expected = clearAuction(participants, books, slots);
        return sameOutcome(expected, result) ? undefined : `it is not the auction of the order books of ${participants.join(', ')}`;
      },
    });
  } finally {
    heard.stop();
  }
}

/** Order books of the clearing's candidates, per leader they answered (the first of each sender: a leader takes the first one too). */
function hearBooks(channel: RoundChannel, options: ClearingOptions, slots: number) {
  const candidates = new Set(options.peerIds);
  const books = new Map<string, Map<string, OrderBook>>();
  const stop = channel.on('auction-book', (from, payload) => {
    const p = payload as { clearing: string; leader: string; orders: Omit<OrderBook[number][number], 'peerId'>[][] };
    if (p.clearing !== options.clearing || !candidates.has(from) || !candidates.has(p.leader) || p.orders.length !== slots) return;
    const forLeader = books.get(p.leader) ?? new Map<string, OrderBook>();
    books.set(p.leader, forLeader);
    if (!forLeader.has(from)) forLeader.set(from, p.orders.map((slot) => slot.map((o) => ({ ...o, peerId: from }))));
  });
  return { books, stop };
}

/** The same trades and prices, to the bit (JSON carries doubles exactly, and every peer runs the same code). */
function sameOutcome(a: Clearing, b: Clearing): boolean {
  const wire = (c: Clearing) => JSON.stringify({ trades: c.trades.map((t) => [t.slot, t.buyer, t.seller, t.energyKwh]), prices: c.priceEurPerKwh.map((p) => (Number.isNaN(p) ? null : p)) });
  return wire(a) === wire(b);
}

/** Answers one leader's opening messages (`admm-round`, `auction-open`) that `runClearing` passes on. */
export type Server = (name: RoundName, payload: unknown) => void;

export interface Roles {
  /** Leads the clearing among `peerIds` (the failed leaders left out) and returns its result and whose inputs it used. */
  lead(peerIds: string[]): Promise<Led>;
  /** A fresh answerer of `leader`'s rounds. */
  serve(leader: string): Server;
  /** Why `leader`'s result cannot be the clearing of the signed inputs this peer heard; undefined when it checks out or cannot be checked. */
  verify?(leader: string, result: Clearing, participants: readonly string[]): string | undefined;
}

export interface Led {
  clearing: Clearing;
  participants: string[];
}

const leaderMessages: RoundName[] = ['admm-round', 'auction-open', 'sharing-round', 'clearing-result'];

/**
 * Follows leaders in candidate order until one delivers the result, or leads when its turn comes.
 * The answerer of the leader's rounds is swapped in the same step as the leader: peers notice a
 * failed leader at different instants (each polls on its own timer), so the first message of the
 * next candidate is often what tells a peer about the change, and it must be answered.
 */
export async function runClearing(channel: RoundChannel, options: ClearingOptions, slots: number, roles: Roles): Promise<Clearing> {
  const leaderTimeoutMs = options.leaderTimeoutMs ?? 2 * options.roundTimeoutMs;
  const candidates = [...options.peerIds].sort();
  const failed = new Set<string>();
  const results = new ResultAssembler(options, slots);
  const serverOf = (id: string) => (id === channel.id ? undefined : roles.serve(id));
  let leader = leaderOf(candidates, (id) => id === channel.id || channel.isOnline(id), failed)!;
  let server = serverOf(leader);
  let heardMs = performance.now();
  let changed: () => void = () => {};
  /**
   * Leadership is this peer's own function of the candidates and their presence, not a claim: a
   * later candidate that leads is followed only when every candidate before it has failed or is
   * offline in this peer's view (otherwise this peer's own failure detector catches up, and the
   * new leader repeats its opening message meanwhile).
   */
  const isNextLeader = (from: string) => {
    const gone = new Set([...failed, ...candidates.filter((id) => id < from && id !== channel.id && !channel.isOnline(id))]);
    if (leader < from && performance.now() - heardMs > leaderTimeoutMs) gone.add(leader);
    return leaderOf(candidates, (id) => id === channel.id || channel.isOnline(id), gone) === from;
  };
  const follow = (next: string) => {
    for (const id of candidates) if (id < next) failed.add(id);
    leader = next;
    server = serverOf(next);
    heardMs = performance.now();
    changed();
  };
  const stops = leaderMessages.map((name) =>
    channel.on(name, (from, payload) => {
      // Only a candidate can lead: a member outside the clearing is never followed, whatever it sends.
      if ((payload as { clearing: string }).clearing !== options.clearing || failed.has(from) || !candidates.includes(from)) return;
      if (from === leader) heardMs = performance.now();
      else if (from > leader && from !== channel.id && isNextLeader(from)) follow(from);
      if (from !== leader) return;
      if (name !== 'clearing-result') return server?.(name, payload);
      results.add(from, payload as ResultPart);
      if (results.complete(leader)) changed();
    }),
  );
  const onAbort = () => changed();
  options.signal?.addEventListener('abort', onAbort);
  try {
    for (;;) {
      options.signal?.throwIfAborted();
      if (leader === channel.id) {
        const { clearing, participants } = await roles.lead(candidates.filter((id) => !failed.has(id)));
        for (const part of resultParts(options.clearing, clearing, participants)) await channel.publish('clearing-result', part);
        return clearing;
      }
      const following = leader;
      // Wakes on a result, a leader change, an abort, or a check of the leader's silence and presence.
      while (leader === following && results.complete(leader) === undefined) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(1_000, leaderTimeoutMs / 4));
          changed = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        options.signal?.throwIfAborted();
        if (leader === following && (performance.now() - heardMs > leaderTimeoutMs || !channel.isOnline(leader))) {
          failed.add(leader);
          follow(leaderOf(candidates, (id) => id === channel.id || channel.isOnline(id), failed) ?? channel.id);
        }
      }
      const result = results.complete(leader);
      if (result !== undefined) {
        const problem = roles.verify?.(leader, result.clearing, result.participants);
        if (problem !== undefined) throw new Error(`clearing ${options.clearing}: the result of ${leader} is refused: ${problem}`);
        return result.clearing;
      }
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    for (const stop of stops) stop();
  }
}

/** Leads an ADMM clearing; `own` is the leader's own participant (its proposals stay local). */
async function leadAdmm(channel: RoundChannel, own: AdmmProposer, initialPriceEurPerKwh: number[], stepHours: number, settings: AdmmSettings, options: ClearingOptions, peerIds: string[]): Promise<Led> {
  const aggregator = new AdmmAggregator(peerIds, initialPriceEurPerKwh, stepHours, settings);
  let round = aggregator.round;
  let collecting = collector<number[]>(round.round, round.participants.filter((id) => id !== own.id));
  const stop = channel.on('admm-proposal', (from, payload) => {
    const p = payload as { clearing: string; leader: string; round: number; tradeKwh: number[] };
    if (p.clearing === options.clearing && p.leader === channel.id && p.tradeKwh.length === initialPriceEurPerKwh.length) collecting.add(from, p.round, p.tradeKwh);
  });
  try {
    for (;;) {
      await channel.publish('admm-round', { clearing: options.clearing, ...roundPayload(round) });
      if (round.done) return { clearing: aggregator.clearing(options.peerIds), participants: round.participants };
      if (round.participants.includes(own.id)) collecting.received.set(own.id, own.propose(round));
      const open = round;
      await answers(collecting.complete, options, () => channel.publish('admm-round', { clearing: options.clearing, ...roundPayload(open) }));
      round = aggregator.collect(collecting.received);
      collecting = collector<number[]>(round.round, round.participants.filter((id) => id !== own.id));
    }
  } finally {
    stop();
  }
}

/** Answers every round of `leader`'s ADMM clearing this peer is part of. */
function serveAdmm(channel: RoundChannel, participant: AdmmProposer, leader: string, clearing: string): Server {
  let last: { round: number; tradeKwh: number[] } | undefined;
  return (name, payload) => {
    const round = payload as AdmmRound;
    if (name !== 'admm-round' || round.done || !round.participants.includes(participant.id)) return;
    // A round the leader sends again (answers were missing) gets the same answer: a proposal moves the participant's state.
    if (last?.round !== round.round) last = { round: round.round, tradeKwh: participant.propose(round) };
    channel.publish('admm-proposal', { clearing, leader, round: round.round, tradeKwh: last.tradeKwh }).catch(() => undefined);
  };
}

/** Leads a pay-as-clear auction: its own book for all to hear, one call for order books, one clearing. */
async function leadAuction(channel: RoundChannel, ownBook: OrderBook, slots: number, options: ClearingOptions, peerIds: string[]): Promise<Led> {
  const collecting = collector<OrderBook>(0, peerIds.filter((id) => id !== channel.id));
  collecting.received.set(channel.id, ownBook);
  const stop = channel.on('auction-book', (from, payload) => {
    const p = payload as { clearing: string; leader: string; orders: Omit<OrderBook[number][number], 'peerId'>[][] };
    if (p.clearing !== options.clearing || p.leader !== channel.id || p.orders.length !== slots) return;
    collecting.add(from, 0, p.orders.map((slot) => slot.map((o) => ({ ...o, peerId: from }))));
  });
  try {
    await channel.publish('auction-book', { clearing: options.clearing, leader: channel.id, orders: wireOrders(ownBook) });
    const open = () => channel.publish('auction-open', { clearing: options.clearing });
    await open();
    await answers(collecting.complete, options, open);
    return { clearing: clearAuction(options.peerIds, collecting.received, slots), participants: [...collecting.received.keys()].sort() };
  } finally {
    stop();
  }
}

/** Sends this peer's order book when `leader` opens the auction. */
function serveAuction(channel: RoundChannel, book: OrderBook, leader: string, clearing: string): Server {
  return (name) => {
    if (name !== 'auction-open') return;
    channel.publish('auction-book', { clearing, leader, orders: wireOrders(book) }).catch(() => undefined);
  };
}

const wireOrders = (book: OrderBook) => book.map((slot) => slot.map(({ side, energyKwh, priceEurPerKwh }) => ({ side, energyKwh, priceEurPerKwh })));

interface ResultPart {
  clearing: string;
  mode: Clearing['mode'];
  part: number;
  parts: number;
  rounds: number;
  converged: boolean;
  participants: string[];
  priceEurPerKwh: (number | null)[];
  trades: [number, string, string, number][];
}

/** The result as messages: each part carries the header and up to `tradesPerPart` trades. */
function resultParts(clearing: string, result: Clearing, participants: string[]): ResultPart[] {
  const parts = Math.max(1, Math.ceil(result.trades.length / tradesPerPart));
  const priceEurPerKwh = result.priceEurPerKwh.map((p) => (Number.isNaN(p) ? null : p));
  return Array.from({ length: parts }, (_, part) => ({
    clearing,
    mode: result.mode,
    part,
    parts,
    rounds: result.rounds,
    converged: result.converged,
    participants,
    priceEurPerKwh,
    trades: result.trades.slice(part * tradesPerPart, (part + 1) * tradesPerPart).map((t) => [t.slot, t.buyer, t.seller, t.energyKwh] as [number, string, string, number]),
  }));
}

/** Collects the result parts of one sender at a time (the current leader), so they are bounded. */
class ResultAssembler {
  private readonly bySender = new Map<string, Map<number, ResultPart>>();

  constructor(
    private readonly options: ClearingOptions,
    private readonly slots: number,
  ) {}

  add(from: string, part: ResultPart): void {
    if (part.priceEurPerKwh.length !== this.slots || part.part >= part.parts) return;
    for (const sender of this.bySender.keys()) if (sender !== from) this.bySender.delete(sender);
    const parts = this.bySender.get(from) ?? new Map<number, ResultPart>();
    this.bySender.set(from, parts);
    parts.set(part.part, part);
  }

  complete(from: string): Led | undefined {
    const parts = this.bySender.get(from);
    const first = parts?.get(0);
    if (parts === undefined || first === undefined || parts.size !== first.parts) return undefined;
    const known = new Set(this.options.peerIds);
    const trades: BilateralTrade[] = [];
    for (let k = 0; k < first.parts; k++) {
      for (const [slot, buyer, seller, energyKwh] of parts.get(k)!.trades) {
        // A result naming strangers or slots beyond the day is not one this peer can commit.
        if (!known.has(buyer) || !known.has(seller) || slot >= this.slots) return undefined;
        trades.push({ slot, buyer, seller, energyKwh, priceEurPerKwh: first.priceEurPerKwh[slot] ?? Number.NaN });
      }
    }
    if (!first.participants.every((id) => known.has(id))) return undefined;
    const peerIds = [...this.options.peerIds];
    const clearing: Clearing = {
      mode: first.mode,
      peerIds,
      netKwh: netFromTrades(peerIds, this.slots, trades),
      priceEurPerKwh: first.priceEurPerKwh.map((p) => p ?? Number.NaN),
      trades,
      rounds: first.rounds,
      converged: first.converged,
    };
    return { clearing, participants: first.participants };
  }
}

/**
 * The leader's wait for a round's answers (or the round timeout). Meanwhile it sends the round's
 * opening message again every second or so: peers do not start a clearing at the same instant,
 * and one that began listening just after the message went out answers the repeat.
 */
export async function answers(complete: Promise<void>, options: ClearingOptions, resend: () => Promise<void>): Promise<void> {
  const timer = setInterval(() => resend().catch(() => undefined), Math.min(1_000, options.roundTimeoutMs / 4));
  try {
    await within(complete, options.roundTimeoutMs, options.signal);
  } finally {
    clearInterval(timer);
  }
}

/** Waits for `done` or `timeoutMs`, whichever comes first, leaving no timer behind; rejects on abort. */
async function within(done: Promise<void>, timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  let timer: NodeJS.Timeout | undefined;
  let onAbort = () => {};
  try {
    await Promise.race([
      done,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
      new Promise<void>((_, reject) => {
        onAbort = () => reject(signal!.reason);
        signal?.addEventListener('abort', onAbort);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
  signal?.throwIfAborted();
}

function roundPayload(round: AdmmRound) {
  const { round: index, participants, priceEurPerKwh, meanKwh, done } = round;
  return { round: index, participants, priceEurPerKwh, meanKwh, done };
}

/** Answers of one round from the expected peers; `complete` resolves when all are in. */
export function collector<T>(round: number, expected: readonly string[]) {
  const received = new Map<string, T>();
  const waiting = new Set(expected);
  let done: () => void = () => {};
  const complete = new Promise<void>((resolve) => (done = resolve));
  if (waiting.size === 0) done();
  return {
    received,
    complete,
    add(from: string, answerRound: number, value: T) {
      if (answerRound !== round || !waiting.delete(from)) return;
      received.set(from, value);
      if (waiting.size === 0) done();
    },
  };
}
