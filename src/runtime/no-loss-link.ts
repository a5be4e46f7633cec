/**
 * The no-loss settlement on the wire (docs/community-coordination.md, "Who pays what"): after each
 * day, every gateway tells the others its day and settles the transfers that keep every household
 * at its bill alone less an equal share of the community's saving. There is no leader: every
 * member computes the same transfers from the same reports.
 *
 * 1. Report (`no-loss-account-report`): the day's hourly metered exchange with the community and
 *    its shadow's without (24 + 24 numbers), the two bills without the community-charge share
 *    (energy, P2P, demand charge, wear), and its running account (three sums over the days it
 *    settled so far: bills alone, bills with the community, transfers booked). Nothing else of the
 *    household: the exchange is what its connection point's meter shows the community anyway.
 * 2. From the reports heard within the timeout (a member offline or silent is not waited for), each
 *    member splits the community charge by coincident import for both fleets, with C_n the bill with
 *    the community and A_n the shadow's, and settles the transfers on the running accounts
 *    (src/household/bill.ts, noLossTransfers): every member ends at its bill alone over its settled
 *    days less an equal share of the saving, so a day a household lost is made up on later days.
 * 3. Confirm (`no-loss-account-confirm`): the digest of the reports it settled on, and whether it
 *    accepts. A member accepts only a settlement that leaves its own running bill at most its running
 *    bill alone: while the accounts show a loss, or a member's report makes them look so, nobody pays
 *    anybody.
 * 4. The day is booked only when every member it was settled among confirmed the same digest and
 *    accepted; otherwise nobody books it and every household keeps its metered bill. Booked or not,
 *    every member adds the day's two bills to its account, and a booked transfer.
 *
 * What a member can still do with a valid key: misreport its own bills or account (only its meter,
 * its shadow and its journal know them). Understating its bill alone, or overstating what it paid,
 * takes from the others' equal shares, never more than leaves them at their own running bill alone
 * (they refuse beyond that). Its exchange counts no further than its grid connection allows (the
 * members file). One report and one confirmation are kept per member (its newest day): a flood
 * replaces, never grows. A member that misses a day's wait (a
 * gateway without the settlement, one that is down) is not waited for until it reports again.
 */
import { createHash } from 'node:crypto';
import { isoDay } from '../data/split.ts';
import { communityChargeShares, noLossTransfers, settledAccount, unsharedSavingEur, type NoLossAccount } from '../household/bill.ts';
import { canonicalJson, INSTANT_MS, type CommunityMember, type Envelope, type MarketNode } from '../market/index.ts';
import { Waiters } from '../market/waiters.ts';
import type { Clock } from '../time/clock.ts';
import { holdWhile } from '../time/lockstep-clock.ts';
import type { MemberConnection } from './live-guard.ts';
import type { RuntimeLog } from './log.ts';

// Renamed when the reports began to carry the running accounts: a member on the day-by-day rule
// (rounds 'no-loss-report' and 'no-loss-confirm') is not settled with, rather than settled differently.
const REPORT_ROUND = 'no-loss-account-report';
const CONFIRM_ROUND = 'no-loss-account-confirm';
const HOURS = 24;
/** A settlement that leaves a household this much above its bill alone is still accepted (rounding of the reports). */
const TOLERANCE_EUR = 1e-6;

/** One household's day as it reports it. */
export interface DayReport {
  /** UTC midnight of the day. */
  dayMs: number;
  /** Metered exchange of each hour with the community (kW over the hour, + import). */
  gridKw: number[];
  /** The shadow's exchange of each hour, alone. */
  shadowGridKw: number[];
  /** The day's bill with the community, without its community-charge share (EUR). */
  billEur: number;
  /** The shadow's bill alone, without its community-charge share (EUR). */
  shadowBillEur: number;
  /** Its running account before this day: the days it settled with the community so far. */
  account: NoLossAccount;
}

interface Confirm {
  dayMs: number;
  digest: string;
  accept: boolean;
}

/** The day's settlement as this gateway sees it. */
export interface DaySettlement {
  dayMs: number;
  /** The members it was settled among (this gateway included), sorted. */
  participants: string[];
  /** Each participant's transfer (EUR, paid; negative: received). */
  transfersEur: Record<string, number>;
  /** This household's transfer (EUR, paid; negative: received), whether booked or not. */
  ownTransferEur: number;
  /** This household's bill alone (A_n) and with the community (C_n), community-charge shares included (EUR). */
  aloneEur: number;
  withCommunityEur: number;
  /** Booked: every participant confirmed the same reports and accepted. Else nobody pays anybody. */
  booked: boolean;
  reason: string;
}

