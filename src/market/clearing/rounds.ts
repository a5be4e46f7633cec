/**
 * The clearings over the market's signed MQTT messages (`MarketNode` round messages).
 *
 * One peer leads a clearing: deterministically the community's lowest peer id, so every gateway
 * knows who without an election. The leader opens each round with the aggregate (ADMM: price,
 * mean proposal, participants; auction: a call for order books), waits until every participant
 * answered or `roundTimeoutMs` passed, and closes it. A participant that did not answer in time
 * is dropped from the clearing: it trades nothing and the others carry on (the only place where
 * timing enters; with every peer answering, the result is the in-process one bit for bit, since
 * JSON carries doubles exactly).
 *
 * Messages per round: one from the leader, one from each participant, each covering all slots.
 */
import type { AnySchema } from 'ajv';
import type { MarketNode } from '../node.ts';
import { AdmmAggregator, type AdmmProposer, type AdmmRound, type AdmmSettings } from './admm.ts';
import { clearAuction, type OrderBook } from './auction.ts';
import type { Clearing } from './types.ts';

/** What a clearing needs from the market layer: signed, schema-checked round messages. */
export interface RoundChannel {
  readonly id: string;
  publish(name: RoundName, payload: object): Promise<void>;
  on(name: RoundName, handler: (from: string, payload: unknown) => void): () => void;
}

export type RoundName = keyof typeof roundSchemas;

const maxSlots = 2880; // a day of 30-second slots: far beyond any real use, bounds the messages
// Bounded so that one garbled proposal cannot push the prices out of any sensible range.
const numbers = { type: 'array', maxItems: maxSlots, items: { type: 'number', minimum: -1e4, maximum: 1e4 } };
const clearingId = { type: 'string', minLength: 1, maxLength: 64 };
const order = {
  type: 'object',
  properties: { side: { enum: ['buy', 'sell'] }, energyKwh: { type: 'number', minimum: 0 }, priceEurPerKwh: { type: 'number' } },
  required: ['side', 'energyKwh', 'priceEurPerKwh'],
  additionalProperties: false,
};
const strict = (properties: Record<string, unknown>) => ({ type: 'object', properties, required: Object.keys(properties), additionalProperties: false });

/** Register these with the `MarketNode` (`roundSchemas` option): payloads are checked on arrival. */
export const roundSchemas = {
  'admm-round': strict({
    clearing: clearingId,
    round: { type: 'integer', minimum: 0 },
    participants: { type: 'array', maxItems: 10_000, items: { type: 'string' } },
    priceEurPerKwh: numbers,
    meanKwh: numbers,
    done: { type: 'boolean' },
  }),
  'admm-proposal': strict({ clearing: clearingId, round: { type: 'integer', minimum: 0 }, tradeKwh: numbers }),
  'auction-open': strict({ clearing: clearingId }),
  'auction-book': strict({ clearing: clearingId, orders: { type: 'array', maxItems: maxSlots, items: { type: 'array', maxItems: 128, items: order } } }),
} satisfies Record<string, AnySchema>;

export function marketNodeChannel(node: MarketNode): RoundChannel {
  return {
    id: node.id,
    publish: (name, payload) => node.publish('round', { name, payload }),
    on: (name, handler) =>
      node.on('round', (envelope) => {
        if (envelope.body.name === name) handler(envelope.from, envelope.body.payload);
      }),
  };
}

export interface LeadOptions {
  clearing: string;
  /** Every peer of the community, the leader included. */
  peerIds: string[];
  /**
   * How long the leader waits for a round's answers before dropping the silent peers: a failure
   * detector, so generous (a peer's local step takes up to a few hundred ms on a Pi-class CPU).
   */
  roundTimeoutMs: number;
}

/** The community's leader: the lowest peer id. */
export function leaderOf(peerIds: readonly string[]): string {
  return [...peerIds].sort()[0]!;
}

