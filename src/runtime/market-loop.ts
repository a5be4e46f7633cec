/**
 * The gateway's market loop (docs/market-loop.md): a local market in hourly slots, cleared six
 * slots at a time, six hours ahead, by the community's gateways over MQTT.
 *
 * - **When**: the window [S, S + 6 h) (S a multiple of 6 h, UTC) is cleared during its gate period
 *   [S − 6 h, S). The first `tick` of a gateway in that period starts its part; ticks come after each
 *   slow-loop solve, at different instants on different gateways, so a gateway first *joins*: it
 *   announces itself for the window and waits until every member that is online has announced
 *   itself (or said it is already done with the window), at most the join timeout. Then all run
 *   the same clearing together among those that joined.
 * - **What**: a pay-as-clear auction (`runAuction`: one round, leader with failover) of one-step
 *   order books from each gateway's latest plan (`ordersFromPlan`: the plan's net grid exchange of
 *   each slot at its marginal value of energy). Then each gateway commits those of its own cleared
 *   trades that its own book covers (never trusting the leader's result) through the two-phase
 *   commit, so they land in both parties' ledgers or in neither.
 * - **Never twice**: a window is journaled as joined (fsync'd) before the gateway announces
 *   itself, and never joined again, also after a restart: a gateway never trades a slot twice.
 * - **Community coordination** (`market.coordination: community`): at the first tick of each day
 *   of the gateway clock (midnight, and at start-up) the members online join a community clearing
 *   (`runSharing`: ADMM in sharing form, each gateway's local step its own full problem, offered by
 *   the planner); its outcome — the clearing's price of net import and this household's own
 *   cleared net import — anchors the planner's re-plans until the next one (`communityCoupling`).
 *   Its P2P trades (the cleared net positions split pro rata, community-trades.ts) are committed
 *   like the auction's, each gateway only inside its own cleared position and prices. The auction
 *   runs only on a day whose clearing failed. The community terms are settings (π^C, and the
 *   community import chance family on the joint samples of the days the leader names, from the
 *   planner's error trajectories by day); only the leader's count.
 * - **The optimizer's view** (`peerTrades`): every trade the market has not committed is fixed at 0,
 *   every committed one at its power, so a plan never counts on energy nobody agreed to deliver,
 *   and the plan a gateway bids from is its plan without further trading.
 *
 * Protocol waits are wall-clock (they pace network traffic, as in `MarketNode`); the schedule uses
 * the gateway clock (simulated time in a simulation). The message layer is stamped with the wall
 * clock too: an accelerated clock would make a message expire while in flight.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GatewayConfig } from '../config/gateway-config.ts';
import { initialPrice } from '../market/clearing/admm.ts';
import { ordersFromPlan, planSlots, type OrderBook, type PlanSlots } from '../market/clearing/auction.ts';
import { mandateFromBook } from '../market/clearing/mandate.ts';
import { communityMandate, type Reservation } from '../market/clearing/community-trades.ts';
import type { BilateralTrade } from '../market/clearing/types.ts';
import { marketNodeChannel, roundSchemas, runAuction } from '../market/clearing/rounds.ts';
import { sharingHousehold, type ErrorDays } from '../market/clearing/sharing-household.ts';
import { runSharing } from '../market/clearing/sharing-rounds.ts';
import { fromBilateralTrades, generateIdentity, loadIdentity, MarketNode, saveIdentity, withCommittedTrades, type BrokerCredentials, type ClearedTrade, type Mandate, type CommunityMember, type EmbeddedBrokerOptions, type Envelope, type Identity, type MarketTiming } from '../market/index.ts';
import { anchoredCoupling, DEFAULT_COMMUNITY_PEAK_CHARGE_EUR_PER_KW_DAY, sharingSettings, type CommunityAnchor, type CoordinatorTerms, type LocalSolver } from '../optimizer/community/index.ts';
import type { CommunityCoupling, Plan, PeerTrade, ProblemInput } from '../optimizer/types.ts';
import type { RentalLedger } from '../ces/rental-ledger.ts';
import type { CesSolver } from '../ces/solve.ts';
import type { HouseholdRentalParty } from '../ces/household-rental.ts';
import { Journal } from '../storage/journal.ts';
import { systemClock, type Clock } from '../time/clock.ts';
import { holdWhile } from '../time/lockstep-clock.ts';
import type { GuardDecision } from './community-guard.ts';
import { LIVE_GUARD_ROUND_SCHEMAS, LiveGuardLink, type MemberConnection } from './live-guard.ts';
import { NO_LOSS_ROUND_SCHEMAS, NoLossLink, type DayReport, type DaySettlement } from './no-loss-link.ts';
import type { RuntimeLog } from './log.ts';
import type { ActivePlan, HourRecord, LiveImport, MarketView, TradeView } from './types.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Hourly slots: the tariff's resolution, and whole steps of any control period that divides an hour. */
const SLOT_HOURS = 1;
const SLOT_MS = SLOT_HOURS * HOUR_MS;
/** Slots per clearing; the window's gate opens one window length before its first slot. */
const WINDOW_SLOTS = 6;
const WINDOW_MS = WINDOW_SLOTS * SLOT_MS;
/** How often a joining gateway announces itself again (peers that were away hear it late). */
const JOIN_RESEND_MS = 1_000;
const JOIN_POLL_MS = 50;
/** On lock-step time, the longest wait for every member to come online before the loops start (wall ms). */
const LOCKSTEP_START_WAIT_MS = 60_000;
/** trades() lists trades whose slot ended at most this long ago, and all later ones. */
const TRADES_SHOWN_MS = 24 * HOUR_MS;
/** Cleared prices kept (for estimates) and journal records kept at compaction. */
const HISTORY_MS = 8 * 24 * HOUR_MS;
const COMPACT_AFTER_LINES = 1_000;

