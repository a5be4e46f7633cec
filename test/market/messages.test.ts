import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/time/clock.ts';
import { Membership } from '../../src/market/community.ts';
import { generateIdentity } from '../../src/market/identity.ts';
import { DEFAULT_LIMITS, MessageCodec } from '../../src/market/messages.ts';
import { hostileMessages, offerBody } from './hostile-messages.ts';

const alice = generateIdentity('alice');
const bob = generateIdentity('bob');
const config = { communityId: 'unit', members: [alice, bob].map((i) => ({ peerId: i.peerId, publicKey: i.publicKey })) };
const nowMs = 1_800_000_000_000;

describe('signed, validated messages', () => {
  const codec = new MessageCodec(new Membership(config), new ManualClock(nowMs), DEFAULT_LIMITS, {
    admm: { type: 'object', properties: { lambda: { type: 'array', items: { type: 'number' }, maxItems: 96 } }, required: ['lambda'], additionalProperties: false },
  });

  it('a message sealed by a member opens on the other side with the same content', () => {
    const sealed = codec.seal(alice, 'offer', offerBody(nowMs), { lifetimeMs: 60_000, middle: nowMs });
    const opened = codec.open(sealed.topic, sealed.payload);
    expect(opened).toEqual({ ok: true, envelope: sealed.envelope });
  });

  it.each(hostileMessages(config, alice, nowMs, nowMs))('rejects a message that is $name as $reason', (message) => {
    const opened = codec.open(message.topic, message.payload);
    expect(opened.ok).toBe(false);
    expect(opened.ok === false && opened.reason).toBe(message.reason);
  });

  it('a clearing round carries the payload the clearing layer registered, and nothing else', () => {
    const good = codec.seal(alice, 'round', { name: 'admm', payload: { lambda: [0.1, 0.2] } }, { lifetimeMs: 10_000, middle: 'admm' });
    expect(codec.open(good.topic, good.payload).ok).toBe(true);
    expect(() => codec.seal(alice, 'round', { name: 'admm', payload: { lambda: 'x' } }, { lifetimeMs: 10_000, middle: 'admm' })).toThrow(/admm/);
    expect(() => codec.seal(alice, 'round', { name: 'other', payload: {} }, { lifetimeMs: 10_000, middle: 'other' })).toThrow(/no schema/);
  });

  it('a number beyond double range in a loosely typed round payload is malformed, not a crash', () => {
    const lax = new MessageCodec(new Membership(config), new ManualClock(nowMs), DEFAULT_LIMITS, { free: { type: 'object' } });
    const sealed = lax.seal(alice, 'round', { name: 'free', payload: { x: 1 } }, { lifetimeMs: 10_000, middle: 'free' });
    const payload = Buffer.from(sealed.payload.toString().replace('"x":1', '"x":1e400'));
    expect(lax.open(sealed.topic, payload)).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('refuses to send a message claiming a longer life than its kind allows', () => {
    expect(() => codec.seal(alice, 'offer', offerBody(nowMs), { lifetimeMs: 49 * 3_600_000, middle: nowMs })).toThrow(/lifetime/);
  });
});
