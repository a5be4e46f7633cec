/**
 * The MQTT features the protocol leans on, checked on each broker it is meant to run on.
 * docs/market.md lists which are safeguarded in the application where a broker lacks them.
 */
import { randomUUID } from 'node:crypto';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedBroker, eventually, mosquitto, type TestBroker } from './fixtures.ts';

const clients: MqttClient[] = [];
async function client(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const c = await connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  clients.push(c);
  return c;
}
function collect(c: MqttClient): string[] {
  const seen: string[] = [];
  c.on('message', (_topic, payload) => seen.push(payload.toString()));
  return seen;
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Mosquitto (MQTT 5)', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await mosquitto();
  });
  afterAll(() => {
    for (const c of clients.splice(0)) c.end(true);
  });

  it('does not echo a no-local subscriber its own messages, but delivers others’', async () => {
    const topic = `pe-test/${randomUUID()}/x`;
    const self = await client(broker.url, { protocolVersion: 5 });
    const heard = collect(self);
    await self.subscribeAsync(topic, { qos: 1, nl: true });
    const other = await client(broker.url, { protocolVersion: 5 });
    await self.publishAsync(topic, 'mine', { qos: 1 });
    await other.publishAsync(topic, 'theirs', { qos: 1 });
    await sleep(300);
    expect(heard).toEqual(['theirs']);
  });

  it('drops a retained message once its expiry interval has passed', async () => {
    const topic = `pe-test/${randomUUID()}/x`;
    const publisher = await client(broker.url, { protocolVersion: 5 });
    await publisher.publishAsync(topic, 'short-lived', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
    await sleep(2100);
    const late = await client(broker.url, { protocolVersion: 5 });
    const heard = collect(late);
    await late.subscribeAsync(topic, { qos: 1 });
    await sleep(300);
    expect(heard).toEqual([]);
  });

  it('holds back a will for its delay, skips it when the client is back in time, and sends it when not', async () => {
    const topic = `pe-test/${randomUUID()}/will`;
    const watcher = await client(broker.url, { protocolVersion: 5 });
    const heard = collect(watcher);
    await watcher.subscribeAsync(topic, { qos: 1 });
    const clientId = `pe-test-${randomUUID()}`;
    const options: IClientOptions = {
      protocolVersion: 5,
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 6 },
      will: { topic, payload: Buffer.from('gone'), qos: 1, retain: false, properties: { willDelayInterval: 2 } },
    };
    const first = await client(broker.url, options);
    first.stream.destroy();
    const back = await client(broker.url, options);
    await sleep(2500);
    expect(heard).toEqual([]);
    back.stream.destroy();
    await eventually(() => heard.length > 0, 'the will after its delay', 6_000);
    expect(heard).toEqual(['gone']);
  });
});

describe('aedes 1.2 (embedded)', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await embeddedBroker();
  });
  afterAll(async () => {
    for (const c of clients.splice(0)) c.end(true);
    await broker.close();
  });

  it('refuses MQTT 5 (despite the changelog), so the protocol falls back to 3.1.1 on it', async () => {
    await expect(client(broker.url, { protocolVersion: 5 })).rejects.toThrow(/protocol version/i);
    expect((await client(broker.url, { protocolVersion: 4 })).connected).toBe(true);
  });

  it('keeps retained messages and sends a will at once when a client vanishes', async () => {
    const topic = `pe-test/${randomUUID()}/will`;
    const watcher = await client(broker.url, { protocolVersion: 4 });
    const heard = collect(watcher);
    await watcher.subscribeAsync(topic, { qos: 1 });
    const doomed = await client(broker.url, { protocolVersion: 4, will: { topic, payload: Buffer.from('gone'), qos: 1, retain: true } });
    doomed.stream.destroy();
    await sleep(300);
    expect(heard).toEqual(['gone']);
    const late = await client(broker.url, { protocolVersion: 4 });
    const retained = collect(late);
    await late.subscribeAsync(topic, { qos: 1 });
    await sleep(200);
    expect(retained).toEqual(['gone']);
  });

  it('echoes a subscriber its own messages (no no-local in 3.1.1): receivers filter by sender', async () => {
    const topic = `pe-test/${randomUUID()}/x`;
    const self = await client(broker.url, { protocolVersion: 4 });
    const heard = collect(self);
    await self.subscribeAsync(topic, { qos: 1 });
    await self.publishAsync(topic, 'mine', { qos: 1 });
    await sleep(200);
    expect(heard).toEqual(['mine']);
  });
});
