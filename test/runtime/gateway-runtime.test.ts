/**
 * The whole gateway process on the simulator: devices over real sockets and ptys, solves in a
 * worker, telemetry to the machine's Mosquitto, the crash-safe store on disk.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { parse, stringify } from 'yaml';
import { loadGatewayConfig } from '../../src/config/gateway.ts';
import type { GatewayConfig } from '../../src/config/gateway-config.ts';
import { runGateway } from '../../src/runtime/gateway-runtime.ts';
import { LockstepBarrier, type LockstepLink } from '../../src/time/lockstep-clock.ts';
import { openRuntimeStore } from '../../src/storage/store.ts';
import { closeReceivers, removeReceiverDir, startReceiver } from './notify-receiver.ts';
import { freePort } from '../../src/bench/free-ports.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const cli = join(root, 'src/cli/prosumer-edge.mjs');
const work = mkdtempSync(join(tmpdir(), 'pe-runtime-'));
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  removeReceiverDir();
});

/** The shipped simulator example with absolute paths and the given overrides, written to `name`. */
function simConfig(name: string, change: (config: Record<string, any>) => void): string {
  const example = join(root, 'config/gateway.sim.yaml');
  const config = parse(readFileSync(example, 'utf8')) as Record<string, any>;
  const absolute = (p: string) => resolve(join(root, 'config'), p);
  config.board.file = absolute(config.board.file);
  config.tariff.pricesFile = absolute(config.tariff.pricesFile);
  config.forecast.historyFile = absolute(config.forecast.historyFile);
  config.storage.dir = join(work, name, 'store');
  change(config);
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, stringify(config));
  return file;
}

const lockstepStartIso = '2016-07-02T08:00:00Z';

/**
 * The simulator example on lock-step time from 08:00 for `hours`, without telemetry or market, and
 * this test as its coordinator: however busy the machine, nothing moves between two steps.
 */
function lockstepGateway(name: string, hours: number, change: (config: Record<string, any>) => void): { config: GatewayConfig; lockstep: LockstepLink } {
  const file = simConfig(name, (c) => {
    c.gatewayId = `rt-${name}`;
    c.simulator = { ...c.simulator, speed: 'lockstep', hours, startIso: lockstepStartIso };
    delete c.simulator.wallAnchorMs;
    c.telemetry = {};
    delete c.market;
    change(c);
  });
  const startMs = Date.parse(lockstepStartIso);
  const barrier = new LockstepBarrier(startMs, startMs + hours * 3_600_000);
  return { config: loadGatewayConfig(file), lockstep: barrier.link('gateway') };
}

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: work });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

