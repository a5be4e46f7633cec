import { randomUUID } from 'node:crypto';
import { connect, type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt';
import type { AnySchema } from 'ajv';
import { systemClock, type Clock } from '../time/clock.ts';
import { Membership, type CommunityConfig } from './community.ts';
import type { Identity } from './identity.ts';
import { Ledger, sameTerms, type ClearedTrade, type LedgerEntry, type TradeState, type TradeTerms } from './ledger.ts';
import { outsideMandate, type Mandate } from './mandate.ts';
import { loginToken } from './broker-login.ts';
import {
  DEFAULT_LIMITS,
  MessageCodec,
  REJECT_REASONS,
  type Bodies,
  type Envelope,
  type MessageLimits,
  type OfferBody,
  type RejectReason,
  type RoundBody,
} from './messages.ts';
import { PresenceTracker, type PeerPresence } from './presence.ts';
import { RateLimiter } from './rate-limit.ts';
import { ReplayGuard } from './replay-guard.ts';
import { PROTOCOL_ROOT, communityFilter, earlierPresenceFilters, parseEarlierPresence, parseTopic, type MessageKind } from './topics.ts';
import { Waiters } from './waiters.ts';

export interface MarketTiming {
  /** How often undecided acceptances and live offers are re-sent (they are idempotent). */
  resendMs: number;
  /** Pause between reconnection attempts. */
  reconnectMs: number;
  /** MQTT keepalive: how soon the broker notices a silent gateway and publishes its will. */
  keepaliveSeconds: number;
  /** MQTT 5 will delay: a reconnect within this time does not announce the gateway offline. */
  willDelaySeconds: number;
  /** Lifetime of a decision message (the buyer asks again after it anyway). */
  decisionLifetimeMs: number;
  /** Give up connecting at start after this long. */
  connectTimeoutMs: number;
  /** Decided trades are kept this long after their slot ended (settlement and bills read them), then forgotten. */
  ledgerRetentionMs: number;
  /** How often the (retained, short-lived) online presence is repeated; it lives three periods. */
  presenceRefreshMs: number;
}

export const DEFAULT_TIMING: MarketTiming = {
  resendMs: 2_000,
  reconnectMs: 1_000,
  keepaliveSeconds: 15,
  willDelaySeconds: 10,
  decisionLifetimeMs: 10 * 60_000,
  connectTimeoutMs: 10_000,
  ledgerRetentionMs: 35 * 24 * 3_600_000,
  presenceRefreshMs: 30_000,
};

export interface MarketNodeOptions {
  identity: Identity;
  community: CommunityConfig;
  brokerUrl: string;
  /** Where the ledger and the replay window are journaled; one directory per gateway. */
  dataDir: string;
  clock?: Clock;
  /**
   * The clock the trades' slots are on, by which the ledger forgets decided trades (default:
   * `clock`). A gateway on a simulated household trades slots of the simulated days while its
   * messages are stamped by the wall clock: pruned by the wall clock, today's committed trades
   * would be forgotten.
   */
  slotClock?: Clock;
  /** 'auto' tries MQTT 5 and falls back to 3.1.1 when the broker refuses it (aedes 1.2). */
  protocolVersion?: 5 | 4 | 'auto';
  limits?: Partial<MessageLimits>;
  timing?: Partial<MarketTiming>;
  /** JSON schemas of the clearing layer's round payloads, by round name. */
  roundSchemas?: Record<string, AnySchema>;
  /** Where events go; default: warnings (rejections, failures) to stderr, info nowhere. */
  log?: MarketLog;
  /** The broker login and TLS material (docs/market.md, "Deploying the broker"). */
  credentials?: BrokerCredentials;
}

/**
 * This gateway's login at the community broker. With a username the client id is the username,
 * which a broker configured as in deploy/mosquitto (or the embedded one with a `community`) binds to
 * the login, so nobody else can take the connection over. TLS material is PEM text.
 */
export interface BrokerCredentials {
  username?: string;
  /** Without one, a username logs in with a fresh signed login token (`loginToken`: the embedded community broker). */
  password?: string;
  /** CA certificate(s) the broker's certificate must chain to (mqtts://). */
  ca?: string;
  /** Client certificate and key, for brokers that authenticate clients by certificate. */
  cert?: string;
  key?: string;
}

export type { ClearedTrade };

export interface CommitOutcome {
  trade: ClearedTrade;
  /**
   * 'no-offer': the seller's offer never arrived; 'no-acceptance': the buyer never accepted;
   * 'refused': outside this gateway's mandate, so it was not offered or accepted at all.
   */
  state: TradeState | 'no-offer' | 'no-acceptance' | 'refused';
  tradeId?: string;
  reason?: string;
}

export interface Rejection {
  reason: RejectReason;
  detail: string;
  topic: string;
  from?: string;
  id?: string;
  atMs: number;
}

export interface ReceivedOffer {
  from: string;
  body: OfferBody;
  expiresMs: number;
}

interface OwnOffer {
  body: OfferBody;
  expiresMs: number;
  remainingKw: number;
}

export type MarketLog = (level: 'info' | 'warn', line: string) => void;

const stderrWarnings: MarketLog = (level, line) => {
  if (level === 'warn') process.stderr.write(`market: ${line}\n`);
};

type Handler<K extends MessageKind> = (envelope: Envelope<K>) => void;

const EPSILON_KW = 1e-9;
/** How often decided trades past the ledger's retention are forgotten. */
const LEDGER_PRUNE_EVERY_MS = 3_600_000;

// Peer ids and offer ids never contain '/', so the pair is unambiguous.
const offerKey = (from: string, offerId: string) => `${from}/${offerId}`;
const REJECTION_LOG_SIZE = 1000;
const REJECTION_LINES_PER_SECOND = 10;
/**
 * A broker may deliver a retained message and the live publication of the same message to a
 * subscription made while it was being published, in either order; copies this close together
 * are that race, not a replay.
 */
const RETAINED_RACE_MS = 10_000;

/** How a message arrived, from the MQTT packet: set by the broker, not by whoever published. */
interface Delivery {
  /** From the broker's retained store (a subscription or resubscription), not a live publication. */
  retain: boolean;
}

/**
 * One gateway's membership in a community market: its MQTT connection, the signed message
 * layer, presence, and the offer → acceptance → confirmation commit (docs/market.md).
 * The seller decides every trade and journals the decision before announcing it; the buyer
 * journals its acceptance and asks again until it hears the decision, so both ledgers agree
 * whatever is lost or restarted in between.
 */
export class MarketNode {
  readonly ledger: Ledger;
  readonly rejections: Record<RejectReason, number>;
  readonly rejectionLog: Rejection[] = [];

  /** The MQTT version in use once started. */
  mqttVersion: 4 | 5 | undefined;

  private readonly peerId: string;
  private readonly membership: Membership;
  private readonly codec: MessageCodec;
  private readonly replay: ReplayGuard;
  private readonly limits: MessageLimits;
  private duplicateCount = 0;
  private readonly rateLimiter: RateLimiter;
  /** Per sender (members only): the id of the last message received from the retained store, and when. */
  private readonly lastRetained = new Map<string, { id: string; atMs: number }>();
  /**
   * Rejections are all counted and kept in `rejectionLog`, but written to the log at a bounded
   * rate per reason: replays can be published by anyone at any rate, and must not flood the disk.
   */
  private readonly rejectionLogLimiter = new RateLimiter(REJECTION_LINES_PER_SECOND, 10 * REJECTION_LINES_PER_SECOND);
  private readonly clock: Clock;
  private readonly slotClock: Clock;
  private readonly timing: MarketTiming;
  private readonly log: MarketLog;
  private client: MqttClient | undefined;
  /**
   * The username where there is a login (the broker binds it); otherwise unguessable, so that
   * nobody can knock this gateway off by connecting with its client id. Kept across reconnections.
   */
  private readonly clientId: string;
  private timer: NodeJS.Timeout | undefined;
  private presenceTimer: NodeJS.Timeout | undefined;
  /** Members named for running an earlier protocol (at most the membership). */
  private readonly earlierVersionNamed = new Set<string>();
  private session = '';
  private stopped = false;
  private readonly handlers = new Map<MessageKind, Set<Handler<MessageKind>>>();
  private readonly rejectionHandlers = new Set<(rejection: Rejection) => void>();
  private readonly presence: PresenceTracker;
  /** The sequence number of this gateway's last presence message (`nextPresenceSeq`). */
  private presenceSeq = 0;
  /** Received offers by `offerKey` (offer ids are the seller's choice, so only unique per seller), and how many each seller has in it. */
  private readonly offerBook = new Map<string, ReceivedOffer>();
  private readonly offersHeld = new Map<string, number>();
  private readonly ownOffers = new Map<string, OwnOffer>();
  private readonly waiters = new Waiters();
  /** Buyer: cleared trades waiting for their seller's offer. */
  private readonly expectations = new Set<{ trade: ClearedTrade; onAccepted: (tradeId: string) => void; cancel: () => void }>();
  /** Offers (by `offerKey`) that served a cleared trade already. */
  private readonly usedOffers = new Set<string>();
  private ledgerPrunedMs = -Infinity;
  /** Per sender: messages that passed the cheap checks and wait for their signature check (`drain`). */
  private readonly pending = new Map<string, { topic: string; envelope: Envelope; delivery: Delivery }[]>();
  private draining: NodeJS.Immediate | undefined;

  constructor(private readonly options: MarketNodeOptions) {
    this.peerId = options.identity.peerId;
    this.membership = new Membership(options.community);
    const member = options.community.members.find((m) => m.peerId === this.peerId);
    if (member === undefined || member.publicKey !== options.identity.publicKey) {
      throw new Error(`${this.peerId} is not a member of community ${options.community.communityId} with this key`);
    }
    this.clock = options.clock ?? systemClock;
    this.slotClock = options.slotClock ?? this.clock;
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
    const limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.limits = limits;
    this.rateLimiter = new RateLimiter(limits.maxMessagesPerSecondPerPeer, limits.maxBurstPerPeer);
    this.codec = new MessageCodec(this.membership, this.clock, limits, options.roundSchemas);
    this.log = options.log ?? stderrWarnings;
    this.presence = new PresenceTracker(this.onlineLifetimeMs);
    this.clientId = options.credentials?.username ?? `pe-${this.peerId}-${randomUUID().slice(0, 12)}`;
    this.rejections = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
    this.ledger = Ledger.open(options.dataDir, this.peerId);
    this.replay = ReplayGuard.open(options.dataDir, this.clock, limits.maxClockSkewMs);
  }

  get id(): string {
    return this.peerId;
  }

  /**
   * Copies of a handled message that the transport delivered again (QoS-1 re-delivery, a
   * retained copy on (re)subscription): ignored without a warning, unlike a replay.
   */
  get duplicates(): number {
    return this.duplicateCount;
  }

  /** The broker connection is up (false before `start`, while it is lost and retried, and after `stop`). */
  get connected(): boolean {
    return !this.stopped && this.client?.connected === true;
  }

  /** Connects, subscribes to the community, announces presence, and resumes undecided trades. */
  async start(): Promise<void> {
    const requested = this.options.protocolVersion ?? 'auto';
    this.mqttVersion = requested === 'auto' ? await probeMqttVersion(this.options.brokerUrl, this.timing.connectTimeoutMs, { clientId: this.clientId, ...this.login() }) : requested;
    const client = connect(this.options.brokerUrl, this.clientOptions(this.mqttVersion));
    this.client = client;
    client.on('message', (topic, payload, packet) => {
      // Nothing a peer sends, and no failure of ours (a full disk), may take the gateway down.
      try {
        this.receive(topic, payload, { retain: packet.retain });
      } catch (error) {
        this.log('warn', `${this.peerId}: message on ${topic} not handled: ${(error as Error).message}`);
      }
    });
    // mqtt.js works through all the packets of a socket read before it yields, and a flood fills
    // reads with thousands: past a slice it goes on in the next turn of the event loop, so the
    // gateway's loops run in between and TCP backpressure slows the sender down.
    let sliceStartMs = performance.now();
    client.handleMessage = (_packet, callback) => {
      if (performance.now() - sliceStartMs < this.limits.workSliceMs) return callback();
      setImmediate(() => {
        sliceStartMs = performance.now();
        callback();
      });
    };
    client.on('reconnect', () => {
      // Each connection gets its own signed will (a reused one would be a replay to the peers) and login token (they are used once).
      client.options.will = this.freshWill();
      Object.assign(client.options, this.login());
    });
    client.on('error', (error) => {
      // While stopping, the client may still owe the broker an acknowledgement of a message that
      // was in flight; failing to write it to the closing socket is expected, not news.
      if (!this.stopped) this.log('warn', `${this.peerId}: mqtt error: ${error.message}`);
    });
    const ready = new Promise<void>((resolve, reject) => {
      const timeout = setTimeout(() => reject(new Error(`${this.peerId}: no connection to ${this.options.brokerUrl}`)), this.timing.connectTimeoutMs);
      client.on('connect', () => {
        // Round messages are small and a clearing or the live guard waits on each: Nagle's algorithm
        // would hold one back until the last is acknowledged (a delayed ACK: tens of ms per message).
        (client.stream as { setNoDelay?: (noDelay: boolean) => unknown }).setNoDelay?.(true);
        this.onConnected().then(
          () => {
            clearTimeout(timeout);
            resolve();
          },
          (error: Error) => this.log('warn', `${this.peerId}: subscribing failed: ${error.message}`),
        );
      });
    });
    try {
      await ready;
    } catch (error) {
      client.end(true);
      throw error;
    }
    this.timer = setInterval(() => this.resend(), this.timing.resendMs);
    this.presenceTimer = setInterval(() => {
      if (!this.stopped && client.connected) this.announceOnline().catch((error: Error) => this.log('info', `${this.peerId}: presence not repeated: ${error.message}`));
    }, this.timing.presenceRefreshMs);
    this.resend();
  }

  /** Announces this gateway offline, disconnects cleanly and closes the journals. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.presenceTimer);
    clearImmediate(this.draining);
    this.pending.clear();
    const client = this.client;
    if (client?.connected) {
      // Unsubscribing first stops the broker sending us messages we would have to acknowledge
      // on a closing connection.
      await client.unsubscribeAsync([communityFilter(this.membership.communityId), ...earlierPresenceFilters(this.membership.communityId)]).catch(() => undefined);
      await this.send('presence', { status: 'offline', session: this.session, seq: this.nextPresenceSeq() }, { lifetimeMs: this.onlineLifetimeMs, retain: true }).catch(() => undefined);
      await client.endAsync().catch(() => undefined);
    } else {
      client?.end(true);
    }
    this.waiters.wakeAll();
    for (const expectation of [...this.expectations]) expectation.cancel();
    this.ledger.close();
    this.replay.close();
  }

  /** Handlers see only messages that passed every check, once each. Returns an unsubscribe. */
  on<K extends MessageKind>(kind: K, handler: Handler<K>): () => void {
    const set = this.handlers.get(kind) ?? new Set();
    set.add(handler as unknown as Handler<MessageKind>);
    this.handlers.set(kind, set);
    return () => set.delete(handler as unknown as Handler<MessageKind>);
  }

  onRejected(handler: (rejection: Rejection) => void): () => void {
    this.rejectionHandlers.add(handler);
    return () => this.rejectionHandlers.delete(handler);
  }

  /** Publishes a clearing-round message; its payload must match the schema registered for `body.name`. */
  async publish(kind: 'round', body: RoundBody, options: { lifetimeMs?: number } = {}): Promise<void> {
    await this.send(kind, body, { lifetimeMs: options.lifetimeMs ?? 60_000, middle: body.name });
  }

  peers(): PeerPresence[] {
    return this.presence.list(this.clock.nowMs());
  }

  isOnline(peerId: string): boolean {
    return this.presence.isOnline(peerId, this.clock.nowMs()) === true;
  }

  /** Offers this gateway has heard from online peers that have not expired. */
  openOffers(): ReceivedOffer[] {
    const nowMs = this.clock.nowMs();
    return [...this.offerBook.values()].filter((o) => o.expiresMs >= nowMs && this.isOnline(o.from));
  }

  /**
   * Seller: offers up to `maxKw` for one slot until `lifetimeMs` from now and returns the offer
   * id. Throws on terms the schema refuses; a broker that is away delays the sending only.
   */
  offer(terms: Omit<OfferBody, 'offerId'> & { lifetimeMs: number }): string {
    const { lifetimeMs, ...rest } = terms;
    const body: OfferBody = { offerId: randomUUID(), ...rest };
    const own = { body, expiresMs: this.clock.nowMs() + lifetimeMs, remainingKw: body.maxKw };
    this.sendOffer(own).catch((error: Error) => this.log('info', `${this.peerId}: offer not sent yet (${error.message})`));
    this.ownOffers.set(body.offerId, own);
    return body.offerId;
  }

  /**
   * Buyer: accepts `powerKw` of a received offer. The acceptance is journaled first, then sent
   * and re-sent until the seller decides; resolves with the ledger entry when decided or when
   * `waitMs` runs out (then still 'in-doubt', and the node keeps asking).
   */
  async accept(offer: ReceivedOffer, powerKw: number, waitMs = 30_000): Promise<LedgerEntry> {
    if (offer.body.to !== undefined && offer.body.to !== this.peerId) throw new Error(`offer ${offer.body.offerId} is addressed to ${offer.body.to}`);
    if (powerKw > offer.body.maxKw + EPSILON_KW) throw new Error(`cannot accept ${powerKw} kW of an offer of ${offer.body.maxKw} kW`);
    const trade: TradeTerms = {
      tradeId: randomUUID(),
      offerId: offer.body.offerId,
      seller: offer.from,
      buyer: this.peerId,
      slotStartMs: offer.body.slotStartMs,
      slotMinutes: offer.body.slotMinutes,
      powerKw,
      priceEurPerKwh: offer.body.priceEurPerKwh,
    };
    this.ledger.recordAccepted(trade);
    this.sendAccept(trade).catch((error: Error) => this.log('info', `${this.peerId}: accept not sent yet (${error.message}); re-sending`));
    return this.waitForDecision(trade.tradeId, waitMs);
  }

  /** Resolves with the trade's entry once it is committed or aborted, or after `waitMs`. */
  async waitForDecision(tradeId: string, waitMs: number): Promise<LedgerEntry> {
    const entry = this.ledger.get(tradeId);
    if (entry === undefined) throw new Error(`no trade ${tradeId} in ${this.peerId}'s ledger`);
    if (entry.state === 'in-doubt' && !this.stopped) await this.waiters.wait(`trade:${tradeId}`, waitMs);
    return this.ledger.get(tradeId)!;
  }

  /**
   * Runs the commit for every cleared trade this gateway is party to and that its `mandate` (what
   * it offered the clearing) covers: as seller it sends an offer addressed to the buyer; as buyer
   * it accepts the matching offer when it arrives. Trades outside the mandate are 'refused': a
   * clearing result is never trusted for this gateway's own trades, whoever computed it.
   * Resolves when each is decided or after `timeoutMs`.
   */
  async commitTrades(trades: ClearedTrade[], options: { mandate: Mandate; timeoutMs?: number }): Promise<CommitOutcome[]> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const mine = trades.filter((t) => t.seller === this.peerId || t.buyer === this.peerId);
    const refused = outsideMandate(this.peerId, mine, options.mandate);
    return Promise.all(
      mine.map((trade) => {
        const reason = refused.get(trade);
        if (reason !== undefined) {
          this.log('warn', `${this.peerId}: refusing cleared trade ${trade.seller} → ${trade.buyer} ${trade.powerKw} kW at ${trade.priceEurPerKwh} EUR/kWh: ${reason}`);
          return { trade, state: 'refused' as const, reason };
        }
        return trade.seller === this.peerId ? this.commitAsSeller(trade, timeoutMs) : this.commitAsBuyer(trade, timeoutMs);
      }),
    );
  }

  private async commitAsSeller(trade: ClearedTrade, timeoutMs: number): Promise<CommitOutcome> {
    const offerId = this.offer({
      slotStartMs: trade.slotStartMs,
      slotMinutes: trade.slotMinutes,
      maxKw: trade.powerKw,
      priceEurPerKwh: trade.priceEurPerKwh,
      to: trade.buyer,
      lifetimeMs: timeoutMs,
    });
    const decided = () => this.ledger.entriesList().find((e) => e.trade.offerId === offerId);
    if (decided() === undefined) await this.waiters.wait(`offer:${offerId}`, timeoutMs);
    const entry = decided();
    return entry === undefined ? { trade, state: 'no-acceptance' } : { trade, state: entry.state, tradeId: entry.trade.tradeId, reason: entry.reason };
  }

  private async commitAsBuyer(trade: ClearedTrade, timeoutMs: number): Promise<CommitOutcome> {
    const started = performance.now();
    const tradeId = await new Promise<string | undefined>((resolve) => {
      const expectation = {
        trade,
        onAccepted: (id: string) => {
          clearTimeout(timeout);
          resolve(id);
        },
        cancel: () => {
          clearTimeout(timeout);
          this.expectations.delete(expectation);
          resolve(undefined);
        },
      };
      const timeout = setTimeout(expectation.cancel, timeoutMs);
      this.expectations.add(expectation);
      for (const offer of this.offerBook.values()) this.matchExpectation(offer);
    });
    if (tradeId === undefined) return { trade, state: 'no-offer' };
    const entry = await this.waitForDecision(tradeId, Math.max(0, timeoutMs - (performance.now() - started)));
    return { trade, state: entry.state, tradeId, reason: entry.reason };
  }

  /** Accepts a directed offer for the first cleared trade it matches; each offer serves one trade. */
  private matchExpectation(offer: ReceivedOffer): void {
    const key = offerKey(offer.from, offer.body.offerId);
    // An expired offer stays in the book until the next sweep; the seller would refuse it, and the
    // expectation it used up would miss the live offer of the same terms.
    if (offer.body.to !== this.peerId || this.usedOffers.has(key) || offer.expiresMs < this.clock.nowMs()) return;
    const matches = (trade: ClearedTrade) =>
      trade.seller === offer.from &&
      trade.slotStartMs === offer.body.slotStartMs &&
      trade.slotMinutes === offer.body.slotMinutes &&
      trade.priceEurPerKwh === offer.body.priceEurPerKwh &&
      Math.abs(trade.powerKw - offer.body.maxKw) <= EPSILON_KW;
    const expected = [...this.expectations].find((e) => matches(e.trade));
    if (expected === undefined) return;
    this.expectations.delete(expected);
    this.usedOffers.add(key);
    this.accept(offer, expected.trade.powerKw, 0).then(
      (entry) => expected.onAccepted(entry.trade.tradeId),
      (error: Error) => this.log('warn', `${this.peerId}: accepting offer ${offer.body.offerId} failed: ${error.message}`),
    );
  }

  private clientOptions(version: 4 | 5): IClientOptions {
    const options: IClientOptions = {
      protocolVersion: version,
      clientId: this.clientId,
      ...this.login(),
      reconnectPeriod: this.timing.reconnectMs,
      connectTimeout: this.timing.connectTimeoutMs,
      keepalive: this.timing.keepaliveSeconds,
      resubscribe: false,
      // No mqtt-packet number cache (65 536 two-byte Buffers, ~6 MiB of heap for the process's life).
      writeCache: false,
      will: this.freshWill(),
    };
    if (version === 5) {
      // The session must outlive the will delay, or the broker sends the will at once.
      options.clean = false;
      options.properties = { sessionExpiryInterval: this.timing.willDelaySeconds + 5 };
    } else {
      options.clean = true;
    }
    return options;
  }

  /** Username, password and TLS material for one connection attempt (a login token serves once). */
  private login(): Pick<IClientOptions, 'username' | 'password' | 'ca' | 'cert' | 'key'> {
    const { username, password, ca, cert, key } = this.options.credentials ?? {};
    const secret = password ?? (username !== undefined ? loginToken(this.options.identity, this.membership.communityId, this.clock.nowMs()) : undefined);
    return Object.fromEntries(Object.entries({ username, password: secret, ca, cert, key }).filter(([, value]) => value !== undefined));
  }

  /** A new session: the will of this connection, signed now, announcing it offline. */
  private freshWill(): NonNullable<IClientOptions['will']> {
    this.session = randomUUID();
    const sealed = this.codec.seal(this.options.identity, 'presence', { status: 'offline', session: this.session, seq: this.nextPresenceSeq() }, {
      lifetimeMs: this.codec.limits.maxLifetimeMs.presence,
    });
    const will: NonNullable<IClientOptions['will']> = { topic: sealed.topic, payload: sealed.payload, qos: 1, retain: true };
    if (this.mqttVersion === 5) will.properties = { willDelayInterval: this.timing.willDelaySeconds };
    return will;
  }

  private async onConnected(): Promise<void> {
    const client = this.client!;
    await client.subscribeAsync(communityFilter(this.membership.communityId), this.mqttVersion === 5 ? { qos: 1, nl: true } : { qos: 1 });
    // Optional: a broker whose ACL predates this version may refuse it, and the gateway works without it.
    await client.subscribeAsync(earlierPresenceFilters(this.membership.communityId), { qos: 0 }).catch(() => undefined);
    await this.announceOnline();
  }

  /**
   * Retained, short-lived and repeated every `presenceRefreshMs`: a peer that stops repeating it is
   * offline soon even without a will, and whatever replaced the retained copy (a stale presence,
   * garbage) is overwritten within one period.
   */
  private announceOnline(): Promise<void> {
    return this.send('presence', { status: 'online', session: this.session, seq: this.nextPresenceSeq() }, { lifetimeMs: this.onlineLifetimeMs, retain: true });
  }

  /** Strictly increasing, also across restarts while the clock moves forward: the clock in ms, or one more than the last. */
  private nextPresenceSeq(): number {
    this.presenceSeq = Math.max(this.presenceSeq + 1, Math.round(this.clock.nowMs()));
    return this.presenceSeq;
  }

  /** How long an online presence counts: three refresh periods, so one lost refresh does not matter. */
  private get onlineLifetimeMs(): number {
    return 3 * this.timing.presenceRefreshMs;
  }

  /**
   * Seals (throwing at once on a malformed message) and publishes at QoS 1; the promise settles
   * on the broker's acknowledgement, which waits for a reconnection while the broker is away.
   */
  private send<K extends MessageKind>(
    kind: K,
    body: Bodies[K],
    options: { lifetimeMs: number; middle?: string | number; retain?: boolean },
  ): Promise<void> {
    const client = this.client;
    if (client === undefined) throw new Error(`${this.peerId} is not started`);
    const sealed = this.codec.seal(this.options.identity, kind, body, options);
    const publish: IClientPublishOptions = { qos: 1, retain: options.retain ?? false };
    if (this.mqttVersion === 5 && !options.retain) {
      publish.properties = { messageExpiryInterval: Math.max(1, Math.ceil(options.lifetimeMs / 1000)) };
    }
    return client.publishAsync(sealed.topic, sealed.payload, publish).then(() => undefined);
  }

  private sendOffer(own: OwnOffer): Promise<void> {
    return this.send('offer', own.body, { lifetimeMs: own.expiresMs - this.clock.nowMs(), middle: own.body.slotStartMs });
  }

  private sendAccept(trade: TradeTerms): Promise<void> {
    const { seller, buyer: _buyer, ...terms } = trade;
    return this.send('accept', { ...terms, to: seller }, { lifetimeMs: this.timing.decisionLifetimeMs });
  }

  private sendDecision(entry: LedgerEntry): Promise<void> {
    const { seller: _seller, buyer, ...terms } = entry.trade;
    const body = { ...terms, to: buyer, outcome: entry.state as 'committed' | 'aborted', ...(entry.reason ? { reason: entry.reason } : {}) };
    return this.send('confirm', body, { lifetimeMs: this.timing.decisionLifetimeMs });
  }

  /** Periodic: re-send what is still open (idempotent on the other side) and drop what expired. */
  private resend(): void {
    if (this.stopped || !this.client?.connected) return;
    const nowMs = this.clock.nowMs();
    const failed = (error: Error) => this.log('info', `${this.peerId}: re-send failed: ${error.message}`);
    for (const trade of this.ledger.inDoubt()) this.sendAccept(trade).catch(failed);
    // A directed offer is part of a running commit, so it is re-sent until decided; an open
    // offer only to a peer that (re)appears (handlePresence): everyone else has it already.
    for (const [offerId, own] of this.ownOffers) {
      if (own.expiresMs <= nowMs || own.remainingKw <= EPSILON_KW) this.ownOffers.delete(offerId);
      else if (own.body.to !== undefined) this.sendOffer(own).catch(failed);
    }
    for (const [key, offer] of this.offerBook) {
      if (offer.expiresMs < nowMs) this.unbookOffer(key, offer);
    }
    const slotNowMs = this.slotClock.nowMs();
    if (slotNowMs - this.ledgerPrunedMs >= LEDGER_PRUNE_EVERY_MS) {
      this.ledgerPrunedMs = slotNowMs;
      this.ledger.forgetDecidedBefore(slotNowMs - this.timing.ledgerRetentionMs);
    }
  }

  private bookOffer(offer: ReceivedOffer): void {
    const key = offerKey(offer.from, offer.body.offerId);
    if (!this.offerBook.has(key)) this.offersHeld.set(offer.from, (this.offersHeld.get(offer.from) ?? 0) + 1);
    this.offerBook.set(key, offer);
  }

  private unbookOffer(key: string, offer: ReceivedOffer): void {
    this.offerBook.delete(key);
    this.usedOffers.delete(key);
    const held = (this.offersHeld.get(offer.from) ?? 1) - 1;
    if (held > 0) this.offersHeld.set(offer.from, held);
    else this.offersHeld.delete(offer.from);
  }

  /**
   * The cheap checks at once (size, JSON, schema, topic, membership, a copy of a handled id, the
   * sender's budget); the rest (signature, time, handling) queued per sender and done in slices.
   */
  private receive(topic: string, payload: Buffer, delivery: Delivery): void {
    // Empty: a retained message being cleared. Stopped: the journals are closed.
    if (payload.length === 0 || this.stopped) return;
    const earlier = parseEarlierPresence(topic);
    if (earlier !== undefined) return this.noteEarlierVersion(earlier.root, earlier.from, payload);
    // A member's flood is dropped on its topic alone, before its JSON is even parsed: past the
    // sender's budget, every message costs the gateway next to nothing.
    const claimed = parseTopic(topic)?.from;
    if (claimed !== undefined && this.membership.keyOf(claimed) !== undefined && claimed !== this.peerId) {
      const waiting = this.pending.get(claimed)?.length ?? 0;
      if (waiting >= this.limits.maxPendingPerPeer || !this.rateLimiter.has(claimed, this.clock.nowMs())) {
        return this.reject({ reason: 'rate-limited', detail: `${claimed} is over its budget (${waiting} messages waiting for their signature check)`, topic, from: claimed });
      }
    }
    const inspected = this.codec.inspect(topic, payload);
    if (!inspected.ok) return this.reject({ reason: inspected.reason, detail: inspected.detail, topic, from: inspected.from, id: inspected.id });
    const envelope = inspected.envelope;
    // Brokers without MQTT 5 no-local echo our own messages back.
    if (envelope.from === this.peerId) return;
    const { from, id } = envelope;
    const nowMs = this.clock.nowMs();
    // A copy of a handled (from, id) changes nothing whoever made it, so it is dropped before any
    // signature work: replaying a member's messages costs neither this gateway nor that member's budget.
    if (this.replay.has(from, id)) return this.repeated(topic, from, id, delivery, nowMs);
    const queue = this.pending.get(from) ?? [];
    if (queue.length >= this.limits.maxPendingPerPeer) {
      return this.reject({ reason: 'rate-limited', detail: `${from} has ${queue.length} messages waiting for their signature check`, topic, from, id });
    }
    // The sender's budget is spent before its signature is checked: a burst of messages from one
    // member (or made up on its topic) costs every gateway at most that budget of verifications.
    if (!this.rateLimiter.take(from, nowMs)) {
      return this.reject({ reason: 'rate-limited', detail: `${from} sends more than ${this.limits.maxMessagesPerSecondPerPeer} messages/s`, topic, from, id });
    }
    queue.push({ topic, envelope, delivery });
    this.pending.set(from, queue);
    if (this.draining === undefined) this.draining = setImmediate(() => this.drain());
  }

  /** Verifies and handles queued messages, one sender after the other, for one slice of the event loop. */
  private drain(): void {
    this.draining = undefined;
    const startedMs = performance.now();
    while (!this.stopped && this.pending.size > 0 && performance.now() - startedMs < this.limits.workSliceMs) {
      for (const [from, queue] of this.pending) {
        const next = queue.shift()!;
        if (queue.length === 0) this.pending.delete(from);
        try {
          this.verifyAndHandle(next.topic, next.envelope, next.delivery);
        } catch (error) {
          // Nothing a peer sends, and no failure of ours (a full disk), may take the gateway down.
          this.log('warn', `${this.peerId}: message on ${next.topic} not handled: ${(error as Error).message}`);
        }
      }
    }
    if (this.stopped) this.pending.clear();
    else if (this.pending.size > 0) this.draining = setImmediate(() => this.drain());
  }

  private verifyAndHandle(topic: string, claimed: Envelope, delivery: Delivery): void {
    const { from, id } = claimed;
    const nowMs = this.clock.nowMs();
    // A copy that arrived while the first was queued.
    if (this.replay.has(from, id)) return this.repeated(topic, from, id, delivery, nowMs);
    const result = this.codec.authenticate(claimed);
    if (!result.ok) return this.reject({ reason: result.reason, detail: result.detail, topic, from, id });
    const envelope = result.envelope;
    if (delivery.retain) this.lastRetained.set(from, { id, atMs: nowMs });
    const overLimit = this.overLimit(envelope);
    if (overLimit !== undefined) return this.reject({ reason: 'rate-limited', detail: overLimit, topic, from, id });
    try {
      this.handle(envelope);
    } catch (error) {
      // Not remembered as seen, so a re-delivery is handled again once the cause is gone.
      this.log('warn', `${this.peerId}: handling ${envelope.kind} ${envelope.id} from ${envelope.from} failed: ${(error as Error).message}`);
      return;
    }
    this.replay.remember(envelope.from, envelope.id, envelope.expiresMs);
    for (const handler of this.handlers.get(envelope.kind) ?? []) {
      try {
        handler(envelope);
      } catch (error) {
        this.log('warn', `${this.peerId}: ${envelope.kind} handler threw: ${(error as Error).message}`);
      }
    }
  }

  /** A copy of a handled message: the broker's duplicate, or a replay. */
  private repeated(topic: string, from: string, id: string, delivery: Delivery, nowMs: number): void {
    if (this.isRedelivery(from, id, delivery, nowMs)) {
      this.duplicateCount++;
      return;
    }
    this.reject({ reason: 'replayed', detail: `message ${id} already handled`, topic, from, id });
  }

  /**
   * A second copy of a handled message is the transport's doing when the broker delivers it from
   * its retained store, or when it is the live twin of a retained copy just taken. Anything else
   * is a replay: someone published the message again. The DUP flag is no evidence: a broker may
   * pass on the publisher's (aedes does), so anyone can set it.
   */
  private isRedelivery(from: string, id: string, delivery: Delivery, nowMs: number): boolean {
    if (delivery.retain) return true;
    const retained = this.lastRetained.get(from);
    return retained !== undefined && retained.id === id && nowMs - retained.atMs <= RETAINED_RACE_MS;
  }

  /** Why a member's message exceeds what one sender may make this gateway hold; undefined if it does not. */
  private overLimit(envelope: Envelope): string | undefined {
    const { from } = envelope;
    if (this.replay.liveIds(from) >= this.limits.maxLiveIdsPerPeer) return `${from} has ${this.limits.maxLiveIdsPerPeer} unexpired messages in the replay window`;
    if (envelope.kind === 'offer' && this.keepsOffer(envelope as Envelope<'offer'>)) {
      const held = this.offersHeld.get(from) ?? 0;
      if (held >= this.limits.maxOffersPerPeer) return `${from} has ${held} offers in the offer book`;
    }
    return undefined;
  }

  /** Open offers and those addressed to this gateway; offers directed at others are not ours to book. */
  private keepsOffer(envelope: Envelope<'offer'>): boolean {
    return envelope.body.to === undefined || envelope.body.to === this.peerId;
  }

  /**
   * A member announcing itself online on an earlier protocol root runs a version this one cannot
   * trade with: named once per member, so whoever looks at this gateway's log knows which gateway
   * to update. Not verified (the earlier protocol is not spoken here): it is a log line, at most
   * one per member, and changes nothing else.
   */
  private noteEarlierVersion(root: string, from: string, payload: Buffer): void {
    if (from === this.peerId || this.membership.keyOf(from) === undefined || this.earlierVersionNamed.has(from) || payload.length > this.limits.maxMessageBytes) return;
    let presence: { from?: unknown; expiresMs?: unknown; body?: { status?: unknown } };
    try {
      presence = JSON.parse(payload.toString('utf8')) as typeof presence;
    } catch {
      return;
    }
    // A retained "offline" (or an expired "online") is what an updated member left behind there.
    if (presence?.from !== from || presence.body?.status !== 'online' || !(typeof presence.expiresMs === 'number' && presence.expiresMs > this.clock.nowMs())) return;
    this.earlierVersionNamed.add(from);
    this.log('warn', `${this.peerId}: member ${from} runs an earlier, incompatible protocol (it is online on ${root}, this gateway speaks ${PROTOCOL_ROOT}): the two cannot trade or clear together until ${from} is updated`);
  }

  private reject(rejection: Omit<Rejection, 'atMs'>): void {
    const full: Rejection = { ...rejection, atMs: this.clock.nowMs() };
    this.rejections[full.reason]++;
    this.rejectionLog.push(full);
    if (this.rejectionLog.length > REJECTION_LOG_SIZE) this.rejectionLog.shift();
    if (this.rejectionLogLimiter.take(full.reason, full.atMs)) this.log('warn', `${this.peerId}: rejected (${full.reason}) on ${full.topic}: ${full.detail}`);
    for (const handler of this.rejectionHandlers) {
      try {
        handler(full);
      } catch (error) {
        this.log('warn', `${this.peerId}: rejection handler threw: ${(error as Error).message}`);
      }
    }
  }

  private handle(envelope: Envelope): void {
    switch (envelope.kind) {
      case 'presence':
        return this.handlePresence(envelope as Envelope<'presence'>);
      case 'offer':
        return this.handleOffer(envelope as Envelope<'offer'>);
      case 'accept':
        return this.handleAccept(envelope as Envelope<'accept'>);
      case 'confirm':
        return this.handleConfirm(envelope as Envelope<'confirm'>);
      case 'round':
        return;
    }
  }

  private handlePresence(envelope: Envelope<'presence'>): void {
    const change = this.presence.update(envelope, this.clock.nowMs());
    if (change === 'offline') {
      for (const [key, offer] of this.offerBook) if (offer.from === envelope.from) this.unbookOffer(key, offer);
    } else if (change === 'online') {
      const nowMs = this.clock.nowMs();
      for (const own of this.ownOffers.values()) {
        if (own.body.to === undefined && own.expiresMs > nowMs) {
          this.sendOffer(own).catch((error: Error) => this.log('info', `${this.peerId}: re-sending an offer failed: ${error.message}`));
        }
      }
    }
  }

  private handleOffer(envelope: Envelope<'offer'>): void {
    if (!this.keepsOffer(envelope)) return;
    const offer: ReceivedOffer = { from: envelope.from, body: envelope.body, expiresMs: envelope.expiresMs };
    this.bookOffer(offer);
    this.matchExpectation(offer);
  }

  /** Seller: decides, journals the decision, then announces it; a repeated acceptance gets the same answer. */
  private handleAccept(envelope: Envelope<'accept'>): void {
    const { to, ...terms } = envelope.body;
    if (to !== this.peerId) return;
    const trade: TradeTerms = { ...terms, seller: this.peerId, buyer: envelope.from };
    let entry = this.ledger.get(trade.tradeId);
    if (entry === undefined) {
      const refusal = this.refusal(trade);
      if (refusal === undefined) {
        entry = this.ledger.recordDecision(trade, 'committed');
        this.ownOffers.get(trade.offerId)!.remainingKw -= trade.powerKw;
        this.log('info', `${this.peerId}: trade ${trade.tradeId} with ${trade.buyer} committed`);
        this.waiters.wake(`offer:${trade.offerId}`);
      } else {
        // Not journaled: a refusal only becomes more certain (an offer's terms never change, its
        // capacity only shrinks, it expires, and after a restart every offer is unknown), so a
        // repeated acceptance gets the same answer without a record, and acceptances cost no disk.
        entry = { trade, state: 'aborted', reason: refusal };
      }
    } else if (!sameTerms(entry.trade, trade)) {
      this.log('warn', `${this.peerId}: acceptance ${trade.tradeId} from ${trade.buyer} differs from the decided one; answering with the decision`);
    }
    this.sendDecision(entry).catch((error: Error) => this.log('info', `${this.peerId}: decision not sent (${error.message}); the buyer will ask again`));
  }

  private refusal(trade: TradeTerms): string | undefined {
    const own = this.ownOffers.get(trade.offerId);
    if (own === undefined) return 'unknown or withdrawn offer';
    if (this.clock.nowMs() > own.expiresMs) return 'offer expired';
    const body = own.body;
    if (body.to !== undefined && body.to !== trade.buyer) return `offer is addressed to ${body.to}`;
    if (body.slotStartMs !== trade.slotStartMs || body.slotMinutes !== trade.slotMinutes || body.priceEurPerKwh !== trade.priceEurPerKwh) {
      return 'terms differ from the offer';
    }
    if (trade.powerKw > own.remainingKw + EPSILON_KW) return `only ${own.remainingKw} kW left`;
    return undefined;
  }

  /** Buyer: takes the seller's decision for a trade it accepted with the same terms. */
  private handleConfirm(envelope: Envelope<'confirm'>): void {
    const { to, outcome, reason, ...terms } = envelope.body;
    if (to !== this.peerId) return;
    const entry = this.ledger.get(terms.tradeId);
    const trade: TradeTerms = { ...terms, seller: envelope.from, buyer: this.peerId };
    if (entry === undefined || !sameTerms(entry.trade, trade)) {
      this.log('warn', `${this.peerId}: decision on ${terms.tradeId} from ${envelope.from} matches no acceptance of ours; ignored`);
      return;
    }
    if (entry.state !== 'in-doubt') {
      if (entry.state !== outcome) this.log('warn', `${this.peerId}: CONFLICT on trade ${terms.tradeId}: ours ${entry.state}, seller says ${outcome}`);
      return;
    }
    this.ledger.recordDecision(trade, outcome, reason);
    this.log('info', `${this.peerId}: trade ${trade.tradeId} with ${trade.seller} ${outcome}`);
    this.waiters.wake(`trade:${trade.tradeId}`);
  }
}

/** Tries MQTT 5 on a throwaway connection; a broker that refuses the version gets 3.1.1. */
export async function probeMqttVersion(brokerUrl: string, timeoutMs: number, login: IClientOptions = {}): Promise<4 | 5> {
  return new Promise((resolve, reject) => {
    // With the gateway's login and client id (a community broker refuses others); it runs before
    // the gateway's own connection exists, so it takes nothing over.
    const probe = connect(brokerUrl, { clientId: `pe-probe-${randomUUID()}`, ...login, protocolVersion: 5, reconnectPeriod: 0, connectTimeout: timeoutMs });
    const done = (result: 4 | 5 | Error) => {
      probe.removeAllListeners();
      probe.on('error', () => undefined);
      probe.end(true);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    probe.once('connect', () => done(5));
    probe.once('error', (error: Error & { code?: number }) => {
      done(error.code === 1 || /protocol version/i.test(error.message) ? 4 : error);
    });
    probe.once('close', () => done(new Error(`no MQTT broker answering at ${brokerUrl}`)));
  });
}
