/**
 * A stranger on the LAN (no key, maybe no login) and a member misusing its login, against the
 * open brokers (embedded aedes, the machine's Mosquitto) and against community brokers that
 * enforce logins and topic rules: the embedded broker with the members file, and a Mosquitto of
 * this test's own running the templates in deploy/mosquitto.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type IClientOptions } from 'mqtt';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Membership } from '../../src/market/community.ts';
import { DEFAULT_LIMITS, MessageCodec } from '../../src/market/messages.ts';
import { loginToken, startEmbeddedBroker, topicFor, type BrokerCredentials, type MarketNode } from '../../src/market/index.ts';
import { ManualClock, systemClock } from '../../src/time/clock.ts';
import { BROKERS, TestCommunity, eventually, type TestBroker } from './fixtures.ts';
import { offerBody } from './hostile-messages.ts';
import { freePort } from '../../src/bench/free-ports.ts';

vi.setConfig({ testTimeout: 60_000 });

const SLOT_MS = 1_900_000_000_000;
const PEERS = ['alice', 'bob', 'mallory'];

let broker: TestBroker | undefined;
let community: TestCommunity | undefined;
afterEach(async () => {
  await community?.close(broker?.url);
  await broker?.close();
  community = undefined;
  broker = undefined;
});

/** Fails the test if `node` ever sees `peerId` offline during `forMs`. */
async function staysOnline(node: MarketNode, peerId: string, forMs: number): Promise<void> {
  const startMs = performance.now();
  while (performance.now() - startMs < forMs) {
    expect(node.peers().find((p) => p.peerId === peerId)?.online, `${node.id} sees ${peerId}`).not.toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe.each(BROKERS)('presence against a stranger over $name (no broker rules)', ({ start }) => {
  it('retained garbage on a member’s presence topic does not erase it: a gateway that starts after sees it online', async () => {
    broker = await start();
    community = new TestCommunity(PEERS);
    await community.startNode('bob', broker.url);
    const stranger = await connectAsync(broker.url, { reconnectPeriod: 0 });
    await stranger.publishAsync(topicFor(community.config.communityId, 'presence', 'bob'), 'not a presence', { qos: 1, retain: true });
    await stranger.endAsync();
    const alice = await community.startNode('alice', broker.url);
    // bob repeats its presence every refresh period (500 ms in the tests), retained.
    await eventually(() => alice.isOnline('bob'), 'alice sees bob online', 5_000);
  });

  it('an old offline of a member, captured and re-published as retained, does not hide it from a gateway that starts after', async () => {
    broker = await start();
    community = new TestCommunity(PEERS);
    await community.startNode('bob', broker.url);
    // What a listener captured weeks ago: a will of bob's, signed then, valid for 30 days.
    const weeksAgoMs = Date.now() - 21 * 86_400_000;
    const codec = new MessageCodec(new Membership(community.config), new ManualClock(weeksAgoMs), DEFAULT_LIMITS);
    const oldWill = codec.seal(community.identity('bob'), 'presence', { status: 'offline', session: 'old-session', seq: weeksAgoMs }, { lifetimeMs: 30 * 86_400_000 });
    const stranger = await connectAsync(broker.url, { reconnectPeriod: 0 });
    await stranger.publishAsync(oldWill.topic, oldWill.payload, { qos: 1, retain: true });
    await stranger.endAsync();
    const alice = await community.startNode('alice', broker.url);
    await staysOnline(alice, 'bob', 1_000);
    await eventually(() => alice.isOnline('bob'), 'alice sees bob online', 5_000);
  });

  it('a stranger connecting with the client id a member had before cannot knock it off: client ids are not predictable', async () => {
    broker = await start();
    community = new TestCommunity(PEERS);
    const alice = await community.startNode('alice', broker.url);
    await community.startNode('bob', broker.url);
    await eventually(() => alice.isOnline('bob'), 'alice sees bob online');
    for (const clientId of [`pe-${community.config.communityId}-bob`, 'bob']) {
      const stranger = await connectAsync(broker.url, { clientId, reconnectPeriod: 0 });
      await staysOnline(alice, 'bob', 500);
      await stranger.endAsync();
    }
  });
});

/** A broker that enforces the community's rules, and each member's login at it. */
interface CommunityBroker extends TestBroker {
  credentials(peerId: string): BrokerCredentials;
  /** The raw MQTT options of a member's login (for a misbehaving client). */
  login(peerId: string): IClientOptions;
}

async function embeddedCommunityBroker(c: TestCommunity): Promise<CommunityBroker> {
  const started = await startEmbeddedBroker({ community: c.config });
  return {
    name: 'embedded community broker',
    url: started.url,
    close: started.close,
    credentials: (peerId) => ({ username: peerId }),
    login: (peerId) => ({ clientId: peerId, username: peerId, password: loginToken(c.identity(peerId), c.config.communityId, Date.now()) }),
  };
}

/** deploy/mosquitto's configuration and ACL with this test's paths, address and ports, and a community CA made as its README says. */
async function templateMosquitto(c: TestCommunity): Promise<CommunityBroker & { tlsUrl: string; caPem: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'pe-mosquitto-'));
  const [port, tlsPort] = [await freePort(), await freePort()];
  const template = (name: string) => readFileSync(new URL(`../../deploy/mosquitto/${name}`, import.meta.url), 'utf8');
  const conf = template('mosquitto.conf').replaceAll('/etc/mosquitto/prosumer-edge', dir).replaceAll('LAN-ADDRESS', '127.0.0.1');
  writeFileSync(join(dir, 'mosquitto.conf'), conf.replace('listener 1883 ', `listener ${port} `).replace('listener 8883', `listener ${tlsPort} 127.0.0.1`));
  const openssl = (...args: string[]) => {
    const made = spawnSync('openssl', args, { cwd: dir });
    if (made.status !== 0) throw new Error(`openssl ${args[0]}: ${made.stderr.toString()}`);
  };
  openssl('req', '-x509', '-newkey', 'ed25519', '-nodes', '-days', '1', '-subj', '/CN=community-ca', '-keyout', 'ca.key', '-out', 'ca.crt');
  openssl('req', '-newkey', 'ed25519', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', 'broker.key', '-out', 'broker.csr');
  openssl('x509', '-req', '-in', 'broker.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-copy_extensions', 'copy', '-out', 'broker.crt');
  writeFileSync(join(dir, 'acl'), template('acl').replaceAll('COMMUNITY', c.config.communityId));
  const passwords = new Map(c.peerIds.map((id) => [id, `pw-${id}-${Math.random().toString(36).slice(2)}`]));
  for (const [id, password] of passwords) {
    const made = spawnSync('mosquitto_passwd', [...(id === c.peerIds[0] ? ['-c'] : []), '-b', join(dir, 'passwd'), id, password]);
    if (made.status !== 0) throw new Error(`mosquitto_passwd: ${made.stderr.toString()}`);
  }
  // Mosquitto started as root reads its files as the `mosquitto` user.
  chmodSync(dir, 0o755);
  for (const file of ['passwd', 'broker.key']) chmodSync(join(dir, file), 0o644);
  const mosquitto: ChildProcess = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
  await waitForPort(port);
  await waitForPort(tlsPort);
  return {
    name: 'Mosquitto with deploy/mosquitto',
    url: `mqtt://127.0.0.1:${port}`,
    tlsUrl: `mqtts://127.0.0.1:${tlsPort}`,
    caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    close: async () => {
      mosquitto.kill('SIGTERM');
      await new Promise((resolve) => mosquitto.once('exit', resolve));
      rmSync(dir, { recursive: true, force: true });
    },
    credentials: (peerId) => ({ username: peerId, password: passwords.get(peerId)! }),
    login: (peerId) => ({ clientId: peerId, username: peerId, password: passwords.get(peerId)! }),
  };
}

async function waitForPort(port: number): Promise<void> {
  const startMs = performance.now();
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.once('error', () => resolve(false));
      socket.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
    });
    if (open) return;
    if (performance.now() - startMs > 5_000) throw new Error(`nothing listens on port ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const COMMUNITY_BROKERS = [
  { name: 'the embedded broker with the members file', start: embeddedCommunityBroker },
  { name: 'Mosquitto with the deploy/mosquitto templates', start: templateMosquitto },
];

describe.each(COMMUNITY_BROKERS)('$name', ({ start }) => {
  async function setUp(): Promise<{ b: CommunityBroker; nodes: MarketNode[] }> {
    community = new TestCommunity(PEERS);
    const b = await start(community);
    broker = b;
    const nodes = await Promise.all(['alice', 'bob'].map((id) => community!.startNode(id, b.url, { credentials: b.credentials(id) })));
    await eventually(() => nodes[0]!.isOnline('bob') && nodes[1]!.isOnline('alice'), 'alice and bob see each other');
    return { b, nodes };
  }

  it('members log in and trade through it', async () => {
    const { nodes } = await setUp();
    const [alice, bob] = nodes as [MarketNode, MarketNode];
    alice.offer({ slotStartMs: SLOT_MS, slotMinutes: 60, maxKw: 2, priceEurPerKwh: 0.2, lifetimeMs: 10_000 });
    await eventually(() => bob.openOffers().length === 1, 'bob hears the offer');
    expect((await bob.accept(bob.openOffers()[0]!, 1, 10_000)).state).toBe('committed');
  });

  it('a stranger cannot log in, not with a member’s name and client id either, and cannot knock the member off', async () => {
    const { b, nodes } = await setUp();
    const attempts: IClientOptions[] = [
      { clientId: 'bob' },
      { clientId: 'bob', username: 'bob', password: 'guess' },
      { clientId: 'bob', username: 'eve', password: 'guess' },
    ];
    for (const attempt of attempts) {
      await expect(connectAsync(b.url, { ...attempt, reconnectPeriod: 0, connectTimeout: 3_000 }), JSON.stringify(attempt)).rejects.toThrow();
    }
    await staysOnline(nodes[0]!, 'bob', 500);
  });

  it('a member may publish only on its own topics: a message on another member’s topic, or garbage on its presence, never reaches the others', async () => {
    const { b, nodes } = await setUp();
    const [alice] = nodes as [MarketNode];
    const heard: string[] = [];
    alice.on('offer', (e) => heard.push(e.id));
    const mallory = await connectAsync(b.url, { ...b.login('mallory'), protocolVersion: 4, reconnectPeriod: 0 });
    mallory.on('error', () => undefined);
    const codec = new MessageCodec(new Membership(community!.config), systemClock, DEFAULT_LIMITS);
    const own = codec.seal(community!.identity('mallory'), 'offer', offerBody(SLOT_MS), { lifetimeMs: 60_000, middle: SLOT_MS });
    const onBobs = codec.seal(community!.identity('mallory'), 'offer', offerBody(SLOT_MS), { lifetimeMs: 60_000, middle: SLOT_MS });
    // Refused publications may end mallory's connection (aedes closes it): what matters is what arrives.
    await mallory.publishAsync(topicFor(community!.config.communityId, 'offer', 'bob', SLOT_MS), onBobs.payload, { qos: 0 }).catch(() => undefined);
    await mallory.publishAsync(topicFor(community!.config.communityId, 'presence', 'bob'), 'garbage', { qos: 0, retain: true }).catch(() => undefined);
    mallory.end(true);
    const again = await connectAsync(b.url, { ...b.login('mallory'), protocolVersion: 4, reconnectPeriod: 0 });
    await again.publishAsync(own.topic, own.payload, { qos: 1 });
    await eventually(() => heard.includes(own.envelope.id), 'mallory’s offer on its own topic arrives');
    expect(heard).toEqual([own.envelope.id]);
    expect(alice.rejections['wrong-topic'] + alice.rejections.malformed).toBe(0);
    // What a gateway starting now would get on bob's presence topic: bob's own retained presence.
    const retained = new Promise<Buffer>((resolve) => again.once('message', (_topic, payload) => resolve(payload)));
    await again.subscribeAsync(topicFor(community!.config.communityId, 'presence', 'bob'), { qos: 1 });
    expect(JSON.parse((await retained).toString())).toMatchObject({ kind: 'presence', from: 'bob' });
    await again.endAsync();
  });
});

describe('Mosquitto with the deploy/mosquitto templates, over its TLS listener', () => {
  it('members that trust the community CA log in and trade over TLS; a client that does not trust it cannot connect', async () => {
    community = new TestCommunity(PEERS);
    const b = await templateMosquitto(community);
    broker = b;
    const [alice, bob] = await Promise.all(['alice', 'bob'].map((id) => community!.startNode(id, b.tlsUrl, { credentials: { ...b.credentials(id), ca: b.caPem } })));
    await eventually(() => alice!.isOnline('bob') && bob!.isOnline('alice'), 'alice and bob see each other over TLS');
    alice!.offer({ slotStartMs: SLOT_MS, slotMinutes: 60, maxKw: 2, priceEurPerKwh: 0.2, lifetimeMs: 10_000 });
    await eventually(() => bob!.openOffers().length === 1, 'bob hears the offer');
    expect((await bob!.accept(bob!.openOffers()[0]!, 1, 10_000)).state).toBe('committed');
    await expect(connectAsync(b.tlsUrl, { ...b.login('mallory'), reconnectPeriod: 0, connectTimeout: 3_000 })).rejects.toThrow(/certificate/);
  });
});