const STATUS_ROUND = 'market-status';
type Status = 'joining' | 'clearing' | 'done';
/** A window's auction (`window-<S>`) or a day's community clearing (`community-<day start>`). */
const CLEARING_ID = /^(window|community)-(\d{1,15})$/;
const statusSchema = {
  type: 'object',
  properties: { clearing: { type: 'string', pattern: CLEARING_ID.source }, status: { enum: ['joining', 'clearing', 'done'] } },
  required: ['clearing', 'status'],
  additionalProperties: false,
};

export interface MarketLoopTiming {
  /** Longest wait for online members to join a clearing (wall ms); default one slow-loop period in wall time + the solve budget + 5 s. */
  joinTimeoutMs: number;
  /** The auction leader's wait for order books (wall ms); the leader timeout is twice this. */
  roundTimeoutMs: number;
  /** How long the two-phase commit of the cleared trades may take (wall ms). */
  commitTimeoutMs: number;
  /** The live community guard's wait for the members' reports of an instant (wall ms). */
  liveGuardTimeoutMs: number;
  /** The market node's own timing: re-sends, keepalive, will delay. */
  node: Partial<MarketTiming>;
}

export interface MarketLoopOptions {
  /** `config.market` must be set. */
  config: GatewayConfig;
  clock: Clock;
  /** Ledger, replay window and this loop's journal (`RuntimeStore.marketDir`). */
  dataDir: string;
  /** The plan in force; bids are made from it. */
  plan: () => ActivePlan | null;
  log: RuntimeLog;
  /** The broker as an mqtt:// URL (`embedded:<port>` resolved by the caller); default `config.market.brokerUrl`. */
  brokerUrl?: string;
  /** Protocol timeouts; the defaults suit real gateways, tests shorten them. */
  timing?: Partial<MarketLoopTiming>;
}

/** What the household clears with: the planner's problem of its latest tick (without an anchor) and its solver. */
export interface HouseholdProblem {
  input: ProblemInput;
  /** The plan's start (the tick's instant) and its steps' slots on the Δt grid. */
  startMs: number;
  slotStartsMs: number[];
  /** The gateway's solver worker: the clearing's local steps stay off the control loop's thread. */
  solver: LocalSolver;
  /** Its error trajectories by day over the problem's steps: the community chance family's joint samples; absent: it clears only without the family. */
  errorDays?: ErrorDays;
}

/** I of the community chance family when `market.communityImportChance.samples` is not set: a round message fits 11 at 24 hourly steps. */
const DEFAULT_COMMUNITY_SAMPLES = 10;

/** The community clearing's side of the market loop, for the planner. */
export interface CommunityMarketView {
  /** The planner's problem of each tick; the next community clearing clears with the latest. */
  offerProblem(problem: HouseholdProblem): void;
  /** `ProblemInput.community` of a re-plan over these slots: the anchor of the day's clearing; undefined when none is in force. */
  communityCoupling(input: ProblemInput, slotStartsMs: readonly number[]): CommunityCoupling | undefined;
}

export interface MarketLoop extends MarketView, CommunityMarketView {
  /** Loads (or creates) the identity and the membership, and connects; a broker that is away is retried in the background. */
  start(): Promise<void>;
  /** Starts this gateway's part in the clearing of the window whose gate is open, if not done yet; returns at once. */
  tick(nowMs: number): Promise<void>;
  /** Resolves when the clearing a tick started (with its commit) has ended. */
  settled(): Promise<void>;
  /** The broker connection: never null here, a market is configured. */
  connected(): boolean;
  /** A metered hour: with a CES, the rented account's movements of that hour (docs/ces.md §4); the live guard's last metered hour. */
  observeHour(record: HourRecord): void;
  /** The day's no-loss settlement with the other members (no-loss-link.ts); null: not connected, or the settlement is off. */
  settleDay(report: DayReport): Promise<DaySettlement> | null;
  guardCommunity(own: LiveImport): Promise<GuardDecision | null>;
  close(): Promise<void>;
}

type LoopRecord =
  | { type: 'joined'; windowStartMs: number }
  | { type: 'cleared'; windowStartMs: number; priceEurPerKwh: (number | null)[]; participants: string[] }
  /**
   * A community clearing starting at `startMs` (midnight, or a re-clearing's hour), joined (anchor
   * null until it ends) and ended (null: it failed). Journals written before re-clearing say `dayStartMs`.
   */
  | { type: 'community'; startMs: number; anchor: CommunityAnchor | null }
  | { type: 'community'; dayStartMs: number; anchor: CommunityAnchor | null };

export function createMarketLoop(options: MarketLoopOptions): MarketLoop {
  return new GatewayMarketLoop(options);
}

/** The window whose gate is open at `nowMs`: the next one starting strictly after it. */
function openWindowStartMs(nowMs: number): number {
  return (Math.floor(nowMs / WINDOW_MS) + 1) * WINDOW_MS;
}

const clearingIdOf = (windowStartMs: number) => `window-${windowStartMs}`;
const communityIdOf = (startMs: number) => `community-${startMs}`;
const dayStartOf = (ms: number) => Math.floor(ms / DAY_MS) * DAY_MS;
const recordMs = (r: LoopRecord) => (r.type !== 'community' ? r.windowStartMs : 'startMs' in r ? r.startMs : r.dayStartMs);

async function loadCesModules() {
  const [household, ledger, protocol, solve] = await Promise.all([import('../ces/household-rental.ts'), import('../ces/rental-ledger.ts'), import('../ces/rental-protocol.ts'), import('../ces/solve.ts')]);
  return { household, ledger, protocol, solve };
}

