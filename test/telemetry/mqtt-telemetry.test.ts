/**
 * Telemetry on a real broker, the embedded aedes and the machine's Mosquitto: what a Home
 * Assistant (or any subscriber) sees. Each test has its own topic and discovery prefixes, and
 * clears what it left retained.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedBroker } from '../../src/market/broker.ts';
import type { Plan } from '../../src/optimizer/index.ts';
import type { RuntimeLog } from '../../src/runtime/log.ts';
import { discoveryMessages, startMqttTelemetry, telemetryTopics, type HaEntityConfig } from '../../src/telemetry/index.ts';
import { planGridKw, planMessage } from '../../src/telemetry/messages.ts';
import { ManualClock } from '../../src/time/clock.ts';
import { BROKERS, eventually, type TestBroker } from '../market/fixtures.ts';
import { hourRecord, PLAN_START_MS, safetyEvent, snapshotAt, solvedPlan, Watcher } from './fixtures.ts';
import { parseDiscoveryTopic, renderValueTemplate, validateDiscovery } from './home-assistant-schema.ts';

const MS_PER_HOUR = 3_600_000;
const GATEWAY = 'gw-test';
const quietLog: RuntimeLog = () => undefined;

let plan: Plan;
beforeAll(async () => {
  plan = await solvedPlan({ stepHours: [1, 1, 1, 1, 1, 1] });
});

/** Fresh prefixes per test, so runs on the shared Mosquitto never see each other's retained messages. */
function prefixes() {
  const run = randomUUID().slice(0, 8);
  return { topicPrefix: `pe-test-${run}/prosumer-edge`, discoveryPrefix: `pe-test-${run}/homeassistant` };
}

