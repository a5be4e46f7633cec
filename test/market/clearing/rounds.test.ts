import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AdmmParticipant, clearAdmm, defaultAdmmSettings, initialPrice } from '../../../src/market/clearing/admm.ts';
import { buildCommunity, loadCommunityData, marketRules } from '../../../src/market/clearing/community.ts';
import { Prosumer } from '../../../src/market/clearing/prosumer.ts';
import { leadAdmm, leadAuction, leaderOf, marketNodeChannel, roundSchemas, serveAdmm, serveAuction, type RoundChannel } from '../../../src/market/clearing/rounds.ts';
import type { PeerProfile } from '../../../src/market/clearing/types.ts';
import { MarketNode, generateIdentity, startEmbeddedBroker, type EmbeddedBroker } from '../../../src/market/index.ts';

// Real solves and a real broker on a loaded 2-core machine: generous limits, never timing assertions.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const dataDir = fileURLToPath(new URL('../../../../shared/data', import.meta.url));
let peers: PeerProfile[];
let broker: EmbeddedBroker;
let nodes: MarketNode[];
let channels: Map<string, RoundChannel>;
let dir: string;

beforeAll(async () => {
  peers = buildCommunity(await loadCommunityData(dataDir), { peers: 4, day: '2016-07-15', slotsPerDay: 24 });
  broker = await startEmbeddedBroker({ port: 0 });
  dir = mkdtempSync(join(tmpdir(), 'clearing-rounds-'));
  const identities = peers.map((p) => generateIdentity(p.id));
  const community = { communityId: `clearing-${process.pid}`, members: identities.map((i) => ({ peerId: i.peerId, publicKey: i.publicKey })) };
  nodes = identities.map((identity) => new MarketNode({ identity, community, brokerUrl: broker.url, dataDir: join(dir, identity.peerId), protocolVersion: 4, roundSchemas, log: () => {} }));
  for (const node of nodes) await node.start();
  channels = new Map(nodes.map((n) => [n.id, marketNodeChannel(n)]));
});

afterAll(async () => {
  for (const node of nodes ?? []) await node.stop();
  await broker?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const price = () => initialPrice(peers[0]!.buyEurPerKwh, peers[0]!.sellEurPerKwh, marketRules.p2pFeeEurPerKwh);

/** One ADMM clearing over the signed MQTT round messages; `silent` peers never answer. */
async function clearOverMqtt(clearing: string, silent: string[], roundTimeoutMs: number) {
  const prosumers = await Promise.all(peers.map((p) => Prosumer.create(p, marketRules)));
  try {
    const participants = new Map(prosumers.map((p) => [p.profile.id, new AdmmParticipant(p, defaultAdmmSettings)]));
    const leader = leaderOf([...channels.keys()]);
    const served = [...channels.values()].filter((c) => c.id !== leader && !silent.includes(c.id)).map((c) => serveAdmm(c, participants.get(c.id)!, leader, clearing));
    const result = await leadAdmm(channels.get(leader)!, participants.get(leader)!, price(), 1, defaultAdmmSettings, { clearing, peerIds: [...channels.keys()], roundTimeoutMs });
    await Promise.all(served);
    return result;
  } finally {
    prosumers.forEach((p) => p.dispose());
  }
}

describe('clearing rounds over signed MQTT messages (MarketNode, embedded aedes)', () => {
  it('an ADMM clearing over the broker gives exactly the in-process result', async () => {
    const overMqtt = await clearOverMqtt('same-as-local', [], 60_000);
    const prosumers = await Promise.all(peers.map((p) => Prosumer.create(p, marketRules)));
    const local = clearAdmm(prosumers, defaultAdmmSettings, price());
    prosumers.forEach((p) => p.dispose());
    expect(overMqtt.converged).toBe(true);
    expect(JSON.stringify(overMqtt)).toBe(JSON.stringify(local));
  });

  it('a gateway that never answers is dropped after the round timeout and trades nothing; the rest clear', async () => {
    const silent = peers[3]!.id;
    const result = await clearOverMqtt('one-silent', [silent], 5_000);
    expect(result.converged).toBe(true);
    expect(result.netKwh[silent]!.every((q) => q === 0)).toBe(true);
    expect(result.trades.length).toBeGreaterThan(0);
    expect(result.trades.some((t) => t.buyer === silent || t.seller === silent)).toBe(false);
  });

  it('an auction collects one order book per gateway and clears; a silent gateway simply is not in the book', async () => {
    const leader = leaderOf([...channels.keys()]);
    const silent = peers[3]!.id;
    const books = new Map(peers.map((p) => [p.id, [[{ peerId: p.id, side: p.id === peers[1]!.id ? ('buy' as const) : ('sell' as const), energyKwh: 1, priceEurPerKwh: p.id === peers[1]!.id ? 0.2 : 0.1 }]]]));
    const served = [...channels.values()].filter((c) => c.id !== leader && c.id !== silent).map((c) => serveAuction(c, books.get(c.id)!, leader, 'auction-1'));
    const result = await leadAuction(channels.get(leader)!, books.get(leader)!, 1, { clearing: 'auction-1', peerIds: [...channels.keys()], roundTimeoutMs: 5_000 });
    await Promise.all(served);
    // The buyer (peers[1], 1 kWh at ≤ 0.20) is served by the first seller in id order at (0.20 + 0.10) / 2.
    expect(result.trades).toEqual([{ slot: 0, buyer: peers[1]!.id, seller: peers[0]!.id, energyKwh: 1, priceEurPerKwh: 0.15000000000000002 }]);
    expect(result.netKwh[silent]).toEqual([0]);
  });
});