const kw = { type: 'number', minimum: -1e4, maximum: 1e4 };
const eur = { type: 'number', minimum: -1e6, maximum: 1e6 };
const runningEur = { type: 'number', minimum: -1e9, maximum: 1e9 };
const hours = { type: 'array', minItems: HOURS, maxItems: HOURS, items: kw };

/** Register with the market node: reports and confirmations are schema-checked on arrival. */
export const NO_LOSS_ROUND_SCHEMAS = {
  [REPORT_ROUND]: {
    type: 'object',
    properties: {
      dayMs: INSTANT_MS,
      gridKw: hours,
      shadowGridKw: hours,
      billEur: eur,
      shadowBillEur: eur,
      account: { type: 'object', properties: { aloneEur: runningEur, withCommunityEur: runningEur, transferEur: runningEur }, required: ['aloneEur', 'withCommunityEur', 'transferEur'], additionalProperties: false },
    },
    required: ['dayMs', 'gridKw', 'shadowGridKw', 'billEur', 'shadowBillEur', 'account'],
    additionalProperties: false,
  },
  [CONFIRM_ROUND]: {
    type: 'object',
    properties: { dayMs: INSTANT_MS, digest: { type: 'string', pattern: '^[0-9a-f]{64}$' }, accept: { type: 'boolean' } },
    required: ['dayMs', 'digest', 'accept'],
    additionalProperties: false,
  },
};

export interface NoLossLinkOptions {
  node: MarketNode;
  members: readonly (CommunityMember & Partial<MemberConnection>)[];
  /** π^C (EUR per kW of the community's daily peak import). */
  chargeEurPerKwDay: number;
  /** The longest wait for the members' reports, then for their confirmations (wall ms). */
  timeoutMs: number;
  clock: Clock;
  signal: AbortSignal;
  log: RuntimeLog;
}

export class NoLossLink {
  private readonly reports = new Map<string, DayReport>();
  private readonly confirms = new Map<string, Confirm>();
  /** Members that did not report the last day they were waited for: not waited for until they report again. */
  private readonly missed = new Set<string>();
  private readonly connections: Map<string, Partial<MemberConnection>>;
  private readonly others: string[];
  private readonly waiters = new Waiters();

  constructor(private readonly options: NoLossLinkOptions) {
    this.connections = new Map(options.members.map((m) => [m.peerId, m]));
    this.others = options.members.map((m) => m.peerId).filter((id) => id !== options.node.id).sort();
  }

  /** Takes a member's report or confirmation; false for any other round message. */
  onRound(envelope: Envelope<'round'>): boolean {
    const { name, payload } = envelope.body;
    if (name !== REPORT_ROUND && name !== CONFIRM_ROUND) return false;
    if (envelope.from === this.options.node.id) return true;
    const day = (payload as { dayMs: number }).dayMs;
    const into: Map<string, { dayMs: number }> = name === REPORT_ROUND ? this.reports : this.confirms;
    if ((into.get(envelope.from)?.dayMs ?? -Infinity) > day) return true;
    if (!this.connections.has(envelope.from)) return true;
    into.set(envelope.from, name === REPORT_ROUND ? withinConnection(payload as DayReport, this.connections.get(envelope.from)) : (payload as Confirm));
    if (name === REPORT_ROUND) this.missed.delete(envelope.from);
    this.waiters.wake('arrived');
    return true;
  }

