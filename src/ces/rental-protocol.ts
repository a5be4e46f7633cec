/**
 * The rental clearing's messages on the community's MQTT protocol (docs/ces.md §5): signed round
 * messages of the market (`src/market/messages.ts`, kind `round`, each name with its schema) between
 * the CES and the households, on `pe/v3/<community>/round/<name>/<sender>`.
 *
 *   ces-price   CES → all      a round of the price iteration: the day, the round, the offer at its price
 *   ces-answer  household → CES  the household's answer to that round: kWh booked, account schedule, P2P
 *   ces-book    CES → household  books one round's answer (names the round; the household checks the terms)
 *   ces-booked  household → CES  the household's decision on it, made durable in its ledger before it is sent
 *   ces-p2p     CES → household  sells the P2P energy of the household's answer to one round: both commit it as trades
 *   ces-movement    household → CES  an hour's account movement as its meter delivered it, recorded in its ledger first
 *   ces-settlement  household → CES  after the day: the residue left in the account, recorded in its ledger first
 *   ces-recorded    CES → household  the CES's decision on a movement or settlement (its entry id), made durable first
 *
 * They travel on each party's market node (`src/market/node.ts`), the one connection a member has to
 * the community broker: signed with its identity, and delivered only when they pass every check of
 * the market (schema, topic, membership, signature, time, replay window).
 */
import type { AnySchema } from 'ajv';
import type { CesOffer } from './household-model.ts';
import type { RentalAnswer } from './rental-market.ts';
import type { ClearedTrade } from '../market/ledger.ts';
import type { Mandate } from '../market/mandate.ts';
import { POWER_KW, PRICE_EUR_PER_KWH } from '../market/messages.ts';
import type { CommitOutcome, MarketNode } from '../market/node.ts';

export interface PricePayload {
  dayMs: number;
  round: number;
  offer: CesOffer;
}
export interface AnswerPayload extends RentalAnswer {
  dayMs: number;
  round: number;
}
export interface BookPayload {
  to: string;
  dayMs: number;
  round: number;
  bookingId: string;
  capacityKwh: number;
  powerKw: number;
  priceEurPerKwhDay: number;
  efficiency: number;
  throughputFeeEurPerKwh: number;
  residueCreditEurPerKwh: number;
}
/** The CES sells `to` the P2P energy `to` answered in `round` of `dayMs`, at that round's posted price. */
export interface P2pPayload {
  to: string;
  dayMs: number;
  round: number;
}
export interface BookedPayload {
  to: string;
  bookingId: string;
  accepted: boolean;
  reason?: string;
}
export interface MovementPayload {
  to: string;
  bookingId: string;
  slotStartMs: number;
  /** kWh at the household's meter: + deposited, − withdrawn (AccountMovement). */
  meterKwh: number;
}
export interface SettlementPayload {
  to: string;
  bookingId: string;
  residueKwh: number;
}
export interface RecordedPayload {
  to: string;
  /** A movement's id, or a booking's settlement id (account-movements.ts `settlementIdOf`). */
  entryId: string;
  accepted: boolean;
  reason?: string;
}
export interface RentalPayloads {
  'ces-price': PricePayload;
  'ces-answer': AnswerPayload;
  'ces-book': BookPayload;
  'ces-booked': BookedPayload;
  'ces-p2p': P2pPayload;
  'ces-movement': MovementPayload;
  'ces-settlement': SettlementPayload;
  'ces-recorded': RecordedPayload;
}
export type RentalMessageName = keyof RentalPayloads;

const HOURS_MAX = 96;
const id = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' };
const bookingId = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,128}$' };
/** A movement's or a settlement's id: the booking's id and a suffix. */
const entryId = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,160}$' };
const day = { type: 'integer', minimum: Date.UTC(2000, 0, 1), maximum: Date.UTC(2100, 0, 1) };
const round = { type: 'integer', minimum: 0, maximum: 1000 };
const nonNegative = { type: 'number', minimum: 0, maximum: 100_000 };
const efficiency = { type: 'number', exclusiveMinimum: 0, maximum: 1 };
const series = (item: object) => ({ type: 'array', items: item, minItems: 1, maxItems: HOURS_MAX });
const object = (properties: Record<string, unknown>, required: string[]) => ({ type: 'object', properties, required, additionalProperties: false });

