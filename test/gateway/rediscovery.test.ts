/**
 * Devices that are not there when the gateway starts — the LAN inverter's TCP port closed, the
 * RS-485 adapter's serial path absent — appear 15 s (simulated) later: the gateway finds them
 * without a restart, reports them, and controls them. A device that vanishes afterwards comes
 * back by itself once it answers again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScaledClock } from '../../src/time/clock.ts';
import { loadBoardProfile } from '../../src/config/board.ts';
import { assembleGateway, type DeviceReport, type Gateway } from '../../src/gateway/assemble.ts';
import { formatDiscoveryReport } from '../../src/gateway/report.ts';
import { simBoardFile, startSimulator, type Simulator } from '../../sim/simulator.ts';
import { createFastLoop } from '../../src/runtime/fast-loop.ts';
import { createTariffSource } from '../../src/runtime/prices.ts';
import { openRuntimeStore } from '../../src/storage/store.ts';
import type { RuntimeSnapshot, SafetyEvent } from '../../src/records/types.ts';
import { rigConfig } from '../runtime/fast-loop-rig.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A TCP port where nothing listens until `open()`: then it forwards to the simulator's Modbus server, until `close()`. */
async function lateTcpPort(targetPort: number) {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  const proxy = {
    port,
    async open() {
      server = createServer((client) => {
        const upstream = createConnection(targetPort, '127.0.0.1');
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('error', () => undefined);
          s.on('close', () => (sockets.delete(s), client.destroy(), upstream.destroy()));
        }
        client.pipe(upstream).pipe(client);
      });
      await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    },
    async close() {
      for (const s of sockets) s.destroy();
      if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
      server = undefined;
    },
  };
  cleanups.push(() => proxy.close());
  return proxy;
}

async function lateStart() {
  const clock = new ScaledClock(Date.parse('2016-06-22T11:00:00Z'), 60);
  const sim: Simulator = await startSimulator({ clock });
  cleanups.push(() => sim.close());
  const lan = await lateTcpPort(Number(sim.vars['modbusTcpPort']));
  const rs485 = join(mkdtempSync(join(tmpdir(), 'late-adapter-')), 'ttyUSB0');
  const found: { report: DeviceReport; afterMs: number }[] = [];
  const startMs = clock.nowMs();
  const gateway: Gateway = await assembleGateway(loadBoardProfile(simBoardFile, { ...sim.vars, modbusTcpPort: String(lan.port), rs485Pty: rs485 }), {
    clock,
    onFound: (report) => found.push({ report, afterMs: clock.nowMs() - startMs }),
  });
  cleanups.push(() => gateway.close());
  return { clock, sim, gateway, lan, rs485, found, startMs };
}

/** Sleeps on the simulated clock until `done()` or `withinMs` have passed. */
async function until(clock: ScaledClock, withinMs: number, done: () => boolean | Promise<boolean>): Promise<void> {
  const endMs = clock.nowMs() + withinMs;
  while (!(await done())) {
    if (clock.nowMs() > endMs) throw new Error(`not within ${withinMs / 1000} s (simulated)`);
    await clock.sleep(1_000);
  }
}

