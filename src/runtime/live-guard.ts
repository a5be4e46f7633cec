/**
 * The live community guard on the wire (docs/market-loop.md, "The live community guard"): the
 * market loop's part of community-guard.ts. At each fast period's instant this gateway publishes its
 * report as a signed `live-import` round message, waits for the same instant's reports of the other
 * members, and decides from them with every other member.
 *
 * - Only at the fast period's instants (where every gateway iterates; an iteration within a quarter
 *   period of one, as on a real clock, reports for it) and only while a community clearing's anchor
 *   is in force; another iteration at the same instant gets that instant's decision, one between
 *   two instants none.
 * - The wait: every member of the clearing in force (every member, when this gateway does not know
 *   them: after a restart) that is online and did not miss the last wait, at most `timeoutMs`. A
 *   member that misses it is not waited for until it reports again, so a silent member costs one
 *   timeout, not one per period.
 * - One report is kept per member (its newest): a flood replaces, never grows. A report counts at
 *   most as a member at its grid connection would, where the members file lists it.
 */
import type { CommunityMember, Envelope, MarketNode } from '../market/index.ts';
import { INSTANT_MS } from '../market/index.ts';
import type { CommunityAnchor } from '../optimizer/community/index.ts';
import type { Clock } from '../time/clock.ts';
import { holdWhile } from '../time/lockstep-clock.ts';
import { CommunityGuard, type GuardDecision, type GuardReport } from './community-guard.ts';
import type { RuntimeLog } from './log.ts';
import type { HourRecord, LiveImport } from './types.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const LIVE_ROUND = 'live-import';
const kw = { type: 'number', minimum: -1e4, maximum: 1e4 };

/** Register with the market node: reports are schema-checked on arrival. */
export const LIVE_GUARD_ROUND_SCHEMAS = {
  [LIVE_ROUND]: {
    type: 'object',
    properties: {
      atMs: INSTANT_MS,
      importKw: kw,
      hourSoFarKwh: kw,
      roomKw: { type: 'number', minimum: 0, maximum: 1e4 },
      closedHour: { anyOf: [{ type: 'null' }, { type: 'object', properties: { startMs: INSTANT_MS, netImportKwh: kw }, required: ['startMs', 'netImportKwh'], additionalProperties: false }] },
      planned: {
        type: 'object',
        properties: { slotStartsMs: { type: 'array', maxItems: 96, items: INSTANT_MS }, netKw: { type: 'array', maxItems: 96, items: kw } },
        required: ['slotStartsMs', 'netKw'],
        additionalProperties: false,
      },
    },
    required: ['atMs', 'importKw', 'hourSoFarKwh', 'roomKw', 'closedHour', 'planned'],
    additionalProperties: false,
  },
};

/** A member's grid connection, as the members file lists it: the most its reports may claim. */
export interface MemberConnection {
  maxImportKw: number;
  maxExportKw: number;
}

export interface LiveGuardOptions {
  node: MarketNode;
  members: readonly (CommunityMember & Partial<MemberConnection>)[];
  fastPeriodMs: number;
  /** The longest wait for the members' reports of an instant (wall ms). */
  timeoutMs: number;
  clock: Clock;
  /** The community clearing's anchor in force at an instant, if any. */
  anchor: (atMs: number) => CommunityAnchor | undefined;
  /** Who took part in that clearing, if known: only they plan against the anchor and report (not a CES). */
  participants: (atMs: number) => readonly string[] | undefined;
  /** Aborted when the market loop closes: a wait under way ends. */
  signal: AbortSignal;
  log: RuntimeLog;
}

export class LiveGuardLink {
  private readonly guard = new CommunityGuard();
  private readonly reports = new Map<string, GuardReport>();
  private readonly missed = new Set<string>();
  private readonly connections: Map<string, Partial<MemberConnection>>;
  private readonly others: string[];
  private closedHour: GuardReport['closedHour'] = null;
  private last: { atMs: number; decision: GuardDecision | null } | null = null;
  private arrived: (() => void) | null = null;

  constructor(private readonly options: LiveGuardOptions) {
    this.connections = new Map(options.members.map((m) => [m.peerId, m]));
    this.others = options.members.map((m) => m.peerId).filter((id) => id !== options.node.id).sort();
  }

  /** A metered hour of this household: its next reports carry it. */
  observeHour(record: HourRecord): void {
    this.closedHour = { startMs: record.hourStartMs, netImportKwh: record.importKwh - record.exportKwh };
  }