class GatewayMarketLoop implements MarketLoop {
  private readonly market: NonNullable<GatewayConfig['market']>;
  private readonly timing: MarketLoopTiming;
  private readonly abort = new AbortController();
  private node: MarketNode | undefined;
  private journal: Journal<LoopRecord> | undefined;
  private members: string[] = [];
  /** Windows this gateway joined, with their cleared prices once known (null: nothing cleared). */
  private readonly windows = new Map<number, (number | null)[] | null>();
  /** The community clearings this gateway joined, by start, with the anchor once known (null: failed). */
  private readonly communityClearings = new Map<number, CommunityAnchor | null>();
  /** Who took part in the community clearings that succeeded since this start (not journaled: after a restart, every member). */
  private readonly clearingParticipants = new Map<number, readonly string[]>();
  /** Between two community clearings (`market.reclearEveryHours`; a day: day-ahead only). */
  private readonly reclearMs: number;
  private offered: HouseholdProblem | null = null;
  /** What each member said about the clearings around now, by clearing id. */
  private readonly statuses = new Map<string, Map<string, Status>>();
  private current: { clearing: string; phase: 'joining' | 'clearing' } | null = null;
  private running: Promise<void> | null = null;
  private connecting: Promise<void> | null = null;
  private closed = false;
  /** With a CES in the community (`market.ces`): this household's rental ledger, the solver of its answers, its side of the rental. */
  private rental: { ledger: RentalLedger; solver: CesSolver; party: HouseholdRentalParty } | undefined;
  /** The live community guard: on with community coordination unless `market.communityGuard` is false. */
  private live: LiveGuardLink | null = null;
  private noLoss: NoLossLink | null = null;
  /** The CES's modules, loaded only when `market.ces` is set (a gateway without a CES does not carry them). */
  private cesModules: Awaited<ReturnType<typeof loadCesModules>> | undefined;

  constructor(private readonly options: MarketLoopOptions) {
    if (options.config.market === undefined) throw new Error('market loop: the configuration has no market section');
    this.market = options.config.market;
    this.reclearMs = (this.market.reclearEveryHours ?? 24) * HOUR_MS;
    const { control, simulator } = options.config;
    this.timing = {
      joinTimeoutMs: (simulator?.speed === 'lockstep' ? 0 : (control.stepMinutes * 60_000) / (simulator?.speed ?? 1)) + control.solveBudgetMs + 5_000,
      // On lock-step time a late answer costs no simulated time; dropping it would make the run's figures depend on the machine's load.
      roundTimeoutMs: simulator?.speed === 'lockstep' ? 60_000 : 10_000,
      commitTimeoutMs: 30_000,
      // A member's report is a message through the broker: milliseconds on a LAN. A real gateway waits
      // at most a fraction of its fast period; on lock-step time a late report costs no simulated time.
      liveGuardTimeoutMs: simulator?.speed === 'lockstep' ? 10_000 : Math.max(100, Math.min(1_000, (control.fastPeriodS * 1000) / 4 / (simulator?.speed ?? 1))),
      node: {},
      ...options.timing,
    };
  }

  async start(): Promise<void> {
    const { config, log } = this.options;
    const identity = loadOrCreateIdentity(this.market.identityFile, config.gatewayId, log);
    const members = readMembersFile(this.market.membersFile);
    if (!members.some((m) => m.peerId === identity.peerId && m.publicKey === identity.publicKey)) {
      throw new Error(`${this.market.membersFile}: ${identity.peerId} is not listed with the key of ${this.market.identityFile}; add {"peerId": "${identity.peerId}", "publicKey": "${identity.publicKey}"}`);
    }
    this.members = members.map((m) => m.peerId).sort();
    if (this.market.ces !== undefined) this.cesModules = await loadCesModules();
    const { journal, records } = Journal.open<LoopRecord>(join(this.options.dataDir, 'market-loop.jsonl'));
    this.journal = journal;
    const newestMs = Math.max(0, ...records.map(recordMs));
    const kept = records.filter((r) => recordMs(r) >= newestMs - HISTORY_MS);
    if (records.length > COMPACT_AFTER_LINES) journal.rewrite(kept);
    for (const record of kept) {
      if (record.type === 'community') this.communityClearings.set(recordMs(record), record.anchor);
      else this.windows.set(record.windowStartMs, record.type === 'cleared' && record.priceEurPerKwh.length > 0 ? record.priceEurPerKwh : null);
    }
    const node = new MarketNode({
      identity,
      community: { communityId: this.market.community, members: memberKeys(members) },
      brokerUrl: this.options.brokerUrl ?? this.market.brokerUrl,
      dataDir: this.options.dataDir,
      slotClock: this.options.clock,
      roundSchemas: { ...roundSchemas, [STATUS_ROUND]: statusSchema, ...LIVE_GUARD_ROUND_SCHEMAS, ...NO_LOSS_ROUND_SCHEMAS, ...this.cesModules?.protocol.RENTAL_ROUND_SCHEMAS },
      timing: this.timing.node,
      log: (level, line) => log(level, `market: ${line}`),
      credentials: brokerCredentials(this.market, config.gatewayId),
    });
    this.node = node;
    if (this.market.coordination === 'community' && this.market.communityGuard !== false) {
      this.live = new LiveGuardLink({
        node,
        members,
        fastPeriodMs: config.control.fastPeriodS * 1000,
        timeoutMs: this.timing.liveGuardTimeoutMs,
        clock: this.options.clock,
        anchor: (atMs) => this.anchorInForce(atMs),
        participants: (atMs) => this.clearingParticipants.get(this.clearingInForce(atMs)?.[0] ?? NaN),
        signal: this.abort.signal,
        log,
      });
    }
    if (this.market.coordination === 'community' && this.market.noLossSettlement !== false) {
      this.noLoss = new NoLossLink({
        node,
        // The cloud storage operator is a member without a household bill: it settles nothing.
        members: members.filter((m) => m.peerId !== this.market.ces),
        chargeEurPerKwDay: this.market.communityPeakChargeEurPerKwDay ?? DEFAULT_COMMUNITY_PEAK_CHARGE_EUR_PER_KW_DAY,
        timeoutMs: this.timing.roundTimeoutMs,
        clock: this.options.clock,
        signal: this.abort.signal,
        log,
      });
    }
    node.on('round', (envelope) => this.onRound(envelope));
    if (this.market.ces !== undefined) this.answerCes(node, this.market.ces, this.cesModules!);
    const firstAttempt = this.connect(node);
    this.connecting = firstAttempt.then(() => undefined, () => this.keepConnecting(node));
    await firstAttempt.catch((error: Error) => log('warn', `market: no broker yet (${error.message}); trading starts once it answers`));
    // On lock-step time the first clearing is at the simulated start, while the other members may
    // still be starting on the wall clock: it waits until all are online, as every later one finds them.
    if (config.simulator?.speed === 'lockstep' && node.connected) await this.untilAllOnline(node, LOCKSTEP_START_WAIT_MS);
  }

