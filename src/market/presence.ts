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
 * subscribe, wills whenever a connection dies). A will is signed when its connection starts,
 * before that connection's online message, so it is matched by session: an offline ends the
 * session it names. Otherwise the newest message wins.
 */
export class PresenceTracker {
  private readonly peers = new Map<string, { online: boolean; sentMs: number; session: string }>();

  update(envelope: Envelope<'presence'>): PresenceChange {
    const { status, session } = envelope.body;
    const online = status === 'online';
    const known = this.peers.get(envelope.from);
    const endsKnownSession = known !== undefined && !online && session === known.session;
    if (known !== undefined && !endsKnownSession && envelope.sentMs <= known.sentMs) return undefined;
    this.peers.set(envelope.from, { online, sentMs: Math.max(envelope.sentMs, known?.sentMs ?? 0), session });
    if (!online) return known?.online === false ? undefined : 'offline';
    return known?.online === true && known.session === session ? undefined : 'online';
  }

  /** undefined when nothing has been heard from the peer yet. */
  isOnline(peerId: string): boolean | undefined {
    return this.peers.get(peerId)?.online;
  }

  list(): PeerPresence[] {
    return [...this.peers].map(([peerId, p]) => ({ peerId, online: p.online, sinceMs: p.sentMs }));
  }
}
