import { randomUUID, verify } from 'node:crypto';
import { Ajv, type AnySchema, type ValidateFunction } from 'ajv';
import type { Clock } from '../time/clock.ts';
import { canonicalJson, hasDuplicateKeys } from './canonical-json.ts';
import { ID_PATTERN, type Membership } from './community.ts';
import { signBytes, type Identity } from './identity.ts';
import { MESSAGE_KINDS, parseTopic, topicFor, type MessageKind } from './topics.ts';

/**
 * `session` names one MQTT connection: its will (offline) overrides its own online message.
 * `seq` orders one gateway's presence messages (strictly increasing, also across restarts).
 */
export interface PresenceBody {
  status: 'online' | 'offline';
  session: string;
  seq: number;
}
/** A seller's offer of energy for one slot; `to` directs it at one buyer (a cleared trade). */
export interface OfferBody {
  offerId: string;
  slotStartMs: number;
  slotMinutes: number;
  maxKw: number;
  priceEurPerKwh: number;
  to?: string;
}
/** A buyer's acceptance of (part of) an offer; re-sent with the same `tradeId` until decided. */
export interface AcceptBody {
  tradeId: string;
  offerId: string;
  to: string;
  slotStartMs: number;
  slotMinutes: number;
  powerKw: number;
  priceEurPerKwh: number;
}
/** The seller's decision on an acceptance, made durable in its ledger before it is sent. */
export interface ConfirmBody extends Omit<AcceptBody, 'to'> {
  to: string;
  outcome: 'committed' | 'aborted';
  reason?: string;
}
/** A clearing round message; `payload` is checked against the schema registered for `name`. */
export interface RoundBody {
  name: string;
  payload: unknown;
}
export interface Bodies {
  presence: PresenceBody;
  offer: OfferBody;
  accept: AcceptBody;
  confirm: ConfirmBody;
  round: RoundBody;
}

export interface Envelope<K extends MessageKind = MessageKind> {
  v: 1;
  kind: K;
  community: string;
  from: string;
  id: string;
  sentMs: number;
  expiresMs: number;
  body: Bodies[K];
  /** Ed25519 over canonicalJson(envelope without `sig`), base64url. */
  sig: string;
}

