/**
 * Shared set-up of the chaos tests: a broker, a community, gateways in child processes, raw
 * MQTT clients (spies, the chaos monkey), and the ledger invariants every scenario must keep.
 */
import { connectAsync, type MqttClient } from 'mqtt';
import { expect } from 'vitest';
import { Ledger, type ClearedTrade, type MarketNode } from '../../src/market/index.ts';
import { auditLedgers } from './day-fixture.ts';
import type { TestBroker, TestCommunity } from './fixtures.ts';
import type { PeerProcess } from './peer-process-handle.ts';

export const DAY_MS = Date.UTC(2030, 5, 22);
export const PEERS: [string, string, string, string] = ['h1', 'h2', 'h3', 'h4'];

export class ChaosScene {
  broker: TestBroker | undefined;
  community: TestCommunity | undefined;
  readonly processes: PeerProcess[] = [];
  private readonly rawClients: MqttClient[] = [];

  /** A raw client on the community's topics, as a spy or a chaos monkey. */
  async rawClient(onMessage: (topic: string, payload: Buffer) => void): Promise<MqttClient> {
    const client = await connectAsync(this.broker!.url, { protocolVersion: 4, reconnectPeriod: 100 });
    this.rawClients.push(client);
    client.on('message', (topic, payload) => onMessage(topic, Buffer.from(payload)));
    await client.subscribeAsync(`pe/v1/${this.community!.config.communityId}/#`, { qos: 1 });
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
