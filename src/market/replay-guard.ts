import { join } from 'node:path';
import type { Clock } from '../time/clock.ts';
import { Journal } from '../storage/journal.ts';

interface SeenRecord {
  from: string;
  id: string;
  expiresMs: number;
}

/**
 * Remembers every handled message id until the message would be rejected as expired anyway
 * (expiry + clock-skew bound), so a replay is caught inside that window and, because the
 * window is journaled, also after a restart. Older ids are forgotten and compacted away:
 * past the window, the expiry check rejects a replay on its own.
 * Lines are written without fsync: a process crash loses none, a power cut may lose the newest,
 * and a replay that slips through then is still harmless, since offers, acceptances and
 * decisions are idempotent by offer and trade id in the fsync'd ledger.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();
  /** Live ids per sender: the window's size is bounded per member (`MessageLimits.maxLiveIdsPerPeer`). */
  private readonly perSender = new Map<string, number>();
  /** Ids kept by the last prune: the next one comes after as many again (and 1000) were remembered. */
  private keptAtPrune = 0;

  private constructor(
    private readonly journal: Journal<SeenRecord>,
    private readonly clock: Clock,
    private readonly maxClockSkewMs: number,
  ) {}

  static open(dataDir: string, clock: Clock, maxClockSkewMs: number): ReplayGuard {
    const { journal, records } = Journal.open<SeenRecord>(join(dataDir, 'replay.jsonl'), { fsync: false });
    const guard = new ReplayGuard(journal, clock, maxClockSkewMs);
    for (const record of records) guard.add(record.from, record.id, record.expiresMs);
    guard.prune();
    return guard;
  }

  has(from: string, id: string): boolean {
    return this.seen.has(key(from, id));
  }

  liveIds(from: string): number {
    return this.perSender.get(from) ?? 0;
  }

  remember(from: string, id: string, expiresMs: number): void {
    if (this.has(from, id)) return;
    this.add(from, id, expiresMs);
    this.journal.append({ from, id, expiresMs });
    // Amortised O(1): a prune every time the journal has doubled (+1000) since the last one. Not
    // against the ids held now, which grow with the journal: the window then never shrank while the
    // gateway ran, and a member's traffic over days filled its per-sender bound (then every message
    // of it was refused).
    if (this.journal.lineCount > 2 * this.keptAtPrune + 1000) this.prune();
  }

  /** Drops ids past their window and compacts the journal to the live ones. */
  prune(): void {
    const cutoffMs = this.clock.nowMs() - this.maxClockSkewMs;
    const live = [...this.seen].map(([k, expiresMs]) => {
      const [from, id] = k.split('/') as [string, string];
      return { from, id, expiresMs };
    }).filter((record) => record.expiresMs >= cutoffMs);
    this.seen.clear();
    this.perSender.clear();
    for (const record of live) this.add(record.from, record.id, record.expiresMs);
    if (this.journal.lineCount !== this.seen.size) this.journal.rewrite(live);
    this.keptAtPrune = this.seen.size;
  }

  close(): void {
    this.journal.close();
  }

  private add(from: string, id: string, expiresMs: number): void {
    if (this.seen.has(key(from, id))) return;
    this.seen.set(key(from, id), expiresMs);
    this.perSender.set(from, (this.perSender.get(from) ?? 0) + 1);
  }
}

// Peer ids and message ids never contain '/', so the pair is unambiguous.
function key(from: string, id: string): string {
  return `${from}/${id}`;
}
