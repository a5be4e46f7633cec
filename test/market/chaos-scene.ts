/**
 * Shared set-up of the tests over a broker: a broker, a community, gateways in child processes,
 * raw MQTT clients (spies, the chaos monkey), all cleaned up after each test, and the ledger
 * invariants every scenario must keep.
 */
import { connectAsync, type MqttClient } from 'mqtt';
import { expect } from 'vitest';
import { Ledger, PROTOCOL_ROOT, type ClearedTrade, type MarketNode } from '../../src/market/index.ts';
import { auditLedgers } from './day-fixture.ts';
import { TestCommunity, eventually, type TestBroker } from './fixtures.ts';
import type { PeerProcess } from './peer-process-handle.ts';

export const DAY_MS = Date.UTC(2030, 5, 22);
export const PEERS: [string, string, string, string] = ['h1', 'h2', 'h3', 'h4'];

export class ChaosScene {
  broker: TestBroker | undefined;
  community: TestCommunity | undefined;
  readonly processes: PeerProcess[] = [];
  private readonly rawClients: MqttClient[] = [];

  /** A fresh broker from `start` and a community of `peerIds` on it (no gateway started yet). */
  async setUp<B extends TestBroker>(start: () => Promise<B>, peerIds: string[]): Promise<{ broker: B; community: TestCommunity }> {
    const broker = await start();
    this.broker = broker;
    this.community = new TestCommunity(peerIds);
    return { broker, community: this.community };
  }

  /** Until every gateway sees every other online. */
  async allOnline(nodes: MarketNode[]): Promise<void> {
    const ids = this.community!.peerIds.filter((id) => nodes.some((n) => n.id === id));
    await eventually(() => nodes.every((n) => ids.every((p) => p === n.id || n.isOnline(p))), 'everyone online');
  }

  /** A raw client on the community's topics, as a spy or a chaos monkey. */
  async rawClient(onMessage: (topic: string, payload: Buffer) => void): Promise<MqttClient> {
    const client = await connectAsync(this.broker!.url, { protocolVersion: 4, reconnectPeriod: 100 });
    this.rawClients.push(client);
    client.on('message', (topic, payload) => onMessage(topic, Buffer.from(payload)));
    await client.subscribeAsync(`${PROTOCOL_ROOT}/${this.community!.config.communityId}/#`, { qos: 1 });
    return client;
  }

  async cleanup(): Promise<void> {
    for (const p of this.processes.splice(0)) await p.kill().catch(() => undefined);
    for (const c of this.rawClients.splice(0)) await c.endAsync();
    await this.community?.close(this.broker?.url);
    await this.broker?.close();
    this.community = undefined;
    this.broker = undefined;
  }
}

/** Reads a gateway's ledger from its data dir, as it would be found after a restart. */
export function ledgerOnDisk(c: TestCommunity, peerId: string): Ledger {
  const ledger = Ledger.open(c.dataDir(peerId), peerId);
  ledger.close();
  return ledger;
}

/** 0 half-trades, 0 lost trades, exact reciprocity, nothing left in doubt. */
export function expectAuditClean(nodes: MarketNode[], cleared: ClearedTrade[]): void {
  const audit = auditLedgers(nodes.map((n) => n.ledger), cleared);
  expect(audit.halfTrades).toEqual([]);
  expect(audit.lostTrades).toEqual([]);
  expect([...audit.imbalanceKwBySlot.values()].every((kw) => kw === 0)).toBe(true);
  expect(nodes.every((n) => n.ledger.inDoubt().length === 0)).toBe(true);
  expect(nodes.reduce((count, n) => count + n.ledger.committed().length, 0)).toBe(2 * cleared.length);
}
