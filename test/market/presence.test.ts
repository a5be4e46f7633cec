import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/market/messages.ts';
import { PresenceTracker } from '../../src/market/presence.ts';

const presence = (status: 'online' | 'offline', session: string, sentMs: number): Envelope<'presence'> => ({
  v: 1,
  kind: 'presence',
  community: 'c',
  from: 'alice',
  id: `${status}-${session}-${sentMs}`,
  sentMs,
  expiresMs: sentMs + 1_000_000,
  body: { status, session },
  sig: '',
});

describe('presence from messages that arrive out of order', () => {
  it('a will signed before its connection’s online message still ends that connection', () => {
    const tracker = new PresenceTracker();
    expect(tracker.update(presence('online', 's1', 1_010))).toBe('online');
    expect(tracker.update(presence('offline', 's1', 1_000))).toBe('offline');
    expect(tracker.isOnline('alice')).toBe(false);
  });

  it('the late will of an earlier connection does not end the current one', () => {
    const tracker = new PresenceTracker();
    tracker.update(presence('online', 's2', 2_010));
    expect(tracker.update(presence('offline', 's1', 1_000))).toBeUndefined();
    expect(tracker.isOnline('alice')).toBe(true);
  });

  it('a retained online of an old connection does not revive a peer that left since', () => {
    const tracker = new PresenceTracker();
    tracker.update(presence('online', 's2', 2_010));
    tracker.update(presence('offline', 's2', 3_000));
    expect(tracker.update(presence('online', 's1', 1_010))).toBeUndefined();
    expect(tracker.isOnline('alice')).toBe(false);
    expect(tracker.update(presence('online', 's3', 4_000))).toBe('online');
  });

  it('knows nothing of a peer it has not heard', () => {
    expect(new PresenceTracker().isOnline('bob')).toBeUndefined();
  });
});