/** Leads an ADMM clearing; `own` is the leader's own participant (its proposals stay local). */
export async function leadAdmm(channel: RoundChannel, own: AdmmProposer, initialPriceEurPerKwh: number[], stepHours: number, settings: AdmmSettings, options: LeadOptions): Promise<Clearing> {
  const aggregator = new AdmmAggregator(options.peerIds, initialPriceEurPerKwh, stepHours, settings);
  let round = aggregator.round;
  let collecting = collector<number[]>(round.round, round.participants.filter((id) => id !== own.id));
  const stop = channel.on('admm-proposal', (from, payload) => {
    const p = payload as { clearing: string; round: number; tradeKwh: number[] };
    if (p.clearing === options.clearing && p.tradeKwh.length === initialPriceEurPerKwh.length) collecting.add(from, p.round, p.tradeKwh);
  });
  try {
    for (;;) {
      await channel.publish('admm-round', { clearing: options.clearing, ...roundPayload(round) });
      if (round.done) return aggregator.clearing(options.peerIds);
      if (round.participants.includes(own.id)) collecting.received.set(own.id, own.propose(round));
      await within(collecting.complete, options.roundTimeoutMs);
      round = aggregator.collect(collecting.received);
      collecting = collector<number[]>(round.round, round.participants.filter((id) => id !== own.id));
    }
  } finally {
    stop();
  }
}

/** A peer's side of ADMM clearings led by `leader`: answers every round it is part of. */
export function serveAdmm(channel: RoundChannel, participant: AdmmProposer, leader: string, clearing: string): Promise<void> {
  return new Promise((resolve) => {
    const stop = channel.on('admm-round', (from, payload) => {
      const round = payload as AdmmRound & { clearing: string };
      if (from !== leader || round.clearing !== clearing) return;
      if (round.done || !round.participants.includes(participant.id)) {
        stop();
        resolve();
        return;
      }
      const tradeKwh = participant.propose(round);
      channel.publish('admm-proposal', { clearing, round: round.round, tradeKwh }).catch(() => undefined);
    });
  });
}

/** Leads a pay-as-clear auction: one call for order books, one clearing. */
export async function leadAuction(channel: RoundChannel, ownBook: OrderBook, slots: number, options: LeadOptions): Promise<Clearing> {
  const others = options.peerIds.filter((id) => id !== channel.id);
  const collecting = collector<OrderBook>(0, others);
  collecting.received.set(channel.id, ownBook);
  const stop = channel.on('auction-book', (from, payload) => {
    const p = payload as { clearing: string; orders: Omit<OrderBook[number][number], 'peerId'>[][] };
    if (p.clearing !== options.clearing || p.orders.length !== slots) return;
    collecting.add(from, 0, p.orders.map((slot) => slot.map((o) => ({ ...o, peerId: from }))));
  });
  try {
    await channel.publish('auction-open', { clearing: options.clearing });
    await within(collecting.complete, options.roundTimeoutMs);
    return clearAuction(options.peerIds, collecting.received, slots);
  } finally {
    stop();
  }
}

/** A peer's side of an auction: sends its order book when the leader opens the clearing. */
export function serveAuction(channel: RoundChannel, book: OrderBook, leader: string, clearing: string): Promise<void> {
  return new Promise((resolve) => {
    const stop = channel.on('auction-open', (from, payload) => {
      if (from !== leader || (payload as { clearing: string }).clearing !== clearing) return;
      stop();
      const orders = book.map((slot) => slot.map(({ side, energyKwh, priceEurPerKwh }) => ({ side, energyKwh, priceEurPerKwh })));
      channel.publish('auction-book', { clearing, orders }).then(resolve, resolve);
    });
  });
}

/** Waits for `done` or `timeoutMs`, whichever comes first, leaving no timer behind. */
async function within(done: Promise<void>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  } finally {
    clearTimeout(timer);
  }
}

function roundPayload(round: AdmmRound) {
  const { round: index, participants, priceEurPerKwh, meanKwh, done } = round;
  return { round: index, participants, priceEurPerKwh, meanKwh, done };
}

/** Answers of one round from the expected peers; `complete` resolves when all are in. */
function collector<T>(round: number, expected: readonly string[]) {
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
