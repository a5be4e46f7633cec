import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScaledClock } from '../../src/time/clock.ts';
import { loadBoardProfile } from '../../src/config/board.ts';
import { assembleGateway, type Gateway } from '../../src/gateway/assemble.ts';
import { formatDiscoveryReport } from '../../src/gateway/report.ts';
import { simBoardFile, startSimulator, type Simulator } from '../../sim/simulator.ts';

const started: { sim: Simulator; gateway?: Gateway }[] = [];

async function simAndGateway(prepare: (sim: Simulator) => void = () => undefined) {
  const clock = new ScaledClock(Date.parse('2016-06-22T11:00:00Z'), 60);
  const sim = await startSimulator({ clock });
  const entry: { sim: Simulator; gateway?: Gateway } = { sim };
  started.push(entry);
  prepare(sim);
  entry.gateway = await assembleGateway(loadBoardProfile(simBoardFile, sim.vars), { clock });
  return { sim, gateway: entry.gateway, clock };
}

afterEach(async () => {
  for (const { sim, gateway } of started.splice(0)) {
    await gateway?.close();
    await sim.close();
  }
});

describe('the gateway assembled from the sim board profile', () => {
  it('finds every device and offers them as typed capabilities', async () => {
    const { sim, gateway } = await simAndGateway();
    expect(gateway.report.map((r) => [r.id, r.found])).toEqual([
      ['pv-inverter', true], ['meter', true], ['battery', true], ['bms', true],
      ['dishwasher', true], ['washing-machine', true], ['heat-pump-boost', true], ['ev-charger', true],
    ]);
    expect(formatDiscoveryReport(gateway.report)).toMatch(/8 of 8 found/);
    expect(gateway.relays.map((r) => r.id)).toEqual(['dishwasher', 'washing-machine', 'heat-pump-boost', 'ev-charger']);
    expect(gateway.battery?.capacityKwh).toBe(sim.plant.batteryCapacityKwh());

    const meter = await gateway.meter!.read();
    const pv = await gateway.pv!.read();
    const plantImportKw = sim.plant.meterNetImportKw();
    expect(meter.ok && pv.ok).toBe(true);
    if (!meter.ok || !pv.ok) return;
    // Noon in June: PV exports; both readings match the plant (the hour's profile is constant).
    expect(pv.value.acPowerKw).toBeCloseTo(sim.plant.pvAcPowerKw(), 1);
    expect(meter.value.netImportKw).toBeCloseTo(plantImportKw, 1);
  });

  it('combines the storage inverter and the BMS: SoC and live limits from the BMS, the setpoint reaches the plant', async () => {
    const { sim, gateway } = await simAndGateway();
    const battery = gateway.battery!;
    const reading = await battery.read();
    expect(reading.ok).toBe(true);
    if (!reading.ok) return;
    expect(reading.value.socFraction).toBeCloseTo(sim.plant.batterySocFraction(), 2);
    expect(reading.value.maxChargeKw).toBeCloseTo(sim.plant.batteryMaxChargeKw(), 1);
    await battery.setPowerSetpoint(-2, 60_000);
    expect(sim.plant.batteryPowerKw()).toBeCloseTo(-2, 1);
    // A request beyond what the BMS grants is clipped before it reaches the inverter.
    await battery.setPowerSetpoint(40, 60_000);
    expect(sim.plant.batterySetpointKw()).toBeLessThanOrEqual(sim.plant.batteryMaxDischargeKw() + 0.05);
    expect(sim.plant.batteryPowerKw()).toBeGreaterThan(4);
  });

  it('reports devices that do not answer at start-up and still brings up the rest', async () => {
    const { gateway } = await simAndGateway((sim) => {
      sim.faults.modbus.lan!.set(2, { silent: true });
      sim.faults.bms.bms!.setFault('silent');
    });
    const byId = (id: string) => gateway.report.find((r) => r.id === id)!;
    expect(byId('meter').found).toBe(false);
    expect(byId('meter').detail).toMatch(/no answer/);
    expect(gateway.meter).toBeUndefined();
    expect(gateway.pv).toBeDefined();
    expect(gateway.relays).toHaveLength(4);
    expect(formatDiscoveryReport(gateway.report)).toMatch(/6 of 8 found/);
    // The pack is there even if its BMS is silent: the battery exists but reads unavailable.
    expect(byId('bms').found).toBe(false);
    expect(byId('bms').detail).toMatch(/reads unavailable until the BMS answers/);
    const reading = await gateway.battery!.read();
    expect(reading.ok).toBe(false);
    if (!reading.ok) expect(reading.error.device).toBe('bms');
  });

  it('makes the battery unavailable and stops it while its BMS is silent, and recovers when the BMS answers again', async () => {
    const { sim, gateway, clock } = await simAndGateway();
    const battery = gateway.battery!;
    await battery.setPowerSetpoint(2, 600_000);
    expect(sim.plant.batteryPowerKw()).toBeCloseTo(2, 1);
    sim.faults.bms.bms!.setFault('silent');
    const silent = await battery.read();
    expect(silent.ok).toBe(false);
    if (!silent.ok) expect(silent.error.device).toBe('bms');
    await expect(battery.setPowerSetpoint(2.5, 600_000)).rejects.toMatchObject({ device: 'bms' });
    expect(sim.plant.batteryPowerKw()).toBe(0);
    sim.faults.bms.bms!.setFault('none');
    await clock.sleep(120_000); // past the driver's back-off
    const back = await battery.read();
    expect(back.ok).toBe(true);
    await battery.setPowerSetpoint(2.5, 600_000);
    expect(sim.plant.batteryPowerKw()).toBeCloseTo(2.5, 1);
  });
});

