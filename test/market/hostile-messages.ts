/**
 * A hostile member's (or outsider's) repertoire: one message per way to be rejected, each
 * with the reason the receiver must give. Signed ones are signed for real, with the right or
 * the wrong key, so only the property under test is broken.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { MarketNode, Rejection } from '../../src/market/index.ts';
import { ManualClock } from '../../src/time/clock.ts';
import { canonicalJson } from '../../src/market/canonical-json.ts';
import { Membership, type CommunityConfig } from '../../src/market/community.ts';
import { generateIdentity, signBytes, type Identity } from '../../src/market/identity.ts';
import { DEFAULT_LIMITS, MessageCodec, type OfferBody, type RejectReason } from '../../src/market/messages.ts';
import { topicFor } from '../../src/market/topics.ts';

export interface HostileMessage {
  name: string;
  topic: string;
  payload: Buffer;
  reason: RejectReason;
  /** The envelope's id where it has one, to find the rejection in the log. */
  id?: string;
}

export function offerBody(slotStartMs: number): OfferBody {
  return { offerId: randomUUID(), slotStartMs, slotMinutes: 60, maxKw: 50, priceEurPerKwh: 0.01 };
}

/** `member` is a real member whose key the attacker holds (a stolen or a broken gateway). */
export function hostileMessages(config: CommunityConfig, member: Identity, nowMs: number, slotStartMs: number): HostileMessage[] {
  const membership = new Membership(config);
  const clockAt = (ms: number) => new MessageCodec(membership, new ManualClock(ms), DEFAULT_LIMITS);
  const seal = (identity: Identity, sentMs: number, lifetimeMs = 60_000) => clockAt(sentMs).seal(identity, 'offer', offerBody(slotStartMs), { lifetimeMs, middle: slotStartMs });
  const offerTopic = topicFor(config.communityId, 'offer', member.peerId, slotStartMs);

  const outsider = generateIdentity('mallory');
  const outsiderOffer = seal(outsider, nowMs);
  const forged = seal(member, nowMs);
  forged.envelope.body.maxKw = 500; // changed after signing
  const wrongKey = seal(member, nowMs);
  const { sig: _sig, ...unsigned } = wrongKey.envelope;
  const wrongKeySig = signBytes(outsider, Buffer.from(canonicalJson(unsigned)));
  const expired = seal(member, nowMs - 10 * 60_000, 60_000);
  const future = seal(member, nowMs + 10 * 60_000);
  const missingBody = { ...seal(member, nowMs).envelope, body: { offerId: 'x' } };
  const onWrongTopic = seal(member, nowMs);
  // Signed for real over what JSON.parse reads (the last "maxKw"); a first-wins parser reads 9000.
  const twice = seal(member, nowMs);
  const twiceText = twice.payload.toString().replace('"maxKw":', '"maxKw":9000,"maxKw":');
  /** A member's offer with insane terms, signed for real (the codec itself refuses to seal it). */
  const insane = (terms: Partial<OfferBody>) => {
    const { sig: _, ...unsigned } = seal(member, nowMs).envelope;
    const envelope = { ...unsigned, body: { ...unsigned.body, ...terms } };
    const slot = envelope.body.slotStartMs;
    const signed = { ...envelope, sig: signBytes(member, Buffer.from(canonicalJson(envelope))) };
    return { topic: topicFor(config.communityId, 'offer', member.peerId, slot), payload: Buffer.from(JSON.stringify(signed)), id: envelope.id };
  };

  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  return [
    { name: 'outsider', topic: topicFor(config.communityId, 'offer', 'mallory', slotStartMs), payload: outsiderOffer.payload, reason: 'unknown-key', id: outsiderOffer.envelope.id },
    { name: 'body changed after signing', topic: offerTopic, payload: json(forged.envelope), reason: 'forged', id: forged.envelope.id },
    { name: 'signed with another key', topic: offerTopic, payload: json({ ...wrongKey.envelope, sig: wrongKeySig }), reason: 'forged', id: wrongKey.envelope.id },
    { name: 'expired', topic: offerTopic, payload: expired.payload, reason: 'expired', id: expired.envelope.id },
    { name: 'future-dated', topic: offerTopic, payload: future.payload, reason: 'future-dated', id: future.envelope.id },
    { name: 'not JSON', topic: offerTopic, payload: Buffer.from('{"v":1,"kind":"offer",'), reason: 'malformed' },
    { name: 'body misses fields', topic: offerTopic, payload: json(missingBody), reason: 'malformed', id: missingBody.id },
    { name: 'oversized', topic: offerTopic, payload: Buffer.alloc(DEFAULT_LIMITS.maxMessageBytes + 1, 0x20), reason: 'oversized' },
    { name: 'a key given twice', topic: offerTopic, payload: Buffer.from(twiceText), reason: 'malformed', id: twice.envelope.id },
    { name: 'priced at 10 EUR/kWh', ...insane({ priceEurPerKwh: 10 }), reason: 'malformed' },
    { name: 'priced at −5 EUR/kWh', ...insane({ priceEurPerKwh: -5 }), reason: 'malformed' },
    { name: 'for 1e-300 kW', ...insane({ maxKw: 1e-300 }), reason: 'malformed' },
    { name: 'for a slot in 1970', ...insane({ slotStartMs: 3_600_000 }), reason: 'malformed' },
    { name: 'on another peer’s topic', topic: topicFor(config.communityId, 'offer', config.members.find((m) => m.peerId !== member.peerId)!.peerId, slotStartMs), payload: onWrongTopic.payload, reason: 'wrong-topic', id: onWrongTopic.envelope.id },
  ];
}

/** Every hostile message is in the node's rejection log with its reason, and counted once. */
export function expectRejected(node: MarketNode, hostile: HostileMessage[], log: Rejection[] = node.rejectionLog): void {
  for (const message of hostile) {
    const match = log.find(
      (r) => r.reason === message.reason && (message.id !== undefined ? r.id === message.id : r.topic === message.topic),
    );
    expect(match, `${node.id} rejects "${message.name}" as ${message.reason}`).toBeDefined();
  }
  const expected = new Map<RejectReason, number>();
  for (const message of hostile) expected.set(message.reason, (expected.get(message.reason) ?? 0) + 1);
  for (const [reason, count] of expected) expect(node.rejections[reason], `${node.id}: ${reason}`).toBe(count);
}
