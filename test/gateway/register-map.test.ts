/**
 * A gateway on register-map devices: the board boards/sim-sdm630-sungrow.yaml (SDM630 on Modbus
 * RTU, Sungrow SH-RT on Modbus TCP) assembled against the simulator, which serves both from the
 * same map files, over real sockets and a real pseudo-terminal; and the fail-safe rule of their
 * battery setpoints, with and without a watchdog register on the device.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ScaledClock } from '../../src/time/clock.ts';
import { loadBoardProfile } from '../../src/config/board.ts';
import { assembleGateway, type Gateway } from '../../src/gateway/assemble.ts';
import { formatDiscoveryReport } from '../../src/gateway/report.ts';
import { startSimulator, type Simulator } from '../../sim/simulator.ts';

const sdm630SungrowBoard = fileURLToPath(new URL('../../boards/sim-sdm630-sungrow.yaml', import.meta.url));
const watchdogMap = fileURLToPath(new URL('./watchdog-battery.yaml', import.meta.url));
const started: { sim: Simulator; gateway?: Gateway }[] = [];

afterEach(async () => {
  for (const { sim, gateway } of started.splice(0)) {
    await gateway?.close();
    await sim.close();
  }
});

async function simAndGateway(boardFile: string) {
  // 60× so that revert times of a minute pass in a second.
  const clock = new ScaledClock(Date.parse('2016-06-22T11:00:00Z'), 60);
  const sim = await startSimulator({ clock, boardFile });
  const entry: { sim: Simulator; gateway?: Gateway } = { sim };
  started.push(entry);
  entry.gateway = await assembleGateway(loadBoardProfile(boardFile, sim.vars), { clock });
  return { sim, gateway: entry.gateway, clock };
}

describe('the gateway assembled from boards/sim-sdm630-sungrow.yaml', () => {
  it('finds the SDM630 and the Sungrow through their maps and reads them as the plant is', async () => {
    const { sim, gateway } = await simAndGateway(sdm630SungrowBoard);
    expect(formatDiscoveryReport(gateway.report)).toMatch(/6 of 6 found/);
    expect(gateway.report.find((r) => r.id === 'meter')).toMatchObject({ kind: 'register-map', found: true, endpoint: expect.stringMatching(/^rtu:/) });
    expect(gateway.report.find((r) => r.id === 'inverter')?.detail).toMatch(/^register map sungrow-sh-rt; PV [\d.]+ kW; 10 kWh, SoC/);
    const [meter, pv, battery] = await Promise.all([gateway.meter!.read(), gateway.pv!.read(), gateway.battery!.read()]);
    if (!meter.ok || !pv.ok || !battery.ok) throw new Error('a reading failed');
    // Noon in June, the hour's profile is constant: the readings are the plant's (the SDM630's float, the Sungrow's whole watts).
    expect(meter.value.netImportKw).toBeCloseTo(sim.plant.meterNetImportKw(), 3);
    expect(meter.value.netImportKw).toBeLessThan(0);
    expect(pv.value.acPowerKw).toBeCloseTo(sim.plant.pvAcPowerKw(), 2);
    expect(battery.value.socFraction).toBeCloseTo(sim.plant.batterySocFraction(), 3);
    expect(gateway.battery!.capacityKwh).toBe(10);
  });

  it('commands the hybrid inverter\'s battery through forced mode, both directions', async () => {
    const { sim, gateway } = await simAndGateway(sdm630SungrowBoard);
    const inverter = sim.faults.registerMap['inverter']!;
    await gateway.battery!.setPowerSetpoint(-2, 60_000);
    expect(sim.plant.batteryPowerKw()).toBeCloseTo(-2, 3);
    expect([inverter.value('ems-mode'), inverter.value('forced-command'), inverter.value('forced-power')]).toEqual([2, 0xaa, 2000]);
    const charging = await gateway.battery!.read();
    expect(charging.ok && charging.value.powerKw).toBeCloseTo(-2, 3);
    await gateway.battery!.setPowerSetpoint(3.5, 60_000);
    expect(sim.plant.batteryPowerKw()).toBeCloseTo(3.5, 3);
    expect(inverter.value('forced-command')).toBe(0xbb);
  });

  it('a power its register cannot hold is refused before anything is written', async () => {
    const { sim, gateway } = await simAndGateway(sdm630SungrowBoard);
    const inverter = sim.faults.registerMap['inverter']!;
    await gateway.battery!.setPowerSetpoint(2, 60_000);
    await expect(gateway.battery!.setPowerSetpoint(-70, 60_000)).rejects.toMatchObject({ kind: 'garbage', message: 'inverter: cannot write 70000 W to forced-power: point forced-power: 70000 does not fit a u16' });
    // Not half-written: the direction was not turned to charging at the old power.
    expect([inverter.value('ems-mode'), inverter.value('forced-command'), inverter.value('forced-power')]).toEqual([2, 0xbb, 2000]);
    expect(sim.plant.batteryPowerKw()).toBeCloseTo(2, 3);
  });

  it('without a watchdog on the device, the gateway reverts forced mode when the setpoint is not refreshed, and not before', async () => {
    const { sim, gateway, clock } = await simAndGateway(sdm630SungrowBoard);
    const inverter = sim.faults.registerMap['inverter']!;
    await gateway.battery!.setPowerSetpoint(2, 60_000);
    await clock.sleep(40_000);
    await gateway.battery!.setPowerSetpoint(2, 60_000); // refreshed (past half the revert time)
    await clock.sleep(40_000);
    expect(inverter.value('ems-mode')).toBe(2);
    expect(sim.plant.batteryPowerKw()).toBeCloseTo(2, 3);
    await clock.sleep(30_000); // 70 s after the last refresh
    expect(inverter.value('ems-mode')).toBe(0);
    expect(sim.plant.batteryPowerKw()).toBe(0);
  });

  it('gives control back to the inverter when the gateway closes', async () => {
    const { sim, gateway } = await simAndGateway(sdm630SungrowBoard);
    await gateway.battery!.setPowerSetpoint(2, 600_000);
    expect(sim.faults.registerMap['inverter']!.value('ems-mode')).toBe(2);
    await gateway.close();
    expect(sim.faults.registerMap['inverter']!.value('ems-mode')).toBe(0);
    expect(sim.plant.batteryPowerKw()).toBe(0);
  });

  it('an inverter that acknowledges the power but keeps another: switched off and reported', async () => {
    const { sim, gateway } = await simAndGateway(sdm630SungrowBoard);
    sim.faults.registerMap['inverter']!.ignoreWrites('forced-power');
    await expect(gateway.battery!.setPowerSetpoint(2, 60_000)).rejects.toMatchObject({
      kind: 'mismatch',
      device: 'inverter',
      message: 'inverter: register map sungrow-sh-rt: the setpoint did not read back (forced-power wrote 2000 read 0); the setpoint was switched off (ems-mode 0, forced-command 204)',
    });
    expect(sim.faults.registerMap['inverter']!.value('ems-mode')).toBe(0);
    expect(sim.plant.batterySetpointKw()).toBe(0);
  });
});

/** A board with one battery inverter whose map has a watchdog register. */
function watchdogBoard(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'board-')), 'watchdog.yaml');
  writeFileSync(file, `name: watchdog
buses:
  lan:
    type: modbus-tcp
    host: 127.0.0.1
    port: \${modbusTcpPort}
    timeoutMs: 1000
devices:
  battery: { kind: register-map, map: ${watchdogMap}, bus: lan, unitId: 3, capacityKwh: 10 }
`);
  return file;
}