  private async untilAllOnline(node: MarketNode, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    const away = () => {
      const online = new Set(node.peers().filter((p) => p.online).map((p) => p.peerId));
      return this.members.filter((m) => m !== node.id && !online.has(m));
    };
    while (away().length > 0 && performance.now() < deadline) if (!(await systemClock.sleep(JOIN_POLL_MS, this.abort.signal))) return;
    if (away().length > 0) this.options.log('warn', `market: ${away().join(', ')} not online after ${timeoutMs / 1000} s of wall time; the first clearing goes on without them`);
  }

  async tick(nowMs: number): Promise<void> {
    if (this.closed || this.running !== null || this.node?.connected !== true) return;
    this.forgetOld(nowMs);
    if (this.market.coordination === 'community') {
      const startMs = Math.floor(nowMs / this.reclearMs) * this.reclearMs;
      if (!this.communityClearings.has(startMs)) return this.run(this.clearCommunity(this.node, startMs));
      // The day is coordinated by its clearings' anchor; the auction is the fallback of a day none of whose clearings succeeded.
      if (this.anchorInForce(nowMs) !== undefined) return;
    }
    const windowStartMs = openWindowStartMs(nowMs);
    if (this.windows.has(windowStartMs)) return;
    this.run(this.clearWindow(this.node, windowStartMs));
  }

  private run(work: Promise<void>): void {
    // A clearing keeps lock-step time still: the community clears at one instant.
    this.running = holdWhile(this.options.clock, work)
      // Only the journal can throw here (a full disk): the market pauses, the gateway runs on.
      .catch((error: Error) => this.options.log('error', `market: journal not written: ${error.message}`))
      .finally(() => (this.running = null));
  }

  offerProblem(problem: HouseholdProblem): void {
    this.offered = problem;
  }

  communityCoupling(input: ProblemInput, slotStartsMs: readonly number[]): CommunityCoupling | undefined {
    if (this.market.coordination !== 'community') return undefined;
    const anchor = this.anchorInForce(this.options.clock.nowMs());
    return anchor ? anchoredCoupling(anchor, input, slotStartsMs) : undefined;
  }

  private anchorInForce(nowMs: number): CommunityAnchor | undefined {
    return this.clearingInForce(nowMs)?.[1];
  }

  /**
   * The start and anchor of today's latest clearing that succeeded (a failed or running re-clearing leaves
   * the one before in force); before today's first clearing has ended (the midnight solve, the
   * solves during it) yesterday's latest, whose uncovered slots carry no price; none on a day whose
   * clearings all failed (that day trades by auction).
   */
  private clearingInForce(nowMs: number): [startMs: number, anchor: CommunityAnchor] | undefined {
    const dayStartMs = dayStartOf(nowMs);
    const decided = (fromMs: number, toMs: number) =>
      [...this.communityClearings].filter(([startMs]) => startMs >= fromMs && startMs <= toMs && this.current?.clearing !== communityIdOf(startMs)).sort(([a], [b]) => a - b);
    const today = decided(dayStartMs, nowMs);
    const latest = (clearings: [number, CommunityAnchor | null][]) => clearings.filter((c): c is [number, CommunityAnchor] => c[1] !== null).pop();
    return latest(today.length > 0 ? today : decided(dayStartMs - DAY_MS, dayStartMs - 1));
  }