describe('devices missing at start-up', () => {
  it('are found when they appear 15 s later, reported, and controlled without a restart', async () => {
    const { clock, sim, gateway, lan, rs485, found, startMs } = await lateStart();
    const late = ['pv-inverter', 'meter', 'battery', 'heat-pump-boost', 'ev-charger'];
    expect(gateway.report.filter((r) => !r.found).map((r) => r.id)).toEqual(late);
    expect(formatDiscoveryReport(gateway.report)).toMatch(/3 of 8 found/);
    expect([gateway.meter, gateway.pv, gateway.battery]).toEqual([undefined, undefined, undefined]);

    await clock.sleep(startMs + 15_000 - clock.nowMs());
    await lan.open(); // the inverter's Modbus TCP server answers
    symlinkSync(sim.vars['rs485Pty']!, rs485); // the USB adapter enumerates

    await until(clock, 300_000, () => found.length === late.length);
    expect(found.map((f) => f.report.id).sort()).toEqual([...late].sort());
    for (const f of found) expect(f.afterMs).toBeGreaterThanOrEqual(15_000);
    expect(found.find((f) => f.report.id === 'meter')!.report).toMatchObject({ found: true, detail: expect.stringMatching(/^SunSpec models .*; net import/) });
    expect(formatDiscoveryReport(gateway.report)).toMatch(/8 of 8 found/);

    // Now in the gateway as if they had been there from the start: read, and commanded.
    const meter = await gateway.meter!.read();
    expect(meter.ok && meter.value.netImportKw).toBeCloseTo(sim.plant.meterNetImportKw(), 1);
    await gateway.battery!.setPowerSetpoint(-2, 60_000);
    expect(sim.plant.batteryPowerKw()).toBeCloseTo(-2, 1);
    await gateway.relays.find((r) => r.id === 'heat-pump-boost')!.switch(true);
    expect(sim.plant.relayOn(2)).toBe(true);
  });

  it('a device that vanishes after it was found comes back by itself once it answers again', async () => {
    const { clock, gateway, lan, found } = await lateStart();
    await lan.open();
    await until(clock, 300_000, () => found.some((f) => f.report.id === 'meter'));
    expect((await gateway.meter!.read()).ok).toBe(true);
    await lan.close(); // the inverter's dongle reboots
    const gone = await gateway.meter!.read();
    expect(gone.ok).toBe(false);
    if (!gone.ok) expect(gone.error.kind).toBe('disconnected');
    await clock.sleep(30_000);
    await lan.open();
    await until(clock, 120_000, async () => (await gateway.meter!.read()).ok);
  });
});

describe('the fast loop on a gateway whose devices appear late', () => {
  it('controls without meter, battery and the RS-485 relay at first, and takes them in once found', async () => {
    const { clock, sim, gateway, lan, rs485, found, startMs } = await lateStart();
    const config = rigConfig(mkdtempSync(join(tmpdir(), 'late-loop-')), { shiftable: [{ relay: 'heat-pump-boost', ratedPowerKw: 3, maxDelayHours: 6, demand: { source: 'schedule', daily: [{ hour: 3, energyKwh: 2 }] } }] });
    const store = openRuntimeStore(config.storage.dir, { log: () => undefined });
    cleanups.push(async () => store.close());
    const events: SafetyEvent[] = [];
    const fast = createFastLoop({ gateway, config, clock, store, tariff: createTariffSource(config.tariff), plan: () => null, market: null, demand: null, onSafetyEvent: (e) => events.push(e) });
    const before: RuntimeSnapshot = await fast.iterate();
    expect(before.measurement.gridKw).toBeNull();
    expect(before.measurement.socFraction).toBeNull();
    expect(before.reasons).toContain('relay-failed');

    await clock.sleep(startMs + 15_000 - clock.nowMs());
    await lan.open();
    symlinkSync(sim.vars['rs485Pty']!, rs485);
    await until(clock, 300_000, () => found.length === 5);

    // The grid power as the plant has it before the loop commands the battery (the hour's profile is constant).
    const [gridKw, soc] = [sim.plant.meterNetImportKw(), sim.plant.batterySocFraction()];
    const after = await fast.iterate();
    expect(after.measurement.gridKw).toBeCloseTo(gridKw, 1);
    expect(after.measurement.socFraction).toBeCloseTo(soc, 2);
    expect(after.setpoint).not.toBeNull();
    // The relay is switched in this iteration; its condition, observed before the switching, clears with the next.
    await clock.sleep(config.control.fastPeriodS * 1000);
    expect((await fast.iterate()).reasons).not.toContain('relay-failed');
    expect(events.filter((e) => e.reason === 'relay-failed').map((e) => e.action)).toEqual(['enter', 'clear']);
    await fast.safeStop();
  });
});