describe('a battery whose map has a watchdog register', () => {
  it('writes the timeout first; the device itself falls back when the gateway stops refreshing', async () => {
    const { sim, gateway, clock } = await simAndGateway(watchdogBoard());
    const device = sim.faults.registerMap['battery']!;
    await gateway.battery!.setPowerSetpoint(1.5, 60_000);
    expect([device.value('timeout'), device.value('mode'), device.value('setpoint')]).toEqual([60, 1, 1500]);
    expect(sim.plant.batteryPowerKw()).toBeCloseTo(1.5, 3);
    await clock.sleep(65_000);
    expect(device.value('mode')).toBe(0);
    expect(sim.plant.batteryPowerKw()).toBe(0);
  });

  it('a device that does not keep its timeout: the setpoint in force is switched off and the failure reported', async () => {
    const { sim, gateway } = await simAndGateway(watchdogBoard());
    const device = sim.faults.registerMap['battery']!;
    await gateway.battery!.setPowerSetpoint(1.5, 60_000);
    expect(sim.plant.batteryPowerKw()).toBeCloseTo(1.5, 3);
    device.ignoreWrites('timeout');
    // A new revert time the device acknowledges and does not keep (it still holds 60 s).
    await expect(gateway.battery!.setPowerSetpoint(1.5, 120_000)).rejects.toMatchObject({
      kind: 'mismatch',
      message: 'battery: register map test-watchdog-battery: the device did not keep its timeout (timeout wrote 120 read 60); the setpoint was switched off (mode 0)',
    });
    expect(device.value('mode')).toBe(0);
    expect(sim.plant.batteryPowerKw()).toBe(0);
  });
});
