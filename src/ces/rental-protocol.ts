/**
 * The rental clearing's messages on the community's MQTT protocol (docs/ces.md §5): signed round
 * messages of the market (`src/market/messages.ts`, kind `round`, each name with its schema) between
 * the CES and the households, on `pe/v1/<community>/round/<name>/<sender>`.
 *
 *   ces-price   CES → all      a round of the price iteration: the day, the round, the offer at its price
 *   ces-answer  household → CES  the household's answer to that round: kWh booked, account schedule, P2P
 *   ces-book    CES → household  books one round's answer (names the round; the household checks the terms)
 *   ces-booked  household → CES  the household's decision on it, made durable in its ledger before it is sent
 *
 * `RentalChannel` is one party's connection: it signs what it sends, and delivers only messages that
 * pass every check of the market's codec (schema, topic, membership, signature, time), once each.
 */
import type { AnySchema } from 'ajv';
import { connect, type MqttClient } from 'mqtt';
import type { CesOffer } from './household-model.ts';
import type { RentalAnswer } from './rental-market.ts';
import { loginToken } from '../market/broker-login.ts';
import { Membership, type CommunityConfig } from '../market/community.ts';
import type { Identity } from '../market/identity.ts';
import { MessageCodec, PRICE_EUR_PER_KWH, type Envelope, type RoundBody } from '../market/messages.ts';
import { PROTOCOL_ROOT, topicFor } from '../market/topics.ts';
import type { Clock } from '../time/clock.ts';

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
}
export interface BookedPayload {
  to: string;
  bookingId: string;
  accepted: boolean;
  reason?: string;
}
export interface RentalPayloads {
  'ces-price': PricePayload;
  'ces-answer': AnswerPayload;
  'ces-book': BookPayload;
  'ces-booked': BookedPayload;
}
export type RentalMessageName = keyof RentalPayloads;

const HOURS_MAX = 96;
const id = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' };
const bookingId = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,128}$' };
const day = { type: 'integer', minimum: Date.UTC(2000, 0, 1), maximum: Date.UTC(2100, 0, 1) };
const round = { type: 'integer', minimum: 0, maximum: 1000 };
const nonNegative = { type: 'number', minimum: 0, maximum: 100_000 };
const series = (item: object) => ({ type: 'array', items: item, minItems: 1, maxItems: HOURS_MAX });
const object = (properties: Record<string, unknown>, required: string[]) => ({ type: 'object', properties, required, additionalProperties: false });

export const RENTAL_ROUND_SCHEMAS: Record<RentalMessageName, AnySchema> = {
  'ces-price': object({
    dayMs: day,
    round,
    offer: object({
      rent: object(
        { priceEurPerKwhDay: PRICE_EUR_PER_KWH, maxKwh: nonNegative, kwPerKwh: nonNegative, efficiency: { type: 'number', exclusiveMinimum: 0, maximum: 1 }, throughputFeeEurPerKwh: PRICE_EUR_PER_KWH, withdrawalFeeEurPerKwh: PRICE_EUR_PER_KWH },
        ['priceEurPerKwhDay', 'maxKwh', 'kwPerKwh', 'efficiency', 'throughputFeeEurPerKwh', 'withdrawalFeeEurPerKwh'],
      ),
      p2p: object({ buyerPriceEurPerKwh: series(PRICE_EUR_PER_KWH), maxKw: nonNegative }, ['buyerPriceEurPerKwh', 'maxKw']),
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
  'ces-book': object({ to: id, dayMs: day, round, bookingId, capacityKwh: nonNegative, powerKw: nonNegative, priceEurPerKwhDay: PRICE_EUR_PER_KWH }, ['to', 'dayMs', 'round', 'bookingId', 'capacityKwh', 'powerKw', 'priceEurPerKwhDay']),
  'ces-booked': object({ to: id, bookingId, accepted: { type: 'boolean' }, reason: { type: 'string', maxLength: 200 } }, ['to', 'bookingId', 'accepted']),
};

export interface RentalChannelOptions {
  brokerUrl: string;
  community: CommunityConfig;
  identity: Identity;
  clock: Clock;
  /** Log in with the member's signed token (a community broker: `startEmbeddedBroker({ community })`). */
  login?: boolean;
}

/** A message that passed every check, from a member. */
export interface Received<N extends RentalMessageName> {
  from: string;
  payload: RentalPayloads[N];
}

/** Lifetime of a rental message: the clearing of one day takes seconds of wall time. */
const lifetimeMs = 10 * 60_000;

export class RentalChannel {
  private readonly codec: MessageCodec;
  private readonly membership: Membership;
  private readonly seen = new Set<string>();
  private readonly handlers = new Map<RentalMessageName, (received: Received<RentalMessageName>) => void>();

  private constructor(
    private readonly options: RentalChannelOptions,
    private readonly client: MqttClient,
  ) {
    this.membership = new Membership(options.community);
    this.codec = new MessageCodec(this.membership, options.clock, undefined, RENTAL_ROUND_SCHEMAS);
    client.on('message', (topic, payload) => this.receive(topic, payload));
  }

  static async open(options: RentalChannelOptions): Promise<RentalChannel> {
    const { identity, community } = options;
    if (new Membership(community).keyOf(identity.peerId) === undefined) throw new Error(`${identity.peerId} is not a member of community ${community.communityId}`);
    const client = connect(options.brokerUrl, {
      protocolVersion: 4,
      clientId: identity.peerId,
      reconnectPeriod: 500,
      ...(options.login ? { username: identity.peerId, password: loginToken(identity, community.communityId, options.clock.nowMs()) } : {}),
    });
    client.on('error', () => undefined);
    const channel = new RentalChannel(options, client);
    await new Promise<void>((done, fail) => {
      client.once('connect', () => done());
      client.once('error', fail);
    });
    await client.subscribeAsync(Object.keys(RENTAL_ROUND_SCHEMAS).map((name) => `${PROTOCOL_ROOT}/${community.communityId}/round/${name}/+`), { qos: 1 });
    return channel;
  }

  get selfId(): string {
    return this.options.identity.peerId;
  }

  on<N extends RentalMessageName>(name: N, handler: (received: Received<N>) => void): void {
    this.handlers.set(name, handler as (received: Received<RentalMessageName>) => void);
  }

  async send<N extends RentalMessageName>(name: N, payload: RentalPayloads[N]): Promise<void> {
    const sealed = this.codec.seal(this.options.identity, 'round', { name, payload } satisfies RoundBody, { lifetimeMs, middle: name });
    await this.client.publishAsync(sealed.topic, sealed.payload, { qos: 1 });
  }

  /** The topic this party's messages of `name` go out on (tests publish forged ones beside it). */
  topicOf(name: RentalMessageName, from = this.selfId): string {
    return topicFor(this.membership.communityId, 'round', from, name);
  }

  async close(): Promise<void> {
    await this.client.endAsync().catch(() => undefined);
  }

  private receive(topic: string, payload: Buffer): void {
    const opened = this.codec.open(topic, payload);
    if (!opened.ok) return;
    const envelope = opened.envelope as Envelope<'round'>;
    if (envelope.from === this.selfId) return;
    const key = `${envelope.from}/${envelope.id}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const { name, payload: body } = envelope.body;
    this.handlers.get(name as RentalMessageName)?.({ from: envelope.from, payload: body as RentalPayloads[RentalMessageName] });
  }
}