  /** Takes a member's report; false for any other round message. */
  onRound(envelope: Envelope<'round'>): boolean {
    if (envelope.body.name !== LIVE_ROUND) return false;
    const report = envelope.body.payload as GuardReport;
    const known = this.reports.get(envelope.from);
    if (envelope.from === this.options.node.id || (known !== undefined && known.atMs > report.atMs) || report.planned.slotStartsMs.length !== report.planned.netKw.length) return true;
    this.reports.set(envelope.from, withinConnection(report, this.connections.get(envelope.from)));
    this.missed.delete(envelope.from);
    this.arrived?.();
    return true;
  }

  /** This household's part at a fast-loop instant, and the community's decision (null: none). */
  async exchange(own: LiveImport): Promise<GuardDecision | null> {
    const { node, clock, log } = this.options;
    if (!node.connected) return null;
    // On a real clock an iteration runs a little after its instant: it reports for the instant.
    const { fastPeriodMs } = this.options;
    const atMs = Math.round(own.atMs / fastPeriodMs) * fastPeriodMs;
    if (Math.abs(own.atMs - atMs) > fastPeriodMs / 4) return null;
    if (this.last?.atMs === atMs) return this.last.decision;
    const anchor = this.options.anchor(atMs);
    if (anchor === undefined) return null;
    const dayStartMs = atMs - (atMs % DAY_MS);
    const today = anchor.slotStartsMs.flatMap((ms, s) => (ms >= dayStartMs && ms < dayStartMs + DAY_MS ? [s] : []));
    const report: GuardReport = { ...own, atMs, closedHour: this.closedHour, planned: { slotStartsMs: today.map((s) => anchor.slotStartsMs[s]!), netKw: today.map((s) => anchor.netTargetKw[s]!) } };
    node.publish('round', { name: LIVE_ROUND, payload: report }).catch(() => undefined);
    const offline = new Set(node.peers().filter((p) => !p.online).map((p) => p.peerId));
    const cleared = this.options.participants(atMs);
    const awaited = this.others.filter((m) => !offline.has(m) && !this.missed.has(m) && (cleared === undefined || cleared.includes(m)));
    const reported = () => awaited.filter((m) => this.reports.get(m)?.atMs === atMs);
    await holdWhile(clock, this.until(() => reported().length === awaited.length));
    const heard = new Set(reported());
    const missed = awaited.filter((m) => !heard.has(m));
    for (const m of missed) this.missed.add(m);
    if (missed.length > 0) log('warn', `market: live guard: no report of ${new Date(atMs).toISOString()} from ${missed.join(', ')} within ${this.options.timeoutMs} ms; not waited for until they report again`);
    const reports = new Map<string, GuardReport>([[node.id, report]]);
    for (const [peerId, r] of this.reports) if (r.atMs === atMs) reports.set(peerId, r);
    const decision = this.guard.decide(atMs, reports);
    this.last = { atMs: atMs, decision };
    return decision;
  }

  /** Resolves once `complete()` holds after a report arrived, or after the timeout, or on close. */
  private until(complete: () => boolean): Promise<void> {
    const { signal, timeoutMs } = this.options;
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', finish);
        this.arrived = null;
        resolve();
      };
      const timer = setTimeout(finish, timeoutMs);
      signal.addEventListener('abort', finish, { once: true });
      this.arrived = () => {
        if (complete()) finish();
      };
      this.arrived();
    });
  }
}

/**
 * A member's report as far as its connection allows: a member that claims more import, export or
 * room than its connection can carry moves the others' batteries no further than one at its limits.
 */
function withinConnection(report: GuardReport, connection: Partial<MemberConnection> | undefined): GuardReport {
  const maxImportKw = connection?.maxImportKw ?? Infinity;
  const maxExportKw = connection?.maxExportKw ?? Infinity;
  const clip = (kw: number) => Math.min(maxImportKw, Math.max(-maxExportKw, kw));
  const elapsedH = (report.atMs % HOUR_MS) / HOUR_MS;
  return {
    atMs: report.atMs,
    importKw: clip(report.importKw),
    hourSoFarKwh: elapsedH > 0 ? clip(report.hourSoFarKwh / elapsedH) * elapsedH : 0,
    roomKw: Math.min(report.roomKw, maxImportKw + maxExportKw),
    closedHour: report.closedHour && { startMs: report.closedHour.startMs, netImportKwh: clip(report.closedHour.netImportKwh) },
    planned: { slotStartsMs: report.planned.slotStartsMs, netKw: report.planned.netKw.map(clip) },
  };
}