  settled(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  peerTrades(slotStartsMs: number[]): PeerTrade[] {
    const node = this.started();
    const { tariff } = this.options.config;
    const slots = slotStartsMs.map((startMs) => Math.floor(startMs / SLOT_MS) * SLOT_MS);
    // The CES's account trades are at 0 EUR/kWh (the energy stays the household's): no price of the slot's energy.
    const ces = this.market.ces;
    const tradedPrice = new Map(node.ledger.committed().filter((t) => t.seller !== ces && t.buyer !== ces).map((t) => [t.slotStartMs, t.priceEurPerKwh]));
    const priceEurPerKwh = slots.map((slotMs) => (this.clearedPrice(slotMs) ?? tradedPrice.get(slotMs) ?? this.estimatedPrice(slotMs)) + tariff.p2pGridFeeEurPerKwh);
    // Former members with commitments stay: energy that is owed is planned whoever owes it.
    const self = node.id;
    const counterparts = new Set([...this.members, ...node.ledger.committed().map((t) => (t.buyer === self ? t.seller : t.buyer))]);
    counterparts.delete(self);
    const peers = [...counterparts].map((peerId) => ({ peerId, priceEurPerKwh, maxKw: this.market.maxTradeKw }));
    return withCommittedTrades(peers, node.ledger, slots).map((peer) => ({ ...peer, committedKw: slots.map((_, t) => peer.committedKw?.[t] ?? 0) }));
  }

  trades(): TradeView[] {
    const node = this.started();
    const shownAfterMs = this.options.clock.nowMs() - TRADES_SHOWN_MS;
    return node.ledger
      .entriesList()
      .filter((e) => e.trade.slotStartMs + e.trade.slotMinutes * 60_000 > shownAfterMs)
      .map(({ trade, state }) => {
        const buys = trade.buyer === node.id;
        return {
          tradeId: trade.tradeId,
          peerId: buys ? trade.seller : trade.buyer,
          slotStartMs: trade.slotStartMs,
          slotEndMs: trade.slotStartMs + trade.slotMinutes * 60_000,
          powerKw: buys ? trade.powerKw : -trade.powerKw,
          priceEurPerKwh: trade.priceEurPerKwh,
          state,
        };
      })
      // By what a trade is, not by its random id: the hour's sums then come out the same in every run.
      .sort((a, b) => a.slotStartMs - b.slotStartMs || a.peerId.localeCompare(b.peerId) || a.powerKw - b.powerKw || a.priceEurPerKwh - b.priceEurPerKwh || (a.tradeId < b.tradeId ? -1 : 1));
  }

  connected(): boolean {
    return this.node?.connected === true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort(new Error('market loop closed'));
    // A connection attempt in flight would otherwise open a client after the node stopped.
    await this.connecting;
    await this.node?.stop();
    await this.running;
    this.journal?.close();
    this.rental?.ledger.close();
    this.rental?.solver.dispose();
  }

  /**
   * The CES's rental rounds (docs/ces.md §5), answered from the planner's latest problem; a booking is
   * accepted only exactly as answered, and its account energy and the P2P energy answered committed
   * as trades with the CES, which `peerTrades` then fixes like any committed trade.
   */
  private answerCes(node: MarketNode, cesId: string, { household, ledger, protocol, solve }: Awaited<ReturnType<typeof loadCesModules>>): void {
    const rentalLedger = ledger.RentalLedger.open(this.options.dataDir, node.id);
    const solver = new solve.CesSolver();
    const party = new household.HouseholdRentalParty({
      channel: protocol.rentalChannel(node),
      cesId,
      ledger: rentalLedger,
      solver,
      feedInEurPerKwh: this.options.config.tariff.feedInEurPerKwh,
      clock: this.options.clock,
      dayInput: (dayMs) => {
        if (this.offered === null) throw new Error('no plan to answer the CES from yet');
        // P2P energy from the CES pays this gateway's own local grid fee and VAT (docs/ces.md §5).
        const { p2pGridFeeEurPerKwh, vatFactor } = this.options.config.tariff;
        return { ...household.dayInputFromProblem(this.offered, dayMs), p2pFees: { localGridFeeEurPerKwh: p2pGridFeeEurPerKwh, vatFactor } };
      },
      log: (line) => this.options.log('warn', `market: ${line}`),
    });
    this.rental = { ledger: rentalLedger, solver, party };
  }

  observeHour(record: HourRecord): void {
    this.rental?.party.observeHour(record);
    this.live?.observeHour(record);
  }

  settleDay(report: DayReport): Promise<DaySettlement> | null {
    return this.noLoss === null || this.closed || this.node?.connected !== true ? null : this.noLoss.settle(report);
  }

  /** The live community guard at a fast-loop instant (live-guard.ts); null: none (off, not connected, no clearing in force). */
  guardCommunity(own: LiveImport): Promise<GuardDecision | null> {
    return this.live === null || this.closed ? Promise.resolve(null) : this.live.exchange(own);
  }

  private started(): MarketNode {
    if (this.node === undefined) throw new Error('market loop not started');
    return this.node;
  }

  private connect(node: MarketNode): Promise<void> {
    return node.start().then(() => {
      if (!this.closed) this.options.log('info', `market: ${node.id} connected to ${this.options.brokerUrl ?? this.market.brokerUrl} (community ${this.market.community}, ${this.members.length} members)`);
      // Account trades of a booking accepted before a restart and not yet committed (docs/ces.md §4).
      this.rental?.party.resume();
    });
  }

  private async keepConnecting(node: MarketNode): Promise<void> {
    const retryMs = Math.max(1_000, this.timing.node.reconnectMs ?? 5_000);
    while (!this.closed) {
      if (!(await systemClock.sleep(retryMs, this.abort.signal))) return;
      try {
        return await this.connect(node);
      } catch {
        // Said once at start; the broker being away is also visible as connected() = false.
      }
    }
  }

  /** This gateway's part in the clearing of one window: once started, the window is done, cleared or not. */
  private async clearWindow(node: MarketNode, windowStartMs: number): Promise<void> {
    const { log, clock } = this.options;
    const what = `window ${new Date(windowStartMs).toISOString()}`;
    this.journal!.append({ type: 'joined', windowStartMs });
    this.windows.set(windowStartMs, null);
    this.current = { clearing: clearingIdOf(windowStartMs), phase: 'joining' };
    let prices: (number | null)[] = [];
    let participants: string[] = [];
    try {
      const book = this.book(windowStartMs);
      participants = await this.join(node, clearingIdOf(windowStartMs));
      if (participants.length < 2) {
        log('info', `market: ${what}: no other gateway joined, nothing to clear`);
        return;
      }
      this.current.phase = 'clearing';
      const { roundTimeoutMs } = this.timing;
      // Every candidate may fail in turn: each costs a leader timeout (2 rounds) and a round.
      const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(roundTimeoutMs * (1 + 3 * participants.length))]);
      const clearing = await untilAborted(runAuction(marketNodeChannel(node), book, WINDOW_SLOTS, { clearing: clearingIdOf(windowStartMs), peerIds: participants, roundTimeoutMs, signal }), signal);
      prices = clearing.priceEurPerKwh.map((p) => (Number.isFinite(p) ? p : null));
      // Both sides drop a slot that has begun; a trade only one side drops ends uncommitted on both.
      const trades = fromBilateralTrades(clearing.trades, windowStartMs, SLOT_HOURS).filter((t) => t.slotStartMs > clock.nowMs());
      // The result is not trusted: only trades inside this gateway's own book are committed.
      const mandate = mandateFromBook(book, windowStartMs, SLOT_HOURS, this.market.maxTradeKw);
      log('info', `market: ${what} cleared among ${participants.join(', ')}: ${await this.commit(node, what, trades, mandate)}`);
    } catch (error) {
      if (!this.closed) log('warn', `market: ${what} not cleared: ${(error as Error).message}`);
    } finally {
      this.windows.set(windowStartMs, prices.length > 0 ? prices : null);
      this.journal!.append({ type: 'cleared', windowStartMs, priceEurPerKwh: prices, participants });
      this.current = null;
    }
  }

  /**
   * This gateway's part in a community clearing (the day's at midnight, a re-clearing every
   * `market.reclearEveryHours`): joined once (journaled), cleared with the members online that
   * joined, each household's local step its own problem as the planner last built it. Its outcome
   * is this household's own final plan's net import and the clearing's price: the anchor of the
   * planner's re-plans. A failed clearing leaves no anchor. The day's P2P trades come from its
   * first clearing only: a re-clearing moves plans, not trades (the committed ones are in every
   * household's problem it clears).
   */
  private async clearCommunity(node: MarketNode, startMs: number): Promise<void> {
    const { log } = this.options;
    const clearing = communityIdOf(startMs);
    const dayStartMs = dayStartOf(startMs);
    const what = `community clearing of ${new Date(startMs).toISOString().slice(0, startMs === dayStartMs ? 10 : 16)}`;
    this.journal!.append({ type: 'community', startMs, anchor: null });
    this.communityClearings.set(startMs, null);
    this.current = { clearing, phase: 'joining' };
    let anchor: CommunityAnchor | null = null;
    let household: ReturnType<typeof sharingHousehold> | undefined;
    try {
      const offered = this.offered;
      if (offered === null) throw new Error('no problem from the planner yet');
      const participants = await this.join(node, clearing);
      if (participants.length < 2) throw new Error('no other gateway joined');
      this.current.phase = 'clearing';
      const { input, slotStartsMs, solver } = offered;
      const settings = sharingSettings({ solveBudgetMs: this.options.config.control.solveBudgetMs });
      household = sharingHousehold(input, offered.errorDays, settings, offered.startMs, solver);
      const dayOfStep = slotStartsMs.map((ms) => Math.max(0, Math.floor((ms - dayStartMs) / DAY_MS)));
      const chance = this.market.communityImportChance;
      const terms: CoordinatorTerms = {
        peakChargeEurPerKwDay: this.market.communityPeakChargeEurPerKwDay ?? DEFAULT_COMMUNITY_PEAK_CHARGE_EUR_PER_KW_DAY,
        dayOfStep,
        peakSoFarKw: new Array<number>(1 + Math.max(...dayOfStep)).fill(0),
        // Used only if this gateway leads: the leader names the sample days, as many as it has and its messages fit.
        ...(chance ? { chance: { epsilon: chance.epsilon, radiusKw: chance.radiusKw ?? this.options.config.control.radiusKw, sampleCount: chance.samples ?? DEFAULT_COMMUNITY_SAMPLES } } : {}),
      };
      const { roundTimeoutMs } = this.timing;
      // Every round may wait a round timeout, and every candidate may fail in turn.
      const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(roundTimeoutMs * (settings.maxRounds + 3 * participants.length))]);
      const reservation = this.reservation(input);
      const outcome = await untilAborted(runSharing(marketNodeChannel(node), household, { terms, stepHours: input.stepHours, settings }, { clearing, peerIds: participants, roundTimeoutMs, signal }, reservation), signal);
      if (outcome === null) throw new Error('this gateway was dropped from it');
      // Alone at the end (everyone else dropped), the "clearing" is this household's own plan: no coordination to anchor to.
      if (outcome.participants.length < 2) throw new Error('every other gateway was dropped from it');
      const { plan } = outcome;
      this.clearingParticipants.set(startMs, outcome.participants);
      anchor = { slotStartsMs, priceEurPerKwh: outcome.couplingPriceEurPerKwh, netTargetKw: plan.gridImportKw.map((g, t) => g - plan.gridExportKw[t]!) };
      log('info', `market: ${what} among ${outcome.participants.join(', ')} (leader ${outcome.leader}${outcome.sampleCount > 0 ? `, community chance family on ${outcome.sampleCount} joint samples` : ''}): ${outcome.rounds} rounds, ${outcome.converged ? 'converged' : 'not converged'}; own peak import ${Math.max(0, ...anchor.netTargetKw).toFixed(2)} kW`);
      if (reservation && startMs === dayStartMs) await this.commitCommunityTrades(node, what, outcome.trades, slotStartsMs[0]!, anchor.netTargetKw, reservation);
    } catch (error) {
      if (!this.closed) log('warn', `market: ${what} failed (${(error as Error).message}); the day trades by auction`);
    } finally {
      household?.dispose();
      this.communityClearings.set(startMs, anchor);
      this.journal!.append({ type: 'community', startMs, anchor });
      this.current = null;
    }
  }

  /**
   * What this household accepts from a neighbour per step of the clearing (fee excluded): it buys
   * at most at the grid's price less the local-trade fee, and sells at least at the feed-in price.
   * None (it takes part in the clearing but does not trade) unless the steps are the market's slots.
   */
  private reservation(input: ProblemInput): Reservation | undefined {
    if (!input.stepHours.every((h) => h === SLOT_HOURS)) return undefined;
    const feeEurPerKwh = this.options.config.tariff.p2pGridFeeEurPerKwh;
    return { maxBuyEurPerKwh: input.tariff.buyEurPerKwh.map((c) => c - feeEurPerKwh), minSellEurPerKwh: [...input.tariff.sellEurPerKwh], maxTradeKw: this.market.maxTradeKw };
  }

  /**
   * Commits this household's P2P trades of a community clearing, only inside its own cleared net
   * import and prices: whatever the leader's result says, it never buys more than it planned to
   * import, sells more than it planned to export, or trades at a price it would not take.
   */
  private async commitCommunityTrades(node: MarketNode, what: string, result: readonly BilateralTrade[], startMs: number, netKw: readonly number[], reservation: Reservation): Promise<void> {
    const trades = fromBilateralTrades(result, startMs, SLOT_HOURS).filter((t) => t.slotStartMs > this.options.clock.nowMs());
    this.options.log('info', `market: ${what}: P2P ${await this.commit(node, what, trades, communityMandate(node.id, netKw, reservation, startMs, SLOT_HOURS))}`);
  }

  /** The two-phase commit of this gateway's cleared trades inside its mandate; says what was committed, warns of the rest. */
  private async commit(node: MarketNode, what: string, trades: ClearedTrade[], mandate: Mandate): Promise<string> {
    const outcomes = await node.commitTrades(trades, { mandate, timeoutMs: this.timing.commitTimeoutMs });
    const committed = outcomes.filter((o) => o.state === 'committed');
    const kwh = (side: 'buyer' | 'seller') => committed.filter((o) => o.trade[side] === node.id).reduce((sum, o) => sum + o.trade.powerKw * SLOT_HOURS, 0);
    for (const o of outcomes) if (o.state !== 'committed') this.options.log('warn', `market: ${what}: trade ${o.trade.seller} → ${o.trade.buyer} at ${new Date(o.trade.slotStartMs).toISOString()} ended ${o.state}${o.reason ? ` (${o.reason})` : ''}`);
    return `${committed.length} of our ${outcomes.length} trades committed (bought ${kwh('buyer').toFixed(2)} kWh, sold ${kwh('seller').toFixed(2)} kWh)`;
  }

  /** This gateway's order book for the window, from its latest plan (none from a fallback plan). */
  private book(windowStartMs: number): OrderBook {
    const active = this.options.plan();
    if (active === null || active.fallback) return Array.from({ length: WINDOW_SLOTS }, () => []);
    const maxKwh = this.market.maxTradeKw * SLOT_HOURS;
    return ordersFromPlan(this.node!.id, hourlySlots(active.plan, windowStartMs, maxKwh), this.options.config.tariff.p2pGridFeeEurPerKwh);
  }

  /**
   * Announces this gateway for the window and waits until every other member is accounted for:
   * it said something about the window, or it is known to be offline; at most the join timeout.
   * Returns who clears: this gateway and every member that is joining or clearing and not offline.
   */
  private async join(node: MarketNode, clearing: string): Promise<string[]> {
    const startedMs = performance.now();
    let announcedMs = -Infinity;
    const heard = () => this.statuses.get(clearing) ?? new Map<string, Status>();
    const offline = () => new Set(node.peers().filter((p) => !p.online).map((p) => p.peerId));
    for (;;) {
      if (performance.now() - announcedMs >= JOIN_RESEND_MS) {
        this.announce(node, clearing, 'joining');
        announcedMs = performance.now();
      }
      const gone = offline();
      const waiting = this.members.filter((m) => m !== node.id && !heard().has(m) && !gone.has(m));
      if (waiting.length === 0 || performance.now() - startedMs >= this.timing.joinTimeoutMs) break;
      if (!(await systemClock.sleep(JOIN_POLL_MS, this.abort.signal))) throw new Error('market loop closed');
    }
    const gone = offline();
    const joined = [...heard()].filter(([peerId, status]) => status !== 'done' && !gone.has(peerId)).map(([peerId]) => peerId);
    return [node.id, ...joined].sort();
  }

  private announce(node: MarketNode, clearing: string, status: Status): void {
    node.publish('round', { name: STATUS_ROUND, payload: { clearing, status } }).catch(() => undefined);
  }

  /** Status messages: remembered for the windows around now; a joining member is told where this gateway is. */
  private onRound(envelope: Envelope<'round'>): void {
    if (this.closed) return;
    if (this.live?.onRound(envelope) || this.noLoss?.onRound(envelope)) return;
    if (envelope.body.name !== STATUS_ROUND) return;
    const { clearing, status } = envelope.body.payload as { clearing: string; status: Status };
    if (!this.isAround(clearing, this.options.clock.nowMs())) return;
    const heard = this.statuses.get(clearing) ?? new Map<string, Status>();
    this.statuses.set(clearing, heard);
    heard.set(envelope.from, status);
    if (status !== 'joining') return;
    // Only a joining member is answered (and only by one that is past joining), so answers never answer each other.
    const [, kind, ms] = CLEARING_ID.exec(clearing)!;
    const done = kind === 'community' ? this.communityClearings.has(Number(ms)) : this.windows.has(Number(ms));
    const own = this.current?.clearing === clearing ? this.current.phase : done ? 'done' : undefined;
    if (own === 'clearing' || own === 'done') this.announce(this.node!, clearing, own);
  }

  /** Whether a clearing is around now: the open window or its neighbours, today or a neighbouring day. */
  private isAround(clearing: string, nowMs: number): boolean {
    const [, kind, ms] = CLEARING_ID.exec(clearing)!;
    return kind === 'community' ? Math.abs(Number(ms) - dayStartOf(nowMs)) <= DAY_MS : Math.abs(Number(ms) - openWindowStartMs(nowMs)) <= WINDOW_MS;
  }

  private forgetOld(nowMs: number): void {
    for (const clearing of this.statuses.keys()) if (!this.isAround(clearing, nowMs)) this.statuses.delete(clearing);
    for (const windowStartMs of this.windows.keys()) if (windowStartMs < nowMs - HISTORY_MS) this.windows.delete(windowStartMs);
    for (const startMs of this.communityClearings.keys()) if (startMs < nowMs - HISTORY_MS) this.communityClearings.delete(startMs);
    for (const startMs of this.clearingParticipants.keys()) if (!this.communityClearings.has(startMs)) this.clearingParticipants.delete(startMs);
  }

  /** The market's price of the slot (what the seller gets), if its window cleared it. */
  private clearedPrice(slotMs: number): number | undefined {
    const windowStartMs = Math.floor(slotMs / WINDOW_MS) * WINDOW_MS;
    return this.windows.get(windowStartMs)?.[(slotMs - windowStartMs) / SLOT_MS] ?? undefined;
  }

  /**
   * A slot not cleared (yet): the latest cleared price at the same hour of day, else the neutral
   * starting price of the clearing layer (half-way between feed-in and buy − fee) at the
   * configuration's fallback tariff.
   */
  private estimatedPrice(slotMs: number): number {
    const hourOfDayMs = slotMs % (24 * HOUR_MS);
    let latest: { atMs: number; price: number } | undefined;
    for (const [windowStartMs, prices] of this.windows) {
      prices?.forEach((price, j) => {
        const atMs = windowStartMs + j * SLOT_MS;
        if (price !== null && atMs % (24 * HOUR_MS) === hourOfDayMs && (latest === undefined || atMs > latest.atMs)) latest = { atMs, price };
      });
    }
    if (latest !== undefined) return latest.price;
    const { tariff } = this.options.config;
    const buyEurPerKwh = (tariff.fallbackDayAheadEurPerMwh / 1000 + tariff.gridFeesEurPerKwh) * tariff.vatFactor;
    return initialPrice([buyEurPerKwh], [tariff.feedInEurPerKwh], tariff.p2pGridFeeEurPerKwh)[0]!;
  }
}