describe.each(BROKERS)('telemetry on $name', ({ start }) => {
  let broker: TestBroker;
  const cleanups: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    broker = await start();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    await broker.close();
  });

  async function setUp(options: { wallClock?: ManualClock; settlement?: boolean } = {}) {
    const p = prefixes();
    const watcher = await Watcher.start(broker.url, [`${p.discoveryPrefix}/#`, `${p.topicPrefix}/#`]);
    cleanups.push(() => watcher.close());
    const telemetry = startMqttTelemetry({ brokerUrl: broker.url, gatewayId: GATEWAY, ...p, log: quietLog, ...(options.wallClock ? { wallClock: options.wallClock } : {}), ...(options.settlement ? { settlement: true } : {}) });
    cleanups.push(() => telemetry.close());
    await eventually(() => telemetry.connected(), 'telemetry connected');
    return { ...p, watcher, telemetry, topics: telemetryTopics(p.topicPrefix, GATEWAY) };
  }

  it('gives a late subscriber every Home Assistant config retained, each valid by the documented schema, one device for all', async () => {
    const { discoveryPrefix, topicPrefix, watcher } = await setUp();
    const expected = discoveryMessages({ gatewayId: GATEWAY, topicPrefix, discoveryPrefix });
    await eventually(() => expected.every((m) => watcher.on(m.topic).length > 0), 'every discovery config');

    const late = await Watcher.start(broker.url, [`${discoveryPrefix}/#`]);
    cleanups.push(() => late.close());
    // Aedes streams retained messages from its store after the SUBACK, so a live message (the
    // barrier) can overtake them on a busy machine: wait for them, then for anything after them.
    await eventually(() => expected.every((m) => late.on(m.topic).length > 0), 'every discovery config retained to a late subscriber');
    await late.barrier(`${discoveryPrefix}/barrier`);
    const configs = late.heard.filter((h) => h.topic.endsWith('/config'));
    expect(configs.map((c) => c.topic).sort()).toEqual(expected.map((m) => m.topic).sort());
    const devices = new Set<string>();
    for (const heard of configs) {
      expect(heard.retain, heard.topic).toBe(true);
      const where = parseDiscoveryTopic(heard.topic, discoveryPrefix);
      expect(where, heard.topic).not.toBeNull();
      expect(where!.nodeId).toBe(GATEWAY);
      const config = JSON.parse(heard.payload) as HaEntityConfig;
      const validate = validateDiscovery[where!.component as keyof typeof validateDiscovery];
      expect(validate, `component ${where!.component}`).toBeDefined();
      expect(validate(config) ? [] : validate.errors, heard.topic).toEqual([]);
      expect(config.device.manufacturer).toBe('prosumer-edge');
      devices.add(JSON.stringify(config.device));
    }
    expect(devices.size).toBe(1);
    const uniqueIds = configs.map((c) => (JSON.parse(c.payload) as HaEntityConfig).unique_id);
    expect(new Set(uniqueIds).size).toBe(uniqueIds.length);
    // What the brief asks Home Assistant to show, by device class.
    const classes = configs.map((c) => (JSON.parse(c.payload) as HaEntityConfig).device_class);
    expect(classes).toEqual(expect.arrayContaining(['battery', 'power', 'energy', 'problem']));
  });

  it('announces the no-loss settlement’s sensors when the gateway settles, and retains its last day for them', async () => {
    const { discoveryPrefix, topicPrefix, watcher, telemetry, topics } = await setUp({ settlement: true });
    const sensors = discoveryMessages({ gatewayId: GATEWAY, topicPrefix, discoveryPrefix, settlement: true }).filter((m) => m.config.state_topic === topics.settlement);
    expect(sensors.map((m) => m.objectId)).toEqual(['community_saving', 'community_transfer']);
    await eventually(() => sensors.every((m) => watcher.on(m.topic).length > 0), 'the settlement sensors announced');
    for (const m of sensors) {
      const config = JSON.parse(watcher.on(m.topic).at(-1)!.payload) as HaEntityConfig;
      expect(validateDiscovery.sensor(config) ? [] : validateDiscovery.sensor.errors, m.topic).toEqual([]);
    }
    // Alone it would have paid 8.50 EUR, with the community 7.00 EUR, and it pays 0.40 EUR of the community's saving to the others.
    telemetry.publishSettlement({ dayMs: Date.UTC(2016, 10, 2), participants: ['gw-test', 'gw-b', 'gw-c'], transfersEur: { 'gw-test': 0.4, 'gw-b': -0.1, 'gw-c': -0.3 }, ownTransferEur: 0.4, aloneEur: 8.5, withCommunityEur: 7, booked: true, reason: 'every member confirmed' });
    await eventually(() => watcher.on(topics.settlement).length > 0, 'the settlement');
    // A subscriber that comes later (Home Assistant restarting) gets the day retained.
    const late = await Watcher.start(broker.url, [topics.settlement]);
    cleanups.push(() => late.close());
    await eventually(() => late.on(topics.settlement).length > 0, 'the settlement retained');
    const heard = late.on(topics.settlement).at(-1)!;
    expect(heard.retain).toBe(true);
    expect(JSON.parse(heard.payload)).toMatchObject({ day: '2016-11-02', booked: true, members: 3, settledEur: 7.4 });
    const rendered = Object.fromEntries(sensors.map((m) => [m.objectId, Number(renderValueTemplate(m.config.value_template!, heard.payload))]));
    expect(rendered).toEqual({ community_saving: 1.1, community_transfer: 0.4 });
    // Without the settlement, nothing of it is announced.
    expect(discoveryMessages({ gatewayId: GATEWAY, topicPrefix, discoveryPrefix }).some((m) => m.config.state_topic === topics.settlement)).toBe(false);
  });

  it('publishes a state that every entity template resolves against, to the values of the snapshot and its plan', async () => {
    const { discoveryPrefix, topicPrefix, watcher, telemetry, topics } = await setUp();
    const atMs = PLAN_START_MS + 1.5 * MS_PER_HOUR;
    const snapshot = snapshotAt(plan, atMs);
    telemetry.publishSnapshot(snapshot);
    telemetry.publishSafetyEvent(safetyEvent(atMs - 60_000));
    await eventually(() => watcher.on(topics.state).some((h) => JSON.parse(h.payload).lastSafety.reason !== 'none'), 'a state with the safety event');
    const state = watcher.on(topics.state).at(-1)!.payload;

    const rendered = new Map<string, string>();
    // The energy counters have their own topic (the energy test below).
    const onState = discoveryMessages({ gatewayId: GATEWAY, topicPrefix, discoveryPrefix }).filter((m) => m.config.state_topic !== topics.energy);
    for (const { objectId, config } of onState) {
      expect(config.state_topic).toBe(topics.state);
      const value = renderValueTemplate(config.value_template!, state);
      rendered.set(objectId, value);
      if (config.payload_on !== undefined) expect([config.payload_on, config.payload_off], objectId).toContain(value);
      else if (config.state_class !== undefined) expect(Number.isFinite(Number(value)), `${objectId} = ${value}`).toBe(true);
      else expect(value, objectId).not.toBe('');
    }
    expect(Number(rendered.get('soc'))).toBeCloseTo(snapshot.measurement.socFraction! * 100, 1);
    expect(Number(rendered.get('grid_power'))).toBeCloseTo(snapshot.measurement.gridKw!, 3);
    expect(Number(rendered.get('planned_grid_power'))).toBeCloseTo(planGridKw(plan)[1]!, 3);
    // Half an hour left in step 1, then half an hour of step 2.
    expect(Number(rendered.get('next_hour_grid_power'))).toBeCloseTo((planGridKw(plan)[1]! + planGridKw(plan)[2]!) / 2, 3);
    expect(Number(rendered.get('planned_battery_energy'))).toBeCloseTo((plan.energyKwh[1]! + plan.energyKwh[2]!) / 2, 3);
    expect(Number(rendered.get('trades_today'))).toBe(snapshot.trades.length);
    expect(rendered.get('safe_mode')).toBe('plan');
    expect(rendered.get('last_safety_reason')).toBe('battery-unavailable');

    // The next-hour sensor's attributes topic holds a JSON mapping: the plan.
    const attributesTopic = discoveryMessages({ gatewayId: GATEWAY, topicPrefix, discoveryPrefix }).find((m) => m.objectId === 'next_hour_grid_power')!.config.json_attributes_topic!;
    await eventually(() => watcher.on(attributesTopic).length > 0, 'the plan');
    expect(JSON.parse(watcher.on(attributesTopic).at(-1)!.payload)).toEqual(JSON.parse(JSON.stringify(planMessage(plan, snapshot.lastSolve))));
  });

  it('renders a device that does not answer as None (unknown in Home Assistant), and safe mode as on', async () => {
    const { discoveryPrefix, topicPrefix, watcher, telemetry, topics } = await setUp();
    const atMs = PLAN_START_MS + 2 * MS_PER_HOUR;
    const healthy = snapshotAt(plan, atMs);
    telemetry.publishSnapshot({
      ...healthy,
      measurement: { ...healthy.measurement, batteryKw: null, socFraction: null, energyKwh: null, netLoadKw: null },
      mode: 'safe',
      reasons: ['battery-unavailable'],
    });
    await eventually(() => watcher.on(topics.state).length > 0, 'the state');
    const state = watcher.on(topics.state).at(-1)!.payload;
    const render = (objectId: string) => renderValueTemplate(discoveryMessages({ gatewayId: GATEWAY, topicPrefix, discoveryPrefix }).find((m) => m.objectId === objectId)!.config.value_template!, state);
    expect(render('soc')).toBe('None');
    expect(render('battery_power')).toBe('None');
    expect(render('pv_power')).not.toBe('None');
    expect(render('safe_mode')).toBe('safe');
  });

  it('sends state at most once per interval of wall time however fast snapshots come, and the newest one last', async () => {
    const wallClock = new ManualClock(0);
    const { watcher, telemetry, topics } = await setUp({ wallClock });
    // An accelerated runtime: 50 snapshots, 10 simulated minutes apart, in the same wall instant.
    const snapshots = Array.from({ length: 50 }, (_, i) => snapshotAt(plan, PLAN_START_MS + i * 600_000));
    for (const s of snapshots) telemetry.publishSnapshot(s);
    telemetry.publishHour(hourRecord(PLAN_START_MS));
    await eventually(() => watcher.on(topics.hour).length > 0, 'the hour record');
    expect(watcher.on(topics.state).map((h) => JSON.parse(h.payload).atMs)).toEqual([snapshots[0]!.atMs]);

    wallClock.advance(1000);
    await eventually(() => watcher.on(topics.state).length >= 2, 'the held-back state');
    telemetry.publishHour(hourRecord(PLAN_START_MS + MS_PER_HOUR));
    await eventually(() => watcher.on(topics.hour).length >= 2, 'the second hour record');
    expect(watcher.on(topics.state).map((h) => JSON.parse(h.payload).atMs)).toEqual([snapshots[0]!.atMs, snapshots[49]!.atMs]);
  });

  it('retains plan, trades and state for a late subscriber, but not hours and safety events', async () => {
    const { topicPrefix, watcher, telemetry, topics } = await setUp();
    const snapshot = snapshotAt(plan, PLAN_START_MS + 600_000);
    telemetry.publishSnapshot(snapshot);
    telemetry.publishHour(hourRecord(PLAN_START_MS));
    telemetry.publishSafetyEvent(safetyEvent(PLAN_START_MS + 700_000));
    await eventually(() => [topics.plan, topics.trades, topics.hour, topics.safety].every((t) => watcher.on(t).length > 0), 'plan, trades, hour and safety');
    expect(JSON.parse(watcher.on(topics.trades)[0]!.payload)).toEqual(snapshot.trades);
    expect(JSON.parse(watcher.on(topics.hour)[0]!.payload)).toEqual(hourRecord(PLAN_START_MS));
    expect(JSON.parse(watcher.on(topics.safety)[0]!.payload)).toEqual(safetyEvent(PLAN_START_MS + 700_000));
    await eventually(() => watcher.on(topics.state).some((h) => JSON.parse(h.payload).lastSafety.reason === 'battery-unavailable'), 'the state after the event');

    const late = await Watcher.start(broker.url, [`${topicPrefix}/#`]);
    cleanups.push(() => late.close());
    await late.barrier(`${topicPrefix}/barrier`);
    const heard = new Set(late.heard.filter((h) => h.retain).map((h) => h.topic));
    expect(heard).toEqual(new Set([topics.availability, topics.state, topics.plan, topics.trades]));
    // A plan published once: the same plan in later snapshots is not sent again.
    telemetry.publishSnapshot(snapshotAt(plan, PLAN_START_MS + 1_200_000));
    telemetry.publishHour(hourRecord(PLAN_START_MS + MS_PER_HOUR));
    await eventually(() => watcher.on(topics.hour).length >= 2, 'the second hour');
    expect(watcher.on(topics.plan)).toHaveLength(1);
  });

  it('says online while running and offline after a clean close', async () => {
    const { watcher, telemetry, topics } = await setUp();
    await eventually(() => watcher.on(topics.availability).length > 0, 'availability');
    expect(watcher.on(topics.availability).map((h) => h.payload)).toEqual(['online']);
    await telemetry.close();
    expect(telemetry.connected()).toBe(false);
    await eventually(() => watcher.on(topics.availability).length > 1, 'offline');
    expect(watcher.on(topics.availability).map((h) => h.payload)).toEqual(['online', 'offline']);
  });

  it('hands on commands from its own set topics only, ignoring a retained one and the empty message that deletes it', async () => {
    const p = prefixes();
    const topics = telemetryTopics(p.topicPrefix, GATEWAY);
    const sender = await Watcher.start(broker.url, [`${p.topicPrefix}/#`]);
    cleanups.push(() => sender.close());
    // Left retained by someone: it must not be carried out at every (re)connect.
    await sender.publish(topics.setMode, 'off', true);
    const commands: string[] = [];
    const lines: string[] = [];
    const telemetry = startMqttTelemetry({
      brokerUrl: broker.url,
      gatewayId: GATEWAY,
      ...p,
      log: (level, text) => lines.push(`${level} ${text}`),
      commands: { minReservePercent: 10, maxReservePercent: 96, onCommand: (c) => commands.push(`${c.command}=${c.payload}`) },
    });
    cleanups.push(() => telemetry.close());
    await eventually(() => lines.some((l) => l.includes('ignoring a retained mode command')), 'the retained command refused');
    await sender.publish(topics.setMode, '', true);
    telemetry.publishControl({ mode: 'auto', reservePercent: 10, minReservePercent: 10, maxReservePercent: 96 });
    await sender.publish(topics.setReserve, '35');
    await sender.publish(topics.planNow, 'PRESS');
    // Another gateway's command topic and a topic beside the commands are not ours.
    await sender.publish(telemetryTopics(p.topicPrefix, 'gw-other').setMode, 'hold');
    await sender.publish(`${p.topicPrefix}/${GATEWAY}/set`, 'hold');
    await sender.publish(topics.setMode, 'hold');
    await eventually(() => commands.length >= 3, 'three commands');
    await sender.barrier(`${p.topicPrefix}/barrier`);
    expect(commands).toEqual(['reserve=35', 'plan-now=PRESS', 'mode=hold']);
    expect(JSON.parse(sender.on(topics.control).at(-1)!.payload)).toMatchObject({ mode: 'auto', reservePercent: 10 });
  });

  it('is marked offline by its last will when the gateway process is killed without a goodbye', async () => {
    const p = prefixes();
    const topics = telemetryTopics(p.topicPrefix, GATEWAY);
    const watcher = await Watcher.start(broker.url, [`${p.topicPrefix}/#`, `${p.discoveryPrefix}/#`]);
    cleanups.push(() => watcher.close());
    const script = fileURLToPath(new URL('./telemetry-process.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, broker.url, GATEWAY, p.topicPrefix, p.discoveryPrefix], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    });
    await eventually(() => watcher.on(topics.availability).some((h) => h.payload === 'online'), 'online from the child', 30_000);
    child.kill('SIGKILL');
    await exited;
    await eventually(() => watcher.on(topics.availability).at(-1)?.payload === 'offline', 'the last will');
    const late = await Watcher.start(broker.url, [topics.availability]);
    cleanups.push(() => late.close());
    await eventually(() => late.heard.length > 0, 'the retained availability');
    expect(late.heard.map((h) => [h.payload, h.retain])).toEqual([['offline', true]]);
  });
});

