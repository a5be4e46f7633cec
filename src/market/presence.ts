import type { Envelope } from './messages.ts';

export interface PeerPresence {
  peerId: string;
  online: boolean;
  /** `sentMs` of the newest presence message taken. */
  sinceMs: number;
}

/** What a presence message changed: a peer came (back) online, went offline, or nothing. */
export type PresenceChange = 'online' | 'offline' | undefined;

/**
 * Who is online, from signed presence messages that may arrive out of order (retained ones on
 * subscribe, wills whenever a connection dies), ordered by the sender's sequence number.
 *
 * - An online message lives a short while (its `expiresMs`) and the gateway repeats it well
 *   before that: a peer whose online message expired without a successor is offline.
 * - A will is signed when its connection starts, before that connection's online message, so an
 *   offline that names the session of the peer's current online ends it whatever its sequence.
 * - An offline of a session this gateway never heard online, signed longer ago than an online
 *   message lives, is stale (a will that outlived its news, or a captured one re-published as
 *   retained): it is ignored, so it cannot hide a member that is online; the member's next
 *   online message tells.
 */
export class PresenceTracker {
  private readonly peers = new Map<string, { online: boolean; seq: number; session: string; sentMs: number; expiresMs: number }>();

  constructor(private readonly onlineLifetimeMs: number) {}

  update(envelope: Envelope<'presence'>, nowMs: number): PresenceChange {
    const { status, session, seq } = envelope.body;
    const online = status === 'online';
    const known = this.peers.get(envelope.from);
    const endsKnownSession = known !== undefined && !online && session === known.session;
    if (!endsKnownSession) {
      // Once the message known has expired, a lower sequence is accepted: a gateway whose clock
      // stepped back over a restart is not shut out, and an older online message cannot be the
      // one (it expired before, and is rejected as such).
      if (known !== undefined && seq <= known.seq && known.expiresMs >= nowMs) return undefined;
      if (!online && envelope.sentMs < nowMs - this.onlineLifetimeMs) return undefined;
    }
    const wasOnline = known !== undefined && this.live(known, nowMs);
    this.peers.set(envelope.from, { online, seq, session, sentMs: envelope.sentMs, expiresMs: envelope.expiresMs });
    if (!online) return wasOnline || known?.online === true ? 'offline' : undefined;
    return wasOnline && known.session === session ? undefined : 'online';
  }

  /** undefined when nothing has been heard from the peer yet. */
  isOnline(peerId: string, nowMs: number): boolean | undefined {
    const known = this.peers.get(peerId);
    return known === undefined ? undefined : this.live(known, nowMs);
  }

  list(nowMs: number): PeerPresence[] {
    return [...this.peers].map(([peerId, p]) => ({ peerId, online: this.live(p, nowMs), sinceMs: p.sentMs }));
  }

  private live(known: { online: boolean; expiresMs: number }, nowMs: number): boolean {
    return known.online && known.expiresMs >= nowMs;
  }
}