  /** Settles this household's day with every member that reports the same day in time. */
  async settle(own: DayReport): Promise<DaySettlement> {
    const { node, clock, log } = this.options;
    const { dayMs } = own;
    const offline = new Set(node.peers().filter((p) => !p.online).map((p) => p.peerId));
    const awaited = this.others.filter((m) => !offline.has(m) && !this.missed.has(m));
    await this.publish(REPORT_ROUND, own);
    const reported = () => awaited.filter((m) => this.reports.get(m)?.dayMs === dayMs);
    await holdWhile(clock, this.until(() => reported().length === awaited.length));
    const participants = [node.id, ...reported()].sort();
    const reports = participants.map((m) => (m === node.id ? own : this.reports.get(m)!));
    const missing = awaited.filter((m) => !participants.includes(m));
    for (const m of missing) this.missed.add(m);
    if (missing.length > 0) log('warn', `no-loss settlement of ${isoDay(dayMs)}: no report from ${missing.join(', ')} within ${this.options.timeoutMs} ms; settled without them, and not waited for until they report again`);

    const real = communityChargeShares(reports.map((r) => r.gridKw), this.options.chargeEurPerKwDay).sharesEur;
    const shadow = communityChargeShares(reports.map((r) => r.shadowGridKw), this.options.chargeEurPerKwDay).sharesEur;
    const aloneEur = reports.map((r, n) => r.shadowBillEur + shadow[n]!);
    const withCommunityEur = reports.map((r, n) => r.billEur + real[n]!);
    const accounts = reports.map((r) => r.account);
    const transfers = noLossTransfers(accounts, aloneEur, withCommunityEur);
    const self = participants.indexOf(node.id);
    const settled = { dayMs, participants, transfersEur: Object.fromEntries(participants.map((m, n) => [m, transfers[n]!])), ownTransferEur: transfers[self]!, aloneEur: aloneEur[self]!, withCommunityEur: withCommunityEur[self]! };
    if (participants.length < 2) return { ...settled, booked: false, reason: 'no other member reported: nothing to settle' };

    const digest = createHash('sha256').update(canonicalJson(participants.map((m, n) => ({ member: m, report: reports[n]! })))).digest('hex');
    const savingEur = unsharedSavingEur(accounts, aloneEur, withCommunityEur);
    // On a loss nothing moves (noLossTransfers): there is nothing to book.
    const after = settledAccount(accounts[self]!, aloneEur[self]!, withCommunityEur[self]!, transfers[self]!);
    const accept = savingEur >= 0 && after.withCommunityEur + after.transferEur <= after.aloneEur + TOLERANCE_EUR;
    await this.publish(CONFIRM_ROUND, { dayMs, digest, accept });
    const others = participants.filter((m) => m !== node.id);
    const confirmed = () => others.filter((m) => this.confirms.get(m)?.dayMs === dayMs);
    await holdWhile(clock, this.until(() => confirmed().length === others.length));
    const answers = others.map((m) => ({ member: m, confirm: this.confirms.get(m) }));
    const reason = savingEur < 0
      ? `the members' running accounts show no saving (${savingEur.toFixed(2)} EUR): nobody pays anybody`
      : !accept ? 'this household would pay more than alone'
      : answers.find((a) => a.confirm?.dayMs !== dayMs) ? `no confirmation from ${answers.filter((a) => a.confirm?.dayMs !== dayMs).map((a) => a.member).join(', ')}`
      : answers.find((a) => a.confirm!.digest !== digest) ? `${answers.filter((a) => a.confirm!.digest !== digest).map((a) => a.member).join(', ')} settled on other reports`
      : answers.find((a) => !a.confirm!.accept) ? `${answers.filter((a) => !a.confirm!.accept).map((a) => a.member).join(', ')} refused`
      : '';
    return { ...settled, booked: reason === '', reason: reason || 'every member confirmed' };
  }

  private async publish(name: string, payload: unknown): Promise<void> {
    await this.options.node.publish('round', { name, payload }).catch((error: Error) => this.options.log('warn', `no-loss settlement: ${name} not sent: ${error.message}`));
  }

  /** Resolves once `complete()` holds, or after the timeout, or on close. */
  private async until(complete: () => boolean): Promise<void> {
    const { signal, timeoutMs } = this.options;
    const deadline = performance.now() + timeoutMs;
    while (!complete() && !signal.aborted && performance.now() < deadline) {
      const stop = () => this.waiters.wake('arrived');
      signal.addEventListener('abort', stop, { once: true });
      await this.waiters.wait('arrived', deadline - performance.now());
      signal.removeEventListener('abort', stop);
    }
  }
}

/** A member's exchange as far as its connection allows. */
function withinConnection(report: DayReport, connection: Partial<MemberConnection> | undefined): DayReport {
  const clip = (v: number) => Math.min(connection?.maxImportKw ?? Infinity, Math.max(-(connection?.maxExportKw ?? Infinity), v));
  return { ...report, gridKw: report.gridKw.map(clip), shadowGridKw: report.shadowGridKw.map(clip) };
}