/**
 * A TCP gate in front of a broker: while shut it drops every connection at once (the broker is
 * unreachable); once opened it pipes them through.
 */
async function brokerGate(brokerPort: number): Promise<{ url: string; open(): void; close(): Promise<void> }> {
  let open = false;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    if (!open) return void socket.destroy();
    const upstream = connect(brokerPort, '127.0.0.1');
    for (const s of [socket, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined).on('close', () => {
        socket.destroy();
        upstream.destroy();
      });
    }
    socket.pipe(upstream).pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
    open: () => void (open = true),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('telemetry whose broker is unreachable at first', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('publishes availability, discovery, the latest state and the events of the gap once the broker is reachable', async () => {
    const broker = await startEmbeddedBroker();
    cleanups.push(() => broker.close());
    const gate = await brokerGate(broker.port);
    cleanups.push(() => gate.close());
    const p = prefixes();
    const topics = telemetryTopics(p.topicPrefix, GATEWAY);
    const warnings: string[] = [];
    const telemetry = startMqttTelemetry({ brokerUrl: gate.url, gatewayId: GATEWAY, ...p, log: (level, message) => void (level === 'warn' && warnings.push(message)) });
    cleanups.push(() => telemetry.close());
    telemetry.publishSnapshot(snapshotAt(plan, PLAN_START_MS));
    telemetry.publishSafetyEvent(safetyEvent(PLAN_START_MS + 1000));
    telemetry.publishHour(hourRecord(PLAN_START_MS));
    await eventually(() => warnings.length > 0, 'a warning that the broker is away');
    expect(telemetry.connected()).toBe(false);

    const watcher = await Watcher.start(broker.url, [`${p.topicPrefix}/#`, `${p.discoveryPrefix}/#`]);
    cleanups.push(() => watcher.close());
    gate.open();
    await eventually(() => [topics.availability, topics.state, topics.plan, topics.trades, topics.safety, topics.hour].every((t) => watcher.on(t).length > 0), 'everything after the gap', 20_000);
    expect(watcher.heard.filter((h) => h.topic.endsWith('/config'))).toHaveLength(discoveryMessages({ gatewayId: GATEWAY, ...p }).length);
    expect(JSON.parse(watcher.on(topics.safety)[0]!.payload)).toEqual(safetyEvent(PLAN_START_MS + 1000));
    expect(telemetry.connected()).toBe(true);
  });
});