export const REJECT_REASONS = [
  'oversized',
  'malformed',
  'wrong-topic',
  'unknown-key',
  'forged',
  'expired',
  'future-dated',
  'replayed',
  'rate-limited',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export type OpenResult =
  | { ok: true; envelope: Envelope }
  | { ok: false; reason: RejectReason; detail: string; from?: string; id?: string };

export interface MessageLimits {
  /** Payloads longer than this are rejected before parsing. */
  maxMessageBytes: number;
  /** Largest accepted difference between a sender's clock and ours. */
  maxClockSkewMs: number;
  /** Longest lifetime (expiresMs − sentMs) a message of each kind may claim. */
  maxLifetimeMs: Record<MessageKind, number>;
  /**
   * Per sender: sustained messages per second and burst. A member's key can be stolen or its
   * gateway broken; this bounds what it can make every other gateway verify, store and log.
   */
  maxMessagesPerSecondPerPeer: number;
  maxBurstPerPeer: number;
  /** Per sender: ids held in the replay window (each kept until its message expires). */
  maxLiveIdsPerPeer: number;
  /** Per sender: offers held in the offer book (open ones and those addressed to this gateway). */
  maxOffersPerPeer: number;
  /** Per sender: messages waiting for their signature check (done in slices, the senders in turn). */
  maxPendingPerPeer: number;
  /**
   * The most event-loop time the market spends at once on incoming messages, taking them off the
   * socket and checking their signatures: one member's burst delays its own messages, not the
   * gateway's loops or the other members' messages.
   */
  workSliceMs: number;
}

const HOUR_MS = 3_600_000;
export const DEFAULT_LIMITS: MessageLimits = {
  maxMessageBytes: 16 * 1024,
  maxClockSkewMs: 30_000,
  // Presence carries the last will, signed at connect time and published whenever the
  // connection dies, so it must stay valid for as long as a connection may last.
  maxLifetimeMs: { presence: 30 * 24 * HOUR_MS, offer: 48 * HOUR_MS, accept: 48 * HOUR_MS, confirm: 48 * HOUR_MS, round: 48 * HOUR_MS },
  // A seller re-sends each directed offer of a running commit every resendMs (2 s): 100 trades
  // in flight are 50 messages/s, and test timings re-send every 150 ms; the burst covers a
  // day's commit starting at once.
  maxMessagesPerSecondPerPeer: 200,
  maxBurstPerPeer: 2_000,
  maxLiveIdsPerPeer: 50_000,
  maxOffersPerPeer: 2_000,
  maxPendingPerPeer: 1_000,
  // An Ed25519 check costs 0.1–0.4 ms on a Pi-class CPU: a few dozen per slice.
  workSliceMs: 10,
};

/**
 * Sane values (docs/market.md, "Messages"). Prices: the day-ahead market's bounds are −0.5 and
 * 4 EUR/kWh (EPEX harmonised limits), so −1 to 5 leaves room for fees either way. Power: 1 W (less
 * is not worth a commitment, and 1e-300 kW is a probe) to 1 MW (a large farm's connection; each
 * gateway's own `maxTradeKw` is checked against its mandate). Instants: 2000-01-01 to 2100-01-01;
 * a window around now is not possible, since a simulation trades simulated slots (years back)
 * over wall-clock messages.
 */
export const PRICE_EUR_PER_KWH = { type: 'number', minimum: -1, maximum: 5 } as const;
export const POWER_KW = { type: 'number', minimum: 0.001, maximum: 1_000 } as const;
const id = { type: 'string', pattern: ID_PATTERN };
const messageId = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' };
export const INSTANT_MS = { type: 'integer', minimum: Date.UTC(2000, 0, 1), maximum: Date.UTC(2100, 0, 1) } as const;
const slotTerms = {
  slotStartMs: INSTANT_MS,
  slotMinutes: { type: 'integer', minimum: 1, maximum: 1440 },
  priceEurPerKwh: PRICE_EUR_PER_KWH,
};
const kw = POWER_KW;
const object = (properties: Record<string, unknown>, required: string[]) => ({
  type: 'object',
  properties,
  required,
  additionalProperties: false,
});

const BODY_SCHEMAS: Record<MessageKind, AnySchema> = {
  presence: object({ status: { enum: ['online', 'offline'] }, session: messageId, seq: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } }, ['status', 'session', 'seq']),
  offer: object({ offerId: messageId, ...slotTerms, maxKw: kw, to: id }, ['offerId', 'slotStartMs', 'slotMinutes', 'maxKw', 'priceEurPerKwh']),
  accept: object({ tradeId: messageId, offerId: messageId, to: id, ...slotTerms, powerKw: kw }, [
    'tradeId', 'offerId', 'to', 'slotStartMs', 'slotMinutes', 'powerKw', 'priceEurPerKwh',
  ]),
  confirm: object(
    {
      tradeId: messageId, offerId: messageId, to: id, ...slotTerms, powerKw: kw,
      outcome: { enum: ['committed', 'aborted'] }, reason: { type: 'string', maxLength: 200 },
    },
    ['tradeId', 'offerId', 'to', 'slotStartMs', 'slotMinutes', 'powerKw', 'priceEurPerKwh', 'outcome'],
  ),
  round: object({ name: id, payload: {} }, ['name', 'payload']),
};