export const RENTAL_ROUND_SCHEMAS: Record<RentalMessageName, AnySchema> = {
  'ces-price': object({
    dayMs: day,
    round,
    offer: object({
      rent: object(
        { priceEurPerKwhDay: PRICE_EUR_PER_KWH, maxKwh: nonNegative, kwPerKwh: nonNegative, efficiency, throughputFeeEurPerKwh: PRICE_EUR_PER_KWH, withdrawalFeeEurPerKwh: PRICE_EUR_PER_KWH },
        ['priceEurPerKwhDay', 'maxKwh', 'kwPerKwh', 'efficiency', 'throughputFeeEurPerKwh', 'withdrawalFeeEurPerKwh'],
      ),
      p2p: object({ priceEurPerKwh: series(PRICE_EUR_PER_KWH), maxKw: nonNegative }, ['priceEurPerKwh', 'maxKw']),
    }, []),
  }, ['dayMs', 'round', 'offer']),
  'ces-answer': object({
    dayMs: day,
    round,
    rentedKwh: nonNegative,
    accountChargeKw: series(nonNegative),
    accountDischargeKw: series(nonNegative),
    p2pKw: series(nonNegative),
    rentalPaymentEur: nonNegative,
  }, ['dayMs', 'round', 'rentedKwh', 'accountChargeKw', 'accountDischargeKw', 'p2pKw', 'rentalPaymentEur']),
  'ces-book': object(
    { to: id, dayMs: day, round, bookingId, capacityKwh: nonNegative, powerKw: nonNegative, priceEurPerKwhDay: PRICE_EUR_PER_KWH, efficiency, throughputFeeEurPerKwh: PRICE_EUR_PER_KWH, residueCreditEurPerKwh: PRICE_EUR_PER_KWH },
    ['to', 'dayMs', 'round', 'bookingId', 'capacityKwh', 'powerKw', 'priceEurPerKwhDay', 'efficiency', 'throughputFeeEurPerKwh', 'residueCreditEurPerKwh'],
  ),
  'ces-booked': object({ to: id, bookingId, accepted: { type: 'boolean' }, reason: { type: 'string', maxLength: 200 } }, ['to', 'bookingId', 'accepted']),
  'ces-p2p': object({ to: id, dayMs: day, round }, ['to', 'dayMs', 'round']),
  'ces-movement': object({ to: id, bookingId, slotStartMs: day, meterKwh: { type: 'number', minimum: -100_000, maximum: 100_000 } }, ['to', 'bookingId', 'slotStartMs', 'meterKwh']),
  'ces-settlement': object({ to: id, bookingId, residueKwh: nonNegative }, ['to', 'bookingId', 'residueKwh']),
  'ces-recorded': object({ to: id, entryId, accepted: { type: 'boolean' }, reason: { type: 'string', maxLength: 200 } }, ['to', 'entryId', 'accepted']),
};

/** A message of the rental clearing that passed every check of the market node, from a member. */
export interface Received<N extends RentalMessageName> {
  from: string;
  payload: RentalPayloads[N];
}

/** One party's end of the rental clearing: its market node (identity, broker, signatures, replay window). */
export interface RentalChannel {
  readonly selfId: string;
  on<N extends RentalMessageName>(name: N, handler: (received: Received<N>) => void): void;
  send<N extends RentalMessageName>(name: N, payload: RentalPayloads[N]): Promise<void>;
  /** The market's two-phase commit of these trades, inside `mandate` (src/market/node.ts `commitTrades`). */
  commitTrades(trades: ClearedTrade[], mandate: Mandate, timeoutMs: number): Promise<CommitOutcome[]>;
  /** The trades committed in this party's market ledger. */
  committed(): ClearedTrade[];
  /** The trades this party accepted and awaits the seller's decision on (in doubt in its market ledger). */
  inDoubt(): ClearedTrade[];
}

/** An hour of the day as a one-hour market slot at a price. */
const hourSlot = (dayMs: number, t: number, priceEurPerKwh: number) => ({ slotStartMs: dayMs + t * 3_600_000, slotMinutes: 60, priceEurPerKwh });

/**
 * A booked account's energy as market trades with the CES, hour by hour: deposits sold to the CES,
 * withdrawals bought from it, at 0 EUR/kWh — the energy stays the household's (the rental ledger
 * carries the rent and the fees) — so the household's planner fixes them like any committed trade
 * and they are settled on metered energy like any other. Hours below the protocol's smallest power
 * (1 W) are left out by both parties alike.
 */
