import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/market/messages.ts';
import { PresenceTracker } from '../../src/market/presence.ts';

/** Online messages live 90 s, as with the default 30 s refresh. */
const LIFETIME_MS = 90_000;
const NOW_MS = 1_000_000;

/** A presence message sent at `sentMs` (its sequence number is the sender's clock, as `MarketNode` makes it). */
const presence = (status: 'online' | 'offline', session: string, sentMs: number, lifetimeMs = LIFETIME_MS): Envelope<'presence'> => ({
  v: 1,
  kind: 'presence',
  community: 'c',
  from: 'alice',
  id: `${status}-${session}-${sentMs}`,
  sentMs,
  expiresMs: sentMs + lifetimeMs,
  body: { status, session, seq: sentMs },
  sig: '',
});

describe('presence from messages that arrive out of order', () => {
  it('a will signed before its connection’s online message still ends that connection', () => {
    const tracker = new PresenceTracker(LIFETIME_MS);
    expect(tracker.update(presence('online', 's1', NOW_MS + 10), NOW_MS)).toBe('online');
    expect(tracker.update(presence('offline', 's1', NOW_MS), NOW_MS)).toBe('offline');
    expect(tracker.isOnline('alice', NOW_MS)).toBe(false);
  });

  it('the late will of an earlier connection does not end the current one', () => {
    const tracker = new PresenceTracker(LIFETIME_MS);
    tracker.update(presence('online', 's2', NOW_MS + 10), NOW_MS);
    expect(tracker.update(presence('offline', 's1', NOW_MS - 1_000), NOW_MS)).toBeUndefined();
    expect(tracker.isOnline('alice', NOW_MS)).toBe(true);
  });

  it('a retained online of an old connection does not revive a peer that left since', () => {
    const tracker = new PresenceTracker(LIFETIME_MS);
    tracker.update(presence('online', 's2', NOW_MS + 10), NOW_MS);
    tracker.update(presence('offline', 's2', NOW_MS + 20), NOW_MS);
    expect(tracker.update(presence('online', 's1', NOW_MS + 5), NOW_MS)).toBeUndefined();
    expect(tracker.isOnline('alice', NOW_MS)).toBe(false);
    expect(tracker.update(presence('online', 's3', NOW_MS + 30), NOW_MS)).toBe('online');
  });

  it('an old offline of a session never heard online does not hide a member from a fresh gateway', () => {
    const tracker = new PresenceTracker(LIFETIME_MS);
    // A will signed three weeks ago, captured and re-published as retained: still valid, stale.
    expect(tracker.update(presence('offline', 'old', NOW_MS - 21 * 86_400_000, 30 * 86_400_000), NOW_MS)).toBeUndefined();
    expect(tracker.isOnline('alice', NOW_MS)).toBeUndefined();
    expect(tracker.update(presence('online', 'current', NOW_MS), NOW_MS)).toBe('online');
  });

  it('an online message that is not repeated within its lifetime no longer counts', () => {
    const tracker = new PresenceTracker(LIFETIME_MS);
    tracker.update(presence('online', 's1', NOW_MS), NOW_MS);
    expect(tracker.isOnline('alice', NOW_MS + LIFETIME_MS)).toBe(true);
    expect(tracker.isOnline('alice', NOW_MS + LIFETIME_MS + 1)).toBe(false);
    expect(tracker.list(NOW_MS + LIFETIME_MS + 1)).toEqual([{ peerId: 'alice', online: false, sinceMs: NOW_MS }]);
  });

  it('a gateway whose clock stepped back over a restart is heard again once its last presence lapsed', () => {
    const tracker = new PresenceTracker(LIFETIME_MS);
    tracker.update(presence('online', 'before', NOW_MS), NOW_MS);
    const restartedMs = NOW_MS + LIFETIME_MS + 1;
    // Its new sequence number (its clock) is below the last one heard.
    expect(tracker.update({ ...presence('online', 'after', restartedMs), body: { status: 'online', session: 'after', seq: NOW_MS - 5_000 } }, restartedMs)).toBe('online');
    expect(tracker.isOnline('alice', restartedMs)).toBe(true);
  });

  it('knows nothing of a peer it has not heard', () => {
    expect(new PresenceTracker(LIFETIME_MS).isOnline('bob', NOW_MS)).toBeUndefined();
  });
});