/**
 * The plan's grid exchange over `WINDOW_SLOTS` hourly slots from `windowStartMs`: steps of any
 * length are split by overlap, import and export netted (a gateway never buys and sells in one
 * slot), capped at `maxKwh`; the marginal value is the overlap-weighted mean. A slot the plan does
 * not cover entirely gets no order.
 */
function hourlySlots(plan: Plan, windowStartMs: number, maxKwh: number): PlanSlots {
  const steps = planSlots(plan);
  const slots: PlanSlots = { importKwh: [], exportKwh: [], marginalValueEurPerKwh: [] };
  for (let j = 0; j < WINDOW_SLOTS; j++) {
    const fromMs = windowStartMs + j * SLOT_MS;
    const toMs = fromMs + SLOT_MS;
    let netKwh = 0;
    let valueMs = 0;
    let coveredMs = 0;
    let stepStartMs = plan.startMs;
    plan.stepHours.forEach((hours, k) => {
      const stepMs = hours * HOUR_MS;
      const overlapMs = Math.max(0, Math.min(toMs, stepStartMs + stepMs) - Math.max(fromMs, stepStartMs));
      if (overlapMs > 0) {
        netKwh += ((steps.importKwh[k]! - steps.exportKwh[k]!) * overlapMs) / stepMs;
        valueMs += steps.marginalValueEurPerKwh[k]! * overlapMs;
        coveredMs += overlapMs;
      }
      stepStartMs += stepMs;
    });
    // A millisecond of float slack in the step lengths still counts as covered.
    const covered = coveredMs >= SLOT_MS - 1;
    const kwh = covered ? Math.max(-maxKwh, Math.min(maxKwh, netKwh)) : 0;
    slots.importKwh.push(Math.max(kwh, 0));
    slots.exportKwh.push(Math.max(-kwh, 0));
    slots.marginalValueEurPerKwh.push(covered ? valueMs / coveredMs : 0);
  }
  return slots;
}