/** The sim board with one edit to its text, simulated and assembled. */
async function editedBoard(name: string, edit: (text: string) => string) {
  const boardFile = join(mkdtempSync(join(tmpdir(), 'board-')), `${name}.yaml`);
  writeFileSync(boardFile, edit(readFileSync(simBoardFile, 'utf8')));
  const clock = new ScaledClock(Date.parse('2016-06-22T11:00:00Z'), 60);
  const sim = await startSimulator({ clock, boardFile });
  started.push({ sim });
  const gateway = await assembleGateway(loadBoardProfile(boardFile, sim.vars), { clock });
  started.at(-1)!.gateway = gateway;
  return { sim, gateway };
}

describe('the gateway on a board whose meter needs correcting', () => {
  it('a meter that counts export as positive (exportPositive) reaches the fast loop as import-positive power', async () => {
    const { sim, gateway } = await editedBoard('reversed-meter', (t) => t.replace(/(meter:\n    kind: meter\n    bus: lan\n    unitId: 2)/, '$1\n    exportPositive: true'));
    const plantImportKw = sim.plant.meterNetImportKw();
    // Noon in June: the house exports, and this meter shows that as a positive W.
    expect(plantImportKw).toBeLessThan(-0.5);
    expect(sim.faults.sunspec['meter']!.block(203).value('W')).toBeGreaterThan(0);
    const reading = await gateway.meter!.read();
    expect(reading.ok && reading.value.netImportKw).toBeCloseTo(plantImportKw, 1);
    // The counters are swapped back too: what the meter calls "imported" is the site's export.
    expect(reading.ok && reading.value.exportedEnergyKwh).toBeCloseTo(sim.plant.meterExportedEnergyKwh(), 0);
  });

  it('a meter reading beyond the board\'s maxPlausibleKw is a typed garbage error, not a power', async () => {
    const { sim, gateway } = await editedBoard('small-meter', (t) => t.replace(/(meter:\n    kind: meter\n    bus: lan\n    unitId: 2)/, '$1\n    maxPlausibleKw: 0.2'));
    expect(Math.abs(sim.plant.meterNetImportKw())).toBeGreaterThan(0.2);
    const meter = gateway.report.find((r) => r.id === 'meter')!;
    expect(meter.found).toBe(false);
    expect(meter.detail).toMatch(/meter: net import \(kW\) = -?[\d.]+ is outside ±0\.2/);
    expect(gateway.meter).toBeUndefined();
  });
});

