/**
 * A day's commits through hostile and broken traffic: every message duplicated and replayed in
 * reverse, forged / expired / future-dated / outsider / malformed / oversized messages, and the
 * broker restarted mid-day. Assert: 0 half-trades, 0 lost trades, 100 % of hostile messages
 * rejected for their reason, exact reciprocity.
 */
import { createHash } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { Rejection } from '../../src/market/index.ts';
import { ChaosScene, DAY_MS, PEERS, expectAuditClean } from './chaos-scene.ts';
import { bookMandate, clearDay, fixedOrderBooks } from './day-fixture.ts';
import { BROKERS, embeddedBroker, eventually } from './fixtures.ts';
import { expectRejected, hostileMessages } from './hostile-messages.ts';

const scene = new ChaosScene();
afterEach(() => scene.cleanup());

describe.each(BROKERS)('chaos traffic over $name', ({ start }) => {
  it('a day cleared through duplicated, reordered and hostile traffic commits exactly what was cleared', async () => {
    const { broker, community: c } = await scene.setUp(start, [...PEERS]);
    const nodes = await Promise.all(PEERS.map((id) => c.startNode(id, broker.url)));
    await scene.allOnline(nodes);

    // The monkey re-publishes every message it hears, twice at once, and keeps it for later.
    const captured: { topic: string; payload: Buffer }[] = [];
    const digest = (topic: string, payload: Buffer) => createHash('sha256').update(topic).update(payload).digest('hex');
    const hostile = hostileMessages(c.config, c.identity('h1'), Date.now(), DAY_MS);
    // Hostile messages are sent once each, so each must be rejected exactly once.
    const heard = new Set<string>(hostile.map((m) => digest(m.topic, m.payload)));
    const monkey: MqttClient = await scene.rawClient((topic, payload) => {
      if (payload.length === 0 || heard.has(digest(topic, payload))) return;
      heard.add(digest(topic, payload));
      captured.push({ topic, payload });
      for (let i = 0; i < 2; i++) monkey.publish(topic, payload, { qos: 1 });
    });
    const books = fixedOrderBooks(PEERS, 24);
    const cleared = clearDay(PEERS, books, DAY_MS, 24);
    // The nodes' own logs are bounded; the flood of replays below would push hostile entries out.
    const rejectionsOf = new Map(nodes.map((n) => [n.id, [] as Rejection[]]));
    for (const node of nodes) node.onRejected((r) => rejectionsOf.get(node.id)!.push(r));
    const day = Promise.all(nodes.map((n) => n.commitTrades(cleared, { mandate: bookMandate(n.id, books, DAY_MS), timeoutMs: 20_000 })));
    for (const message of hostile) await monkey.publishAsync(message.topic, message.payload, { qos: 1 });
    const outcomes = (await day).flat();
    for (const message of [...captured].reverse()) await monkey.publishAsync(message.topic, message.payload, { qos: 1 });
    // A copy of a presence message the monkey took from the retained store may count as the
    // broker's duplicate rather than a replay (docs/market.md); either way it is handled once.
    await eventually(() => nodes.every((n) => n.rejections.replayed + n.duplicates >= captured.length), 'every copy rejected as a replay or a duplicate');

    expect(outcomes.filter((o) => o.state !== 'committed')).toEqual([]);
    expectAuditClean(nodes, cleared);
    for (const node of nodes.slice(1)) expectRejected(node, hostile, rejectionsOf.get(node.id));
  });
});

describe('chaos over aedes restarted on the same port', () => {
  it('gateways reconnect, re-announce themselves and finish the day’s commits', async () => {
    const { broker: first, community: c } = await scene.setUp(embeddedBroker, [...PEERS]);
    const nodes = await Promise.all(PEERS.map((id) => c.startNode(id, first.url)));
    await scene.allOnline(nodes);
    const books = fixedOrderBooks(PEERS, 24);
    const cleared = clearDay(PEERS, books, DAY_MS, 24);

    const day = Promise.all(nodes.map((n) => n.commitTrades(cleared, { mandate: bookMandate(n.id, books, DAY_MS), timeoutMs: 25_000 })));
    await eventually(() => nodes.some((n) => n.ledger.committed().length > 0), 'the first commits');
    await first.close();
    const committedBeforeRestart = nodes.reduce((count, n) => count + n.ledger.committed().length, 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    scene.broker = await embeddedBroker(first.port);
    const outcomes = (await day).flat();

    expect(committedBeforeRestart).toBeLessThan(2 * cleared.length);
    expect(outcomes.filter((o) => o.state !== 'committed')).toEqual([]);
    expectAuditClean(nodes, cleared);
    await scene.allOnline(nodes);
  });
});
