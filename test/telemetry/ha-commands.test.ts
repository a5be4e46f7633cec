/**
 * Home Assistant steering a gateway: the whole gateway process on the simulator (devices over
 * real sockets and ptys, the solver worker, the store on disk) with its telemetry on a real broker
 * — the embedded aedes and the machine's Mosquitto — and a client that does what Home Assistant
 * does: reads the discovery configs, sends commands to the command topics and reads the states.
 * Each command must change what the gateway does to the battery and be echoed on the control
 * topic; a bad one is refused, and both are recorded as safety events.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { loadGatewayConfig } from '../../src/config/gateway.ts';
import { runGateway } from '../../src/runtime/gateway-runtime.ts';
import type { SafetyEvent } from '../../src/runtime/types.ts';
import { telemetryTopics, type HaEntityConfig } from '../../src/telemetry/index.ts';
import type { PlanMessage, StateMessage } from '../../src/telemetry/messages.ts';
import { BROKERS, eventually } from '../market/fixtures.ts';
import { Watcher } from './fixtures.ts';
import { parseDiscoveryTopic, validateDiscovery } from './home-assistant-schema.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'pe-ha-commands-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const HOUR_MS = 3_600_000;
const GATEWAY = 'ha-1';

/** The shipped simulator example, its telemetry on `brokerUrl` under fresh prefixes, run until stopped. */
function simConfig(name: string, brokerUrl: string, prefix: string): string {
  const config = parse(readFileSync(join(root, 'config/gateway.sim.yaml'), 'utf8')) as Record<string, any>;
  const absolute = (p: string) => resolve(join(root, 'config'), p);
  config.gatewayId = GATEWAY;
  config.board.file = absolute(config.board.file);
  config.tariff.pricesFile = absolute(config.tariff.pricesFile);
  config.forecast.historyFile = absolute(config.forecast.historyFile);
  config.storage.dir = join(work, name, 'store');
  delete config.simulator.hours;
  config.simulator.startIso = '2016-07-02T18:00:00Z';
  config.telemetry = { mqtt: { brokerUrl, topicPrefix: prefix, discoveryPrefix: `${prefix}-ha` } };
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, stringify(config));
  return file;
}