describe('the gateway on a board with two PV inverters (east and west)', () => {
  const eastWest = (t: string) =>
    t.replace(
      /  pv-inverter:\n    kind: pv-inverter\n    bus: lan\n    unitId: 1\n    ratedPowerKw: 10[^\n]*\n/,
      '  pv-east:\n    kind: pv-inverter\n    bus: lan\n    unitId: 1\n    ratedPowerKw: 4\n  pv-west:\n    kind: pv-inverter\n    bus: lan\n    unitId: 4\n    ratedPowerKw: 6\n',
    );

  it('reads PV as the sum of both inverters and rates it as the sum of their ratings', async () => {
    const { sim, gateway } = await editedBoard('east-west', eastWest);
    expect(gateway.report.filter((r) => r.kind === 'pv-inverter').map((r) => [r.id, r.found])).toEqual([['pv-east', true], ['pv-west', true]]);
    const pv = gateway.pv!;
    expect(pv.id).toBe('pv-east+pv-west');
    expect(pv.ratedPowerKw).toBe(10);
    const reading = await pv.read();
    expect(reading.ok).toBe(true);
    if (!reading.ok) return;
    // Noon in June: both roofs produce, each its share of the plant's PV by rating.
    expect(reading.value.acPowerKw).toBeGreaterThan(1);
    expect(reading.value.acPowerKw).toBeCloseTo(sim.plant.pvAcPowerKw(), 1);
    const east = sim.faults.sunspec['pv-east']!.block(103).value('W')! / 1000;
    const west = sim.faults.sunspec['pv-west']!.block(103).value('W')! / 1000;
    expect(west / east).toBeCloseTo(6 / 4, 1);
    expect(reading.value.state).toBe('producing');
  });

  it('limits both inverters to the same fraction, so the total follows the limit of the sum', async () => {
    const { sim, gateway } = await editedBoard('east-west-limit', eastWest);
    await gateway.pv!.setActivePowerLimit(0.1, 60_000);
    for (const id of ['pv-east', 'pv-west']) expect(sim.faults.sunspec[id]!.block(123).value('WMaxLimPct')).toBe(10);
    const reading = await gateway.pv!.read();
    expect(reading.ok && reading.value.activePowerLimitFraction).toBeCloseTo(0.1, 9);
    expect(reading.ok && reading.value.acPowerKw).toBeCloseTo(1, 1); // 10 % of 10 kW
    expect(sim.plant.pvAcPowerKw()).toBeCloseTo(1, 1);
  });

  it('reads as unavailable, with the silent inverter named, while one of them does not answer', async () => {
    const { sim, gateway } = await editedBoard('east-west-silent', eastWest);
    sim.faults.modbus['lan']!.set(4, { silent: true });
    const reading = await gateway.pv!.read();
    expect(reading.ok).toBe(false);
    if (!reading.ok) expect(reading.error.device).toBe('pv-west');
  });
});

describe('the gateway on a board with a SunSpec device on the RS-485 line', () => {
  it('discovers a meter over Modbus RTU on a pseudo-terminal just as over TCP', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'board-'));
    const boardFile = join(dir, 'rtu-meter.yaml');
    // The same wiring, but the meter moved from the LAN to unit 2 of the RS-485 line.
    writeFileSync(boardFile, readFileSync(simBoardFile, 'utf8').replace(/meter:\n    kind: meter\n    bus: lan/, 'meter:\n    kind: meter\n    bus: rs485'));
    const clock = new ScaledClock(Date.parse('2016-06-22T11:00:00Z'), 60);
    const sim = await startSimulator({ clock, boardFile });
    started.push({ sim });
    const gateway = await assembleGateway(loadBoardProfile(boardFile, sim.vars), { clock });
    started.at(-1)!.gateway = gateway;
    const meter = gateway.report.find((r) => r.id === 'meter')!;
    expect(meter.endpoint).toMatch(/^rtu:/);
    expect(meter.found).toBe(true);
    expect(meter.detail).toMatch(/SunSpec models 1, 203/);
    const reading = await gateway.meter!.read();
    expect(reading.ok && reading.value.netImportKw).toBeCloseTo(sim.plant.meterNetImportKw(), 1);
  });
});