function loadOrCreateIdentity(path: string, gatewayId: string, log: RuntimeLog): Identity {
  if (existsSync(path)) {
    const identity = loadIdentity(path);
    if (identity.peerId !== gatewayId) throw new Error(`${path} is the identity of ${identity.peerId}, not of gateway ${gatewayId}`);
    return identity;
  }
  const identity = generateIdentity(gatewayId);
  saveIdentity(identity, path);
  log('info', `market: created identity ${path} with public key ${identity.publicKey}`);
  return identity;
}

/**
 * The login at the market's broker: configured (`username`, `passwordFile`), or this gateway's id
 * with a signed login token at its own embedded community broker; none at an open broker, where
 * the client id is then random (docs/configuration.md, `market`).
 */
function brokerCredentials(market: NonNullable<GatewayConfig['market']>, gatewayId: string): BrokerCredentials | undefined {
  const embedded = market.brokerUrl.startsWith('embedded:');
  const username = market.username ?? (embedded || market.passwordFile !== undefined ? gatewayId : undefined);
  const pem = (path: string | undefined) => (path === undefined ? undefined : readFileSync(path, 'utf8'));
  const credentials: BrokerCredentials = {
    ...(username !== undefined ? { username } : {}),
    // The file's content up to its line end: `echo secret > file` writes a newline that is no part of the password.
    ...(market.passwordFile !== undefined ? { password: readFileSync(market.passwordFile, 'utf8').replace(/\r?\n$/, '') } : {}),
    ...Object.fromEntries(Object.entries({ ca: pem(market.tls?.caFile), cert: pem(market.tls?.certFile), key: pem(market.tls?.keyFile) }).filter(([, v]) => v !== undefined)),
  };
  return Object.keys(credentials).length > 0 ? credentials : undefined;
}