const ENVELOPE_SCHEMA = object(
  {
    v: { const: 1 },
    kind: { enum: [...MESSAGE_KINDS] },
    community: id,
    from: id,
    id: messageId,
    sentMs: INSTANT_MS,
    expiresMs: INSTANT_MS,
    body: { type: 'object' },
    sig: { type: 'string', minLength: 86, maxLength: 88 },
  },
  ['v', 'kind', 'community', 'from', 'id', 'sentMs', 'expiresMs', 'body', 'sig'],
);

// One instance for the process: ajv caches what it compiled by schema object, so a hundred
// nodes in one process (tests, benchmarks) compile each schema once.
const ajv = new Ajv({ allErrors: false, strict: true });

export interface Sealed<K extends MessageKind = MessageKind> {
  topic: string;
  payload: Buffer;
  envelope: Envelope<K>;
}

/**
 * Signs outgoing and checks incoming messages for one community. Replay protection is not
 * here: it is state, kept by `ReplayGuard`, and a message counts as seen only once handled.
 */
export class MessageCodec {
  private readonly validateEnvelope: ValidateFunction;
  private readonly validateBody: Record<MessageKind, ValidateFunction>;
  private readonly validateRound = new Map<string, ValidateFunction>();

  constructor(
    private readonly membership: Membership,
    private readonly clock: Clock,
    readonly limits: MessageLimits = DEFAULT_LIMITS,
    roundSchemas: Record<string, AnySchema> = {},
  ) {
    this.validateEnvelope = ajv.compile(ENVELOPE_SCHEMA);
    this.validateBody = Object.fromEntries(
      MESSAGE_KINDS.map((kind) => [kind, ajv.compile(BODY_SCHEMAS[kind])]),
    ) as Record<MessageKind, ValidateFunction>;
    for (const [name, schema] of Object.entries(roundSchemas)) this.validateRound.set(name, ajv.compile(schema));
  }

  seal<K extends MessageKind>(
    identity: Identity,
    kind: K,
    body: Bodies[K],
    options: { lifetimeMs: number; middle?: string | number; sentMs?: number },
  ): Sealed<K> {
    const sentMs = Math.round(options.sentMs ?? this.clock.nowMs());
    const unsigned = {
      v: 1 as const,
      kind,
      community: this.membership.communityId,
      from: identity.peerId,
      id: randomUUID(),
      sentMs,
      expiresMs: sentMs + Math.round(options.lifetimeMs),
      body,
    };
    const problem = this.checkShape({ ...unsigned, sig: 'x'.repeat(86) });
    if (problem !== undefined) throw new Error(`refusing to send a malformed ${kind}: ${problem}`);
    const envelope: Envelope<K> = { ...unsigned, sig: signBytes(identity, Buffer.from(canonicalJson(unsigned))) };
    const payload = Buffer.from(JSON.stringify(envelope));
    if (payload.length > this.limits.maxMessageBytes) {
      throw new Error(`refusing to send a ${kind} of ${payload.length} bytes (limit ${this.limits.maxMessageBytes})`);
    }
    return { topic: topicFor(this.membership.communityId, kind, identity.peerId, options.middle), payload, envelope };
  }

  /** Every check: `inspect`, then `authenticate`. */
  open(topic: string, payload: Buffer): OpenResult {
    const inspected = this.inspect(topic, payload);
    return inspected.ok ? this.authenticate(inspected.envelope) : inspected;
  }