describe.each(BROKERS)('Home Assistant commands on $name', ({ name, start }) => {
  it('announces energy counters and command entities; mode, reserve and plan-now change what the gateway does and are echoed; bad commands are refused', async () => {
    const broker = await start();
    const prefix = `pe-test-${randomUUID().slice(0, 8)}`;
    const topics = telemetryTopics(prefix, GATEWAY);
    const watcher = await Watcher.start(broker.url, [`${prefix}/#`, `${prefix}-ha/#`]);
    const homeAssistant: MqttClient = await connectAsync(broker.url, { protocolVersion: 4, clientId: `pe-test-ha-${randomUUID()}` });
    const stop = new AbortController();
    const lines: string[] = [];
    const running = runGateway(loadGatewayConfig(simConfig(name.replace(/\W+/g, '-'), broker.url, prefix)), { signal: stop.signal, write: (line) => lines.push(line) });
    running.catch(() => undefined);
    try {
      // Discovery: the Energy dashboard's counters and the three command entities, each valid.
      const config = (objectId: string, component: string) => watcher.on(`${prefix}-ha/${component}/${GATEWAY}/${objectId}/config`).at(-1);
      await eventually(() => config('plan_now', 'button') !== undefined, 'the discovery configs', 60_000);
      const configs = watcher.heard.filter((h) => h.topic.endsWith('/config') && h.payload !== '');
      for (const heard of configs) {
        const where = parseDiscoveryTopic(heard.topic, `${prefix}-ha`)!;
        const validate = validateDiscovery[where.component as keyof typeof validateDiscovery];
        expect(validate(JSON.parse(heard.payload)) ? [] : validate.errors, heard.topic).toEqual([]);
      }
      const parsed = (objectId: string, component = 'sensor') => JSON.parse(config(objectId, component)!.payload) as HaEntityConfig;
      for (const objectId of ['grid_import_energy', 'grid_export_energy', 'pv_energy', 'battery_charge_energy', 'battery_discharge_energy']) {
        expect(parsed(objectId), objectId).toMatchObject({ device_class: 'energy', state_class: 'total_increasing', unit_of_measurement: 'kWh', state_topic: topics.energy });
      }
      expect(parsed('mode', 'select')).toMatchObject({ command_topic: topics.setMode, state_topic: topics.control, options: ['auto', 'self-consumption', 'hold', 'off'] });
      // The sim board's 10 kWh battery, E^min 1 kWh, E^max 10 kWh, guard band 0.2 kWh: a reserve of 10–96 %.
      expect(parsed('battery_reserve', 'number')).toMatchObject({ command_topic: topics.setReserve, state_topic: topics.control, min: 10, max: 96, unit_of_measurement: '%' });
      expect(parsed('plan_now', 'button')).toMatchObject({ command_topic: topics.planNow, payload_press: 'PRESS' });
      expect(parsed('plan_now', 'button').state_topic).toBeUndefined();

      const control = () => JSON.parse(watcher.on(topics.control).at(-1)?.payload ?? 'null') as { mode: string; reservePercent: number } | null;
      await eventually(() => control()?.mode === 'auto', 'the control state', 30_000);
      expect(control()).toEqual({ mode: 'auto', reservePercent: 10, minReservePercent: 10, maxReservePercent: 96 });
      await eventually(() => watcher.on(topics.state).length > 0 && lines.some((l) => l.includes('running: fast loop')), 'the loops running', 60_000);

      const events = () => watcher.on(topics.safety).map((h) => JSON.parse(h.payload) as SafetyEvent).filter((e) => e.reason === 'user-command');
      const states = () => watcher.on(topics.state).map((h) => JSON.parse(h.payload) as StateMessage);
      /** Sends a command as Home Assistant does (not retained) and returns the safety event that recorded it. */
      const send = async (topic: string, payload: string): Promise<SafetyEvent> => {
        const before = events().length;
        await homeAssistant.publishAsync(topic, payload, { qos: 1 });
        await eventually(() => events().length > before, `the event of ${payload} on ${topic}`);
        return events().at(-1)!;
      };
      /** The states the gateway published after `event`, once there are `count` of them. */
      const statesAfter = async (event: SafetyEvent, count: number) => {
        await eventually(() => states().filter((s) => s.atMs > event.atMs).length >= count, `${count} states after ${event.detail}`, 30_000);
        return states().filter((s) => s.atMs > event.atMs);
      };

      // hold: the battery idles.
      const hold = await send(topics.setMode, 'hold');
      expect(hold).toMatchObject({ action: 'command', detail: 'mode hold (was auto)' });
      await eventually(() => control()?.mode === 'hold', 'hold echoed');
      for (const s of await statesAfter(hold, 3)) expect([s.setpointRequestedKw, s.setpointCommandedKw]).toEqual([0, 0]);

      // self-consumption: the battery is asked for what brings the meter to 0 kW (the evening's load).
      const selfConsumption = await send(topics.setMode, 'self-consumption');
      await eventually(() => control()?.mode === 'self-consumption', 'self-consumption echoed');
      const covered = await statesAfter(selfConsumption, 3);
      for (const s of covered) expect(s.setpointRequestedKw!).toBeCloseTo(s.batteryKw! + s.gridKw!, 2);
      expect(covered.some((s) => s.setpointCommandedKw! > 0.1), 'the battery discharges to cover the load').toBe(true);

      // Refused: an unknown mode, a reserve out of range or not a number; nothing changes.
      expect(await send(topics.setMode, 'turbo')).toMatchObject({ action: 'rejected', detail: expect.stringContaining('the mode must be one of auto, self-consumption, hold, off') });
      expect(await send(topics.setReserve, '150')).toMatchObject({ action: 'rejected', detail: expect.stringContaining('[10, 96]') });
      expect(await send(topics.setReserve, 'lots')).toMatchObject({ action: 'rejected', detail: expect.stringContaining('must be a number') });
      expect(await send(topics.planNow, 'NOW')).toMatchObject({ action: 'rejected' });
      expect(control()).toMatchObject({ mode: 'self-consumption', reservePercent: 10 });
      expect(lines.some((l) => l.includes('safety rejected user-command: mode "turbo" rejected'))).toBe(true);

      // off: the battery idles (the safe state).
      const off = await send(topics.setMode, 'off');
      await eventually(() => control()?.mode === 'off', 'off echoed');
      for (const s of await statesAfter(off, 3)) expect(s.setpointCommandedKw).toBe(0);

      // A 90 % reserve above the stored energy, back in auto: re-planned at once; the plan keeps the
      // energy it starts from (it may charge, and give back only what it charged), the loop discharges nothing below 9 kWh + the band.
      const plans = () => watcher.on(topics.plan).filter((h) => h.payload !== '').map((h) => JSON.parse(h.payload) as PlanMessage);
      const reserve = await send(topics.setReserve, '90');
      expect(reserve).toMatchObject({ action: 'command', detail: 'battery reserve 90 % = 9.00 kWh (was 10 %)' });
      await eventually(() => control()?.reservePercent === 90, 'the reserve echoed');
      await eventually(() => plans().some((p) => p.lastSolve!.atMs >= reserve.atMs), 'the re-plan after the reserve', 30_000);
      const auto = await send(topics.setMode, 'auto');
      const replanned = plans().find((p) => p.lastSolve!.atMs >= reserve.atMs)!;
      for (const kwh of replanned.energyKwh) expect(kwh).toBeGreaterThanOrEqual(replanned.energyKwh[0]! - 1e-6);
      for (const s of await statesAfter(auto, 5)) {
        expect(s.energyKwh!).toBeLessThan(9.2);
        expect(s.setpointCommandedKw!).toBeLessThanOrEqual(0);
      }

      // Plan now: a plan solved at the press, not at the next hour.
      const press = await send(topics.planNow, 'PRESS');
      expect(press).toMatchObject({ action: 'command', detail: 'plan now' });
      await eventually(() => plans().some((p) => p.lastSolve!.atMs >= press.atMs && p.lastSolve!.atMs < Math.ceil(press.atMs / HOUR_MS) * HOUR_MS), 'a plan solved at the press', 30_000);

      // The energy counters: retained, and never going down from one hour to the next.
      await eventually(() => watcher.on(topics.energy).filter((h) => JSON.parse(h.payload).throughIso !== null).length >= 2, 'two hours counted', 60_000);
      const totals = watcher.on(topics.energy).map((h) => JSON.parse(h.payload) as Record<string, number>);
      for (const counter of ['gridImportKwh', 'gridExportKwh', 'pvKwh', 'batteryChargeKwh', 'batteryDischargeKwh']) {
        for (let i = 1; i < totals.length; i++) expect(totals[i]![counter]!, counter).toBeGreaterThanOrEqual(totals[i - 1]![counter]!);
      }
      expect(totals.at(-1)!.gridImportKwh! + totals.at(-1)!.batteryDischargeKwh!).toBeGreaterThan(0);
    } finally {
      stop.abort();
      await running.catch(() => undefined);
      await homeAssistant.endAsync();
      await watcher.close();
      await broker.close();
    }
  }, 240_000);
});