export function accountTrades(ces: string, household: string, dayMs: number, answer: Pick<RentalAnswer, 'accountChargeKw' | 'accountDischargeKw'>): ClearedTrade[] {
  const trades: ClearedTrade[] = [];
  answer.accountChargeKw.forEach((kw, t) => kw >= POWER_KW.minimum && trades.push({ seller: household, buyer: ces, powerKw: kw, ...hourSlot(dayMs, t, 0) }));
  answer.accountDischargeKw.forEach((kw, t) => kw >= POWER_KW.minimum && trades.push({ seller: ces, buyer: household, powerKw: kw, ...hourSlot(dayMs, t, 0) }));
  return trades;
}

/**
 * The P2P energy a household answered as market trades, hour by hour: the CES sells, at its posted
 * price of the hour. The 0 EUR/kWh of the account trades tells them apart (`isAccountTrade`), so an
 * hour whose posted price is exactly 0 is left out, as are hours below 1 W, by both parties alike.
 */
export function p2pTrades(ces: string, household: string, dayMs: number, p2pKw: readonly number[], priceEurPerKwh: readonly number[]): ClearedTrade[] {
  return p2pKw.flatMap((kw, t) => (kw >= POWER_KW.minimum && priceEurPerKwh[t] !== 0 ? [{ seller: ces, buyer: household, powerKw: kw, ...hourSlot(dayMs, t, priceEurPerKwh[t]!) }] : []));
}

/** An account's energy, not P2P energy: between a household and its CES, only account trades are at 0 EUR/kWh. */
export const isAccountTrade = (trade: Pick<ClearedTrade, 'priceEurPerKwh'>) => trade.priceEurPerKwh === 0;

/** A trade's terms as a key: the same trade committed in another commit (another offer and trade id) has the same key. */
export const tradeKey = (t: ClearedTrade) => `${t.seller}/${t.buyer}/${t.slotStartMs}/${t.slotMinutes}/${t.powerKw}/${t.priceEurPerKwh}`;

/**
 * Of these trades, those still to commit: slots not yet begun at `nowMs` (an hour already under way
 * or past stays uncommitted) and not in this party's market ledger, committed or in doubt (so a trade
 * is never committed twice, whoever retries).
 */
export function openTrades(channel: Pick<RentalChannel, 'committed' | 'inDoubt'>, trades: readonly ClearedTrade[], nowMs: number): ClearedTrade[] {
  const known = new Set([...channel.committed(), ...channel.inDoubt()].map(tradeKey));
  return trades.filter((t) => t.slotStartMs > nowMs && !known.has(tradeKey(t)));
}

/** What `selfId` agreed to of these trades: exactly them (each its own order), nothing else. */
export function mandateOf(selfId: string, trades: readonly ClearedTrade[]): Mandate {
  const orders = trades.map((t) => ({ slotStartMs: t.slotStartMs, slotMinutes: t.slotMinutes, side: t.seller === selfId ? ('sell' as const) : ('buy' as const), powerKw: t.powerKw, priceEurPerKwh: t.priceEurPerKwh }));
  return { maxTradeKw: trades.reduce((sum, t) => sum + t.powerKw, 0), orders };
}

/** Lifetime of a rental message: the clearing of one day takes seconds of wall time. */
const lifetimeMs = 10 * 60_000;
const isRentalMessage = (name: string): name is RentalMessageName => Object.hasOwn(RENTAL_ROUND_SCHEMAS, name);

/**
 * The rental clearing on a market node: the node must have been created with `RENTAL_ROUND_SCHEMAS`
 * among its round schemas (it refuses to send or accept a round it has no schema for).
 */
export function rentalChannel(node: MarketNode): RentalChannel {
  const handlers = new Map<RentalMessageName, (received: Received<RentalMessageName>) => void>();
  node.on('round', (envelope) => {
    const { name, payload } = envelope.body;
    if (isRentalMessage(name)) handlers.get(name)?.({ from: envelope.from, payload: payload as RentalPayloads[RentalMessageName] });
  });
  return {
    selfId: node.id,
    on(name, handler) {
      handlers.set(name, handler as (received: Received<RentalMessageName>) => void);
    },
    send(name, payload) {
      return node.publish('round', { name, payload }, { lifetimeMs });
    },
    commitTrades(trades, mandate, timeoutMs) {
      return node.commitTrades(trades, { mandate, timeoutMs });
    },
    committed() {
      return node.ledger.committed();
    },
    inDoubt() {
      return node.ledger.inDoubt();
    },
  };
}