  /**
   * The cheap checks, in order: size, JSON, schema, topic, membership. What passes names a member
   * as its sender but is not yet known to be from it: `authenticate` checks the signature, which
   * costs the most, so the receiver spends it only within the claimed sender's budget.
   */
  inspect(topic: string, payload: Buffer): OpenResult {
    if (payload.length > this.limits.maxMessageBytes) {
      return { ok: false, reason: 'oversized', detail: `${payload.length} bytes > ${this.limits.maxMessageBytes}` };
    }
    let parsed: unknown;
    const text = payload.toString('utf8');
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      return { ok: false, reason: 'malformed', detail: `not JSON: ${(error as Error).message}` };
    }
    const loose = parsed as Partial<Envelope> | null;
    const who = typeof loose === 'object' && loose !== null ? { from: str(loose.from), id: str(loose.id) } : {};
    if (hasDuplicateKeys(text)) return { ok: false, reason: 'malformed', detail: 'an object names a key twice', ...who };
    const problem = this.checkShape(parsed);
    if (problem !== undefined) return { ok: false, reason: 'malformed', detail: problem, ...who };
    const envelope = parsed as Envelope;
    const place = parseTopic(topic);
    if (
      place === undefined ||
      place.communityId !== envelope.community ||
      envelope.community !== this.membership.communityId ||
      place.kind !== envelope.kind ||
      place.from !== envelope.from ||
      (envelope.kind === 'offer' && place.middle !== String((envelope.body as OfferBody).slotStartMs)) ||
      (envelope.kind === 'round' && place.middle !== (envelope.body as RoundBody).name)
    ) {
      return { ok: false, reason: 'wrong-topic', detail: `${envelope.kind} from ${envelope.from} on ${topic}`, ...who };
    }
    if (this.membership.keyOf(envelope.from) === undefined) return { ok: false, reason: 'unknown-key', detail: `${envelope.from} is not a member`, ...who };
    return { ok: true, envelope };
  }

  /** Signature, then time: an envelope that passed `inspect`. */
  authenticate(envelope: Envelope): OpenResult {
    const who = { from: envelope.from, id: envelope.id };
    const key = this.membership.keyOf(envelope.from)!;
    const { sig, ...unsigned } = envelope;
    let signedText: string;
    try {
      signedText = canonicalJson(unsigned);
    } catch (error) {
      // A number beyond double range parses to Infinity, which a lax round schema might pass.
      return { ok: false, reason: 'malformed', detail: (error as Error).message, ...who };
    }
    if (!verify(null, Buffer.from(signedText), key, Buffer.from(sig, 'base64url'))) {
      return { ok: false, reason: 'forged', detail: `signature does not verify with ${envelope.from}'s key`, ...who };
    }
    const nowMs = this.clock.nowMs();
    const skewMs = this.limits.maxClockSkewMs;
    if (envelope.sentMs > nowMs + skewMs) {
      return { ok: false, reason: 'future-dated', detail: `sent ${envelope.sentMs - nowMs} ms in the future`, ...who };
    }
    if (envelope.expiresMs + skewMs < nowMs) {
      return { ok: false, reason: 'expired', detail: `expired ${nowMs - envelope.expiresMs} ms ago`, ...who };
    }
    return { ok: true, envelope };
  }

  private checkShape(value: unknown): string | undefined {
    if (!this.validateEnvelope(value)) return `envelope: ${describe(this.validateEnvelope)}`;
    const envelope = value as Envelope;
    const validateBody = this.validateBody[envelope.kind];
    if (!validateBody(envelope.body)) return `${envelope.kind} body: ${describe(validateBody)}`;
    if (envelope.kind === 'round') {
      const { name, payload } = envelope.body as RoundBody;
      const validatePayload = this.validateRound.get(name);
      if (validatePayload === undefined) return `no schema registered for round "${name}"`;
      if (!validatePayload(payload)) return `round "${name}" payload: ${describe(validatePayload)}`;
    }
    const lifetimeMs = envelope.expiresMs - envelope.sentMs;
    if (lifetimeMs < 0 || lifetimeMs > this.limits.maxLifetimeMs[envelope.kind]) {
      return `lifetime ${lifetimeMs} ms outside [0, ${this.limits.maxLifetimeMs[envelope.kind]}] for a ${envelope.kind}`;
    }
    return undefined;
  }
}

function describe(validate: ValidateFunction): string {
  const error = validate.errors?.[0];
  return error === undefined ? 'invalid' : `${error.instancePath || '/'} ${error.message ?? 'invalid'}`;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value.slice(0, 64) : undefined;
}