/**
 * The options of the market's embedded broker (`brokerUrl: embedded:<port>`): a community broker
 * that admits the members of the members file only, on `listenHost`.
 */
export function embeddedMarketBroker(market: NonNullable<GatewayConfig['market']>): EmbeddedBrokerOptions {
  return { ...(market.listenHost !== undefined ? { host: market.listenHost } : {}), community: { communityId: market.community, members: memberKeys(readMembersFile(market.membersFile)) } };
}

/**
 * The members file: `{"members": [{"peerId": "…", "publicKey": "<base64url Ed25519>", "maxImportKw": …, "maxExportKw": …}, …]}`
 * (docs/market-loop.md); the connection limits are optional.
 */
function readMembersFile(path: string): (CommunityMember & Partial<MemberConnection>)[] {
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as { members?: unknown };
  const members = parsed.members;
  const limit = (v: unknown) => v === undefined || (typeof v === 'number' && Number.isFinite(v) && v >= 0);
  const valid = (m: unknown): m is CommunityMember & Partial<MemberConnection> => {
    const member = m as CommunityMember & Partial<MemberConnection>;
    return typeof member?.peerId === 'string' && typeof member?.publicKey === 'string' && limit(member.maxImportKw) && limit(member.maxExportKw);
  };
  if (!Array.isArray(members) || !members.every(valid)) throw new Error(`${path}: expected {"members": [{"peerId": "…", "publicKey": "…", optional "maxImportKw": kW ≥ 0, "maxExportKw": kW ≥ 0}, …]}`);
  return members.map(({ peerId, publicKey, maxImportKw, maxExportKw }) => ({ peerId, publicKey, ...(maxImportKw !== undefined ? { maxImportKw } : {}), ...(maxExportKw !== undefined ? { maxExportKw } : {}) }));
}

/** What the broker and the message signatures need of the members: ids and keys, not connection limits. */
function memberKeys(members: readonly CommunityMember[]): CommunityMember[] {
  return members.map(({ peerId, publicKey }) => ({ peerId, publicKey }));
}

/** `work`, or a rejection as soon as `signal` aborts (a publish waiting for a lost broker would never end). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error('clearing timed out'));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
