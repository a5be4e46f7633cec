import { join } from 'node:path';
import { Journal } from '../storage/journal.ts';

/** A trade the clearing produced: `powerKw` > 0 flows from `seller` to `buyer` over the slot. */
export interface ClearedTrade {
  seller: string;
  buyer: string;
  slotStartMs: number;
  slotMinutes: number;
  powerKw: number;
  priceEurPerKwh: number;
}

/** The terms both sides agree on in the commit: a cleared trade under its offer and trade ids. */
export interface TradeTerms extends ClearedTrade {
  tradeId: string;
  offerId: string;
}

/**
 * in-doubt: this buyer accepted and waits for the seller's decision (it never decides alone).
 * committed / aborted: final; a committed trade never becomes aborted or the reverse.
 */
export type TradeState = 'in-doubt' | 'committed' | 'aborted';

export interface LedgerEntry {
  trade: TradeTerms;
  state: TradeState;
  reason?: string;
}

type LedgerRecord =
  | { type: 'accepted'; trade: TradeTerms }
  | { type: 'committed'; trade: TradeTerms }
  | { type: 'aborted'; trade: TradeTerms; reason: string };

/**
 * One gateway's trades, journaled (fsync'd JSON lines, `ledger.jsonl` in the data dir) before
 * any message that depends on them is sent, so a restart resumes exactly where it stopped.
 * Quantities are signed from this gateway's side as in formulation.md §2: + = buy from the peer.
 */
export class Ledger {
  private readonly entries = new Map<string, LedgerEntry>();

  private constructor(
    readonly selfId: string,
    private readonly journal: Journal<LedgerRecord>,
  ) {}

  static open(dataDir: string, selfId: string): Ledger {
    const { journal, records } = Journal.open<LedgerRecord>(join(dataDir, 'ledger.jsonl'));
    const ledger = new Ledger(selfId, journal);
    for (const record of records) ledger.apply(record);
    return ledger;
  }

  get(tradeId: string): LedgerEntry | undefined {
    return this.entries.get(tradeId);
  }

  /** Buyer side: journals the acceptance before it is sent, so a restart keeps asking for the outcome. */
  recordAccepted(trade: TradeTerms): LedgerEntry {
    const existing = this.entries.get(trade.tradeId);
    if (existing !== undefined) return existing;
    return this.write({ type: 'accepted', trade });
  }

  /** Idempotent; a decision contradicting an earlier final one is refused and the earlier one returned. */
  recordDecision(trade: TradeTerms, outcome: 'committed' | 'aborted', reason = ''): LedgerEntry {
    const existing = this.entries.get(trade.tradeId);
    if (existing !== undefined && existing.state !== 'in-doubt') return existing;
    if (existing !== undefined && !sameTerms(existing.trade, trade)) {
      throw new Error(`decision for trade ${trade.tradeId} does not match the accepted terms`);
    }
    return this.write(outcome === 'committed' ? { type: 'committed', trade } : { type: 'aborted', trade, reason });
  }

  entriesList(): LedgerEntry[] {
    return [...this.entries.values()];
  }

  committed(): TradeTerms[] {
    return this.entriesList().filter((e) => e.state === 'committed').map((e) => e.trade);
  }

  inDoubt(): TradeTerms[] {
    return this.entriesList().filter((e) => e.state === 'in-doubt').map((e) => e.trade);
  }

  /** x_{m,t} of a committed trade from this gateway's side (+ = buy from the peer). */
  signedKw(trade: TradeTerms): number {
    if (trade.buyer === this.selfId) return trade.powerKw;
    if (trade.seller === this.selfId) return -trade.powerKw;
    throw new Error(`trade ${trade.tradeId} is not ${this.selfId}'s`);
  }

  /**
   * Net committed power with `peerId` in each slot starting at `slotStartsMs` (kW, + = buy),
   * null where nothing is committed: the shape of `PeerTrade.committedKw` in the optimizer.
   */
  committedKw(peerId: string, slotStartsMs: number[]): (number | null)[] {
    const bySlot = new Map<number, number>();
    for (const trade of this.committed()) {
      if (trade.buyer !== peerId && trade.seller !== peerId) continue;
      bySlot.set(trade.slotStartMs, (bySlot.get(trade.slotStartMs) ?? 0) + this.signedKw(trade));
    }
    return slotStartsMs.map((start) => bySlot.get(start) ?? null);
  }

  /** `committedKw` for every peer this gateway has committed trades with. */
  committedKwByPeer(slotStartsMs: number[]): Record<string, (number | null)[]> {
    const peers = new Set(this.committed().map((t) => (t.buyer === this.selfId ? t.seller : t.buyer)));
    return Object.fromEntries([...peers].map((peerId) => [peerId, this.committedKw(peerId, slotStartsMs)]));
  }

  /**
   * Forgets decided trades whose slot ended before `beforeMs` (delivered and settled: nothing asks
   * about them any more), in memory and on disk; in-doubt ones stay until decided. Returns how many.
   */
  forgetDecidedBefore(beforeMs: number): number {
    let forgotten = 0;
    for (const [tradeId, entry] of this.entries) {
      if (entry.state !== 'in-doubt' && entry.trade.slotStartMs + entry.trade.slotMinutes * 60_000 < beforeMs) {
        this.entries.delete(tradeId);
        forgotten++;
      }
    }
    if (forgotten > 0) this.compact();
    return forgotten;
  }

  /** Lines in the journal: one per entry, plus one per buyer's acceptance decided since the last `forgetDecidedBefore`. */
  get journalLines(): number {
    return this.journal.lineCount;
  }

  close(): void {
    this.journal.close();
  }

  private write(record: LedgerRecord): LedgerEntry {
    this.journal.append(record);
    return this.apply(record);
  }

  /** Rewrites the journal as one record per entry (atomically: `Journal.rewrite`). */
  private compact(): void {
    this.journal.rewrite(
      [...this.entries.values()].map((e): LedgerRecord =>
        e.state === 'in-doubt' ? { type: 'accepted', trade: e.trade } : e.state === 'committed' ? { type: 'committed', trade: e.trade } : { type: 'aborted', trade: e.trade, reason: e.reason ?? '' },
      ),
    );
  }

  private apply(record: LedgerRecord): LedgerEntry {
    const entry: LedgerEntry =
      record.type === 'accepted'
        ? { trade: record.trade, state: 'in-doubt' }
        : record.type === 'committed'
          ? { trade: record.trade, state: 'committed' }
          : { trade: record.trade, state: 'aborted', reason: record.reason };
    this.entries.set(record.trade.tradeId, entry);
    return entry;
  }
}

export function sameTerms(a: TradeTerms, b: TradeTerms): boolean {
  return (
    a.tradeId === b.tradeId &&
    a.offerId === b.offerId &&
    a.seller === b.seller &&
    a.buyer === b.buyer &&
    a.slotStartMs === b.slotStartMs &&
    a.slotMinutes === b.slotMinutes &&
    a.powerKw === b.powerKw &&
    a.priceEurPerKwh === b.priceEurPerKwh
  );
}
