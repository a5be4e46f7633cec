/**
 * The register-map codec against independent Modbus implementations: our driver reads an
 * SDM630 and a Sungrow SH-RT whose registers pymodbus serves and Python's struct encodes, and
 * Debian's mbpoll reads the simulated SDM630 and Sungrow served from the same map files.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createModbusTcpBus } from '../../../drivers/modbus/tcp.ts';
import { loadRegisterMap, registerMapFile } from '../../../drivers/register-map/map.ts';
import { RegisterMapMeter } from '../../../drivers/register-map/meter.ts';
import { RegisterMapPvInverter } from '../../../drivers/register-map/pv-inverter.ts';
import { RegisterMapBattery } from '../../../drivers/register-map/battery.ts';
import { SimRegisterMapDevice } from '../../../sim/register-map/device.ts';
import { startModbusTcpServer } from '../../../sim/modbus/tcp-server.ts';
import { ManualClock } from '../../../src/time/clock.ts';
import { TestPlant } from '../../fixtures/test-plant.ts';
import { startPythonServer } from '../python-server.ts';

const run = promisify(execFile);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const sdm630 = loadRegisterMap(registerMapFile('eastron-sdm630', import.meta.filename));
const sungrow = loadRegisterMap(registerMapFile('sungrow-sh-rt', import.meta.filename));

interface ServedPoint {
  table: 'input' | 'holding';
  address: number;
  type: 'u16' | 's16' | 'u32' | 's32' | 'f32';
  wordOrder?: 'high-first' | 'low-first';
  raw: number;
}

async function pymodbusServer(points: ServedPoint[]): Promise<number> {
  return startPythonServer(new URL('./serve_points.py', import.meta.url), { points }, cleanups);
}

function busTo(port: number, clock: ManualClock) {
  const bus = createModbusTcpBus({ host: '127.0.0.1', port, timeoutMs: 3_000, clock });
  cleanups.push(() => bus.close());
  return bus;
}

describe('our register-map driver against pymodbus', () => {
  it('reads an SDM630: float32 input registers, high word first, at the addresses of the Eastron table', async () => {
    // 30053 total system power (−1234.5 W: exporting), 30073 / 30075 import / export kWh.
    const port = await pymodbusServer([
      { table: 'input', address: 52, type: 'f32', raw: -1234.5 },
      { table: 'input', address: 72, type: 'f32', raw: 15321.25 },
      { table: 'input', address: 74, type: 'f32', raw: 4711.5 },
    ]);
    const clock = new ManualClock(0);
    const meter = new RegisterMapMeter({ id: 'sdm630', bus: busTo(port, clock), unitId: 1, clock, map: sdm630 });
    const reading = await meter.read();
    expect(reading.ok && reading.value).toEqual({ netImportKw: -1.2345, importedEnergyKwh: 15321.25, exportedEnergyKwh: 4711.5 });
  });

  it('reads a Sungrow SH-RT: u32 low word first, 0.1 scales, battery direction from the running-state bit', async () => {
    const port = await pymodbusServer([
      { table: 'input', address: 5016, type: 'u32', wordOrder: 'low-first', raw: 71_234 }, // 71.234 kW: past 16 bits, so the word order matters
      { table: 'input', address: 13000, type: 'u16', raw: 0b10 }, // bit 1: charging
      { table: 'input', address: 13002, type: 'u32', wordOrder: 'low-first', raw: 123_456 }, // 12 345.6 kWh
      { table: 'input', address: 13021, type: 'u16', raw: 2_500 },
      { table: 'input', address: 13022, type: 'u16', raw: 873 }, // 87.3 %
      { table: 'holding', address: 13049, type: 'u16', raw: 0 },
      { table: 'holding', address: 13050, type: 'u16', raw: 0xcc },
      { table: 'holding', address: 13051, type: 'u16', raw: 0 },
    ]);
    const clock = new ManualClock(0);
    const bus = busTo(port, clock);
    const pv = await new RegisterMapPvInverter({ id: 'sh10rt', bus, unitId: 1, clock, map: sungrow, ratedPowerKw: 100 }).read();
    expect(pv.ok && pv.value).toEqual({ acPowerKw: 71.234, energyKwh: 12345.6, state: 'producing' });
    const battery = await new RegisterMapBattery({ id: 'sh10rt', bus, unitId: 1, clock, map: sungrow, capacityKwh: 9.6, ratedPowerKw: 10 }).read();
    expect(battery.ok).toBe(true);
    if (!battery.ok) return;
    expect(battery.value.powerKw).toBe(-2.5);
    expect(battery.value.socFraction).toBeCloseTo(0.873, 9);
    expect(battery.value.maxChargeKw).toBe(10);
  });
});

async function mbpoll(port: number, args: string[]): Promise<string[]> {
  const { stdout } = await run('/usr/bin/mbpoll', ['-m', 'tcp', '-p', String(port), '-a', '1', '-0', '-1', ...args, '127.0.0.1'], { timeout: 20_000 });
  return [...stdout.matchAll(/^\[(\d+)\]:\s+(\S+)/gm)].map((m) => m[2]!);
}

describe('mbpoll (Debian) reads the devices the simulator serves from the map files', () => {
  it('the simulated SDM630: float32 big-endian input registers at 52, 72 and 74', async () => {
    const plant = new TestPlant();
    plant.netImportKw = -3.125;
    const server = await startModbusTcpServer({ port: 0, units: new Map([[1, new SimRegisterMapDevice({ map: sdm630, clock: new ManualClock(0), plant })]]) });
    cleanups.push(() => server.close());
    // -t 3:float = input registers as float; -B = high word first.
    expect(await mbpoll(server.port, ['-t', '3:float', '-B', '-r', '52', '-c', '1'])).toEqual(['-3125']);
    plant.importedKwh = 2000.5;
    plant.exportedKwh = 3000.25;
    expect(await mbpoll(server.port, ['-t', '3:float', '-B', '-r', '72', '-c', '2'])).toEqual(['2000.5', '3000.25']);
  });

  it('the simulated Sungrow: battery level and charging power as the manual lays them out, forced mode written by mbpoll', async () => {
    const plant = new TestPlant();
    plant.batteryKw = -1.8;
    plant.socFraction = 0.421;
    const device = new SimRegisterMapDevice({ map: sungrow, clock: new ManualClock(0), plant });
    const server = await startModbusTcpServer({ port: 0, units: new Map([[1, device]]) });
    cleanups.push(() => server.close());
    expect(await mbpoll(server.port, ['-t', '3', '-r', '13021', '-c', '2'])).toEqual(['1800', '421']);
    expect(Number(await mbpoll(server.port, ['-t', '3', '-r', '13000', '-c', '1']).then((v) => v[0])) & 0b10).toBe(0b10);
    // Forced discharge at 3 kW, written by another Modbus master: the plant is commanded.
    await run('/usr/bin/mbpoll', ['-m', 'tcp', '-p', String(server.port), '-a', '1', '-0', '-1', '-t', '4', '-r', '13050', '127.0.0.1', String(0xbb), '3000'], { timeout: 20_000 });
    await run('/usr/bin/mbpoll', ['-m', 'tcp', '-p', String(server.port), '-a', '1', '-0', '-1', '-t', '4', '-r', '13049', '127.0.0.1', '2'], { timeout: 20_000 });
    expect(plant.batterySetpoint).toBe(3);
  });
});