describe('prosumer-edge run', () => {
  it('rejects a malformed config naming the file and the field, and exits 2 without touching a device', async () => {
    const mistyped = simConfig('bad-type', (c) => {
      c.control.fastPeriodS = 'often';
    });
    const wrongRelay = simConfig('bad-relay', (c) => {
      c.site.shiftable[0].relay = 'sauna';
    });
    for (const [file, field] of [[mistyped, '/control/fastPeriodS'], [wrongRelay, '/site/shiftable/0/relay']] as const) {
      const { code, stderr } = await runCli(['run', '--config', file]);
      expect(code).toBe(2);
      expect(stderr).toContain(`${file}: ${field}`);
      expect(stderr).not.toContain('devices:');
    }
  });

  it('plans every step from measured state, commands the battery from the plan, and publishes Home Assistant discovery and state', async () => {
    const prefix = `pe-test-${process.pid}-${Date.now()}`;
    const statusPort = await freePort();
    // Lock-step time: paced by the wall clock, a loaded machine let an hour boundary pass unplanned.
    const { config, lockstep } = lockstepGateway('day', 4, (c) => {
      c.gatewayId = 'rt-1';
      c.telemetry = { mqtt: { brokerUrl: 'mqtt://127.0.0.1:1883', topicPrefix: prefix, discoveryPrefix: `${prefix}-ha` }, statusPage: { port: statusPort } };
    });
    const seen = new Map<string, string>();
    const subscriber = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { protocolVersion: 4 });
    subscriber.on('message', (topic, payload) => seen.set(topic, payload.toString()));
    await subscriber.subscribeAsync([`${prefix}/#`, `${prefix}-ha/#`]);
    const lines: string[] = [];
    try {
      const result = await runGateway(config, { write: (line) => lines.push(line), lockstep });
      // Four simulated hours: a plan at start and one per hour boundary, none a fallback.
      expect(result.slowTicks).toBe(4);
      expect(result.fallbacks).toBe(0);
      expect(result.fastIterations).toBe((4 * 3600) / config.control.fastPeriodS);
      expect(result.tickToSetpointMs.length).toBe(result.slowTicks);
      expect(lines.join('\n')).toContain('devices: 8 of 8 found');

      const store = openRuntimeStore(config.storage.dir);
      try {
        const plans = store.plans();
        expect(plans.length).toBe(result.slowTicks);
        // The first plan starts from the battery's measured energy (the sim starts at 50 % of 10 kWh).
        expect(plans[0]!.energyKwh[0]).toBeCloseTo(5, 0);
        const hours = store.hours();
        // The loop begins at 08:00 on lock-step time, so 08:00 is whole; 11:00 never closes (no reading after it).
        expect(hours.map((h) => h.hourStartMs)).toEqual([0, 1, 2].map((h) => Date.parse(lockstepStartIso) + h * 3_600_000));
        for (const hour of hours) {
          expect(hour.iterations).toBeGreaterThan(0);
          expect(hour.scheduledGridKw).not.toBeNull();
        }
        expect(store.measurements().length).toBeGreaterThan(0);
      } finally {
        store.close();
      }

      await new Promise((r) => setTimeout(r, 300));
      const soc = seen.get(`${prefix}-ha/sensor/rt-1/soc/config`) ?? [...seen.entries()].find(([t]) => t.startsWith(`${prefix}-ha/sensor/rt-1/`) && t.includes('soc'))?.[1];
      expect(soc).toBeDefined();
      expect(JSON.parse(soc!).state_topic).toBe(`${prefix}/rt-1/state`);
      const state = JSON.parse(seen.get(`${prefix}/rt-1/state`)!);
      expect(state.socFraction).toBeGreaterThan(0);
      expect(seen.get(`${prefix}/rt-1/availability`)).toBe('offline');
      expect(JSON.parse(seen.get(`${prefix}/rt-1/plan`)!)).toBeTruthy();
    } finally {
      // Retained test topics must not outlive the test on the shared broker.
      for (const topic of seen.keys()) await subscriber.publishAsync(topic, '', { retain: true });
      await subscriber.endAsync();
    }
  });

  it('plans each hour from the battery as measured at that instant, when the fast loop is due at the same instant', async () => {
    // Fast loop every half hour, plans on the hour: both loops wake at every hour boundary. On
    // lock-step time the battery does not move between the reading and the plan (paced by the
    // wall clock, a loaded machine moved it past any tight tolerance).
    const { config, lockstep } = lockstepGateway('plan-after-measure', 4, (c) => {
      c.control = { ...c.control, fastPeriodS: 1800, revertTimeoutS: 18_000 };
      c.storage.measurementEveryS = 1800;
    });
    const startMs = Date.parse(lockstepStartIso);
    const result = await runGateway(config, { write: () => undefined, lockstep });
    expect(result.fallbacks).toBe(0);
    const store = openRuntimeStore(config.storage.dir);
    try {
      const measurements = store.measurements();
      const hourly = store.plans().filter((p) => p.startMs % 3_600_000 === 0 && p.startMs > startMs);
      expect(hourly.map((p) => new Date(p.startMs).toISOString().slice(11, 16))).toEqual(['09:00', '10:00', '11:00']);
      const moves = hourly.map((plan) => {
        const before = measurements.filter((m) => m.atMs < plan.startMs).at(-1)!;
        const at = measurements.find((m) => m.atMs === plan.startMs)!;
        // Every plan starts from the reading of its own instant, to the register's resolution.
        expect(Math.abs(plan.energyKwh[0]! - at.energyKwh!)).toBeLessThan(0.002);
        return Math.abs(at.energyKwh! - before.energyKwh!);
      });
      // And the test tells the two apart: the battery moved between the half-hour reading and the hour.
      expect(Math.max(...moves)).toBeGreaterThan(0.05);
      // Without telemetry the lifetime energy totals are kept all the same, hour by hour.
      const totals = JSON.parse(readFileSync(join(config.storage.dir, 'energy-totals.json'), 'utf8')) as { gridImportKwh: number; throughHourStartMs: number };
      const hours = store.hours();
      expect(hours.length).toBe(3);
      expect(totals.throughHourStartMs).toBe(hours.at(-1)!.hourStartMs);
      expect(totals.gridImportKwh).toBeCloseTo(hours.reduce((sum, h) => sum + h.importKwh, 0), 9);
    } finally {
      store.close();
    }
  });

  it('controls its battery when its store cannot be opened (a full or read-only card), keeping records in memory and saying so', async () => {
    const blocked = join(work, 'not-a-folder');
    writeFileSync(blocked, 'a file where the store folder should be');
    const { config, lockstep } = lockstepGateway('no-store', 1, (c) => {
      c.storage.dir = join(blocked, 'store');
    });
    const lines: string[] = [];
    const result = await runGateway(config, { write: (line) => lines.push(line), lockstep });
    expect(lines.join('\n')).toMatch(/store: cannot open .*not-a-folder\/store .*controlling with the recent records in memory only/);
    expect(result.slowTicks).toBeGreaterThanOrEqual(1);
    expect(result.fastIterations).toBeGreaterThan(0);
  });

  it('tells systemd it is ready once its loops run and pings the watchdog, then on SIGTERM says it is stopping and exits 0, leaving a store the next start opens', async () => {
    const file = simConfig('term', (c) => {
      c.simulator.speed = 600;
      delete c.simulator.hours;
      c.telemetry = {};
    });
    const systemd = await startReceiver();
    const child = spawn(process.execPath, [cli, 'run', '--config', file], { cwd: work, env: { ...process.env, NOTIFY_SOCKET: systemd.path, WATCHDOG_USEC: '1000000' } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    try {
      await systemd.waitFor((d) => d.some((m) => m.text.includes('READY=1')), 60_000);
      await systemd.waitFor((d) => d.filter((m) => m.text.includes('WATCHDOG=1')).length >= 2);
      // After each plan the status line says how it was solved.
      await systemd.waitFor((d) => d.some((m) => m.text.includes('STATUS=plan optimal')), 60_000);
      expect(stderr).toContain('running:');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(systemd.assignments()).toContain('STOPPING=1');
      expect(stderr).toMatch(/stopped: \d+ fast iterations/);
    } finally {
      child.kill('SIGKILL');
      closeReceivers();
    }
    const store = openRuntimeStore(loadGatewayConfig(file).storage.dir);
    expect(store.plans().length).toBeGreaterThan(0);
    store.close();
  });
});
