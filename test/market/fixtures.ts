/**
 * Test fixtures: a community of fresh identities with a unique community id (so parallel runs
 * on the shared Mosquitto never hear each other), data dirs in a temp folder, brokers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { connectAsync } from 'mqtt';
import {
  MarketNode,
  generateIdentity,
  startEmbeddedBroker,
  type CommunityConfig,
  type Identity,
  type MarketNodeOptions,
  type MarketTiming,
  topicFor,
} from '../../src/market/index.ts';

export const MOSQUITTO_URL = 'mqtt://127.0.0.1:1883';

export const FAST_TIMING: Partial<MarketTiming> = {
  resendMs: 150,
  reconnectMs: 100,
  keepaliveSeconds: 5,
  willDelaySeconds: 1,
  connectTimeoutMs: 5_000,
  presenceRefreshMs: 500,
};

export interface TestBroker {
  name: string;
  url: string;
  close(): Promise<void>;
}

export async function embeddedBroker(port = 0): Promise<TestBroker & { port: number }> {
  const broker = await startEmbeddedBroker({ port });
  return { name: 'aedes', url: broker.url, port: broker.port, close: broker.close };
}

/** The machine's Mosquitto; fails with a clear message when it is not running. */
export async function mosquitto(): Promise<TestBroker> {
  await new Promise<void>((resolve, reject) => {
    const socket = new Socket();
    socket.setTimeout(2000);
    const fail = () => {
      socket.destroy();
      reject(new Error(`Mosquitto is not running on 127.0.0.1:1883 (CI starts it in .ci/run; locally: mosquitto -d)`));
    };
    socket.once('error', fail).once('timeout', fail);
    socket.connect(1883, '127.0.0.1', () => {
      socket.destroy();
      resolve();
    });
  });
  return { name: 'mosquitto', url: MOSQUITTO_URL, close: async () => undefined };
}

export const BROKERS: { name: string; start: () => Promise<TestBroker> }[] = [
  { name: 'aedes (embedded)', start: () => embeddedBroker() },
  { name: 'mosquitto', start: mosquitto },
];

export class TestCommunity {
  readonly config: CommunityConfig;
  readonly identities: Identity[];
  readonly root = mkdtempSync(join(tmpdir(), 'pe-market-'));
  readonly nodes: MarketNode[] = [];
  /** The nodes' log lines (hostile tests would flood stderr), kept for a failing test to print. */
  readonly logLines: string[] = [];

  constructor(readonly peerIds: string[]) {
    this.identities = peerIds.map((id) => generateIdentity(id));
    this.config = {
      communityId: `t-${randomUUID().slice(0, 12)}`,
      members: this.identities.map((i) => ({ peerId: i.peerId, publicKey: i.publicKey })),
    };
  }

  identity(peerId: string): Identity {
    return this.identities.find((i) => i.peerId === peerId)!;
  }

  dataDir(peerId: string): string {
    return join(this.root, peerId);
  }

  /** A node for `peerId` (its data dir is kept across restarts), started. */
  async startNode(peerId: string, brokerUrl: string, extra: Partial<MarketNodeOptions> = {}): Promise<MarketNode> {
    const node = new MarketNode({
      identity: this.identity(peerId),
      community: this.config,
      brokerUrl,
      dataDir: this.dataDir(peerId),
      timing: FAST_TIMING,
      log: (level, line) => this.logLines.push(`${level} ${line}`),
      ...extra,
    });
    await node.start();
    this.nodes.push(node);
    return node;
  }

  /** Stops the nodes and clears their retained presence, so a persistent broker keeps no litter. */
  async close(brokerUrl?: string): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    if (brokerUrl !== undefined) {
      const cleaner = await connectAsync(brokerUrl, { reconnectPeriod: 0, connectTimeout: 2000 }).catch(() => undefined);
      if (cleaner !== undefined) {
        for (const peerId of this.peerIds) {
          await cleaner.publishAsync(topicFor(this.config.communityId, 'presence', peerId), '', { qos: 1, retain: true });
        }
        await cleaner.endAsync();
      }
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Polls `condition` until it holds; generous by default, the machine may be loaded. */
export async function eventually(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
