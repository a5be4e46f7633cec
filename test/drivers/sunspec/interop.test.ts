/**
 * SunSpec interop with independent Modbus implementations: Debian's mbpoll reads the
 * simulator's map, our driver reads a map served by pymodbus, and the driver works over
 * Modbus RTU on a real pseudo-terminal.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createModbusRtuBus } from '../../../drivers/modbus/rtu.ts';
import { createModbusTcpBus } from '../../../drivers/modbus/tcp.ts';
import type { ModbusBus } from '../../../drivers/modbus/bus.ts';
import { discoverSunSpec, SUNS_MARKER, END_MODEL_ID } from '../../../drivers/sunspec/discovery.ts';
import { SunSpecGridMeter } from '../../../drivers/sunspec/grid-meter.ts';
import { SunSpecPvInverter } from '../../../drivers/sunspec/pv-inverter.ts';
import { layoutModel, ModelBlock } from '../../../drivers/sunspec/model-block.ts';
import { requireModelDefinition } from '../../../drivers/sunspec/models.ts';
import { startModbusRtuSlave } from '../../../sim/modbus/rtu-slave.ts';
import { startModbusTcpServer } from '../../../sim/modbus/tcp-server.ts';
import { openPtyPair } from '../../../sim/serial/pty.ts';
import { simMeter } from '../../../sim/sunspec/meter.ts';
import { ManualClock } from '../../../src/time/clock.ts';
import { TestPlant } from '../../fixtures/test-plant.ts';
import { startPythonServer } from '../python-server.ts';

const run = promisify(execFile);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function mbpoll(port: number, address: number, count: number, type = '4'): Promise<string[]> {
  const { stdout } = await run('/usr/bin/mbpoll', ['-m', 'tcp', '-p', String(port), '-a', '1', '-0', '-r', String(address), '-c', String(count), '-t', type, '-1', '127.0.0.1'], { timeout: 20_000 });
  return [...stdout.matchAll(/^\[(\d+)\]:\s+(\S+)/gm)].map((m) => m[2]!);
}

describe('mbpoll (Debian) reads the simulated SunSpec meter over Modbus TCP', () => {
  it('sees "SunS", the model ids and the scaled net power at the published addresses', async () => {
    const plant = new TestPlant();
    plant.netImportKw = -1.5;
    const server = await startModbusTcpServer({ port: 0, units: new Map([[1, simMeter(plant)]]) });
    cleanups.push(() => server.close());

    expect(await mbpoll(server.port, 40000, 2, '4:hex')).toEqual(['0x5375', '0x6E53']);
    // Common model (id 1, L 66) at 40002, so the meter model starts at 40002 + 68 = 40070.
    expect(await mbpoll(server.port, 40002, 2)).toEqual(['1', '66']);
    expect(await mbpoll(server.port, 40070, 2)).toEqual(['203', '105']);
    // Model 203: W is the 19th register (offset 18), W_SF four further on.
    const [w] = await mbpoll(server.port, 40070 + 18, 1);
    const [sf] = await mbpoll(server.port, 40070 + 22, 1);
    const signed = (s: string): number => (Number(s) << 16) >> 16;
    expect(signed(w!) * 10 ** signed(sf!)).toBe(-1500);
  });
});

/** A register image built straight from the JSON: "SunS", common, inverter 101, meter 201, end. */
function sunspecImage(): number[] {
  const block = (id: number, fill: (b: ModelBlock) => void): number[] => {
    const layout = layoutModel(requireModelDefinition(id), () => 1);
    const b = new ModelBlock(layout, new Uint16Array(layout.totalRegisters), 'image');
    for (const p of layout.points) if (p.def.type !== 'raw16') b.setRaw(p.path, undefined);
    b.setRaw('ID', id);
    b.setRaw('L', layout.totalRegisters - 2);
    fill(b);
    return Array.from(b.regs);
  };
  return [
    ...SUNS_MARKER,
    ...block(1, (b) => {
      b.setRaw('Mn', 'pymodbus');
      b.setRaw('Md', 'interop');
      b.setRaw('SN', 'PY0001');
    }),
    ...block(101, (b) => {
      b.setRaw('W_SF', -1);
      b.setRaw('W', 25017);
      b.setRaw('WH_SF', 2);
      b.setRaw('WH', 123456);
      b.setSymbol('St', 'MPPT');
    }),
    ...block(201, (b) => {
      b.setRaw('W_SF', 1);
      b.setRaw('W', -73);
      b.setRaw('TotWh_SF', 0);
      b.setRaw('TotWhImp', 42);
      b.setRaw('TotWhExp', 4242);
    }),
    END_MODEL_ID,
    0,
  ];
}

async function pymodbusServer(base: number, registers: number[]): Promise<number> {
  return startPythonServer(new URL('./serve_registers.py', import.meta.url), { base, registers }, cleanups);
}

describe('our SunSpec driver against a pymodbus server', () => {
  it('discovers the map at base 0 (after 40000 and 50000 answer exceptions) and decodes inverter and meter', async () => {
    const port = await pymodbusServer(0, sunspecImage());
    const clock = new ManualClock(0);
    const bus = createModbusTcpBus({ host: '127.0.0.1', port, timeoutMs: 3_000, clock });
    cleanups.push(() => bus.close());

    const map = await discoverSunSpec(bus, 1, 'pymodbus');
    expect(map).toEqual({ baseAddress: 0, models: [{ id: 1, address: 2, length: 66 }, { id: 101, address: 70, length: 50 }, { id: 201, address: 122, length: 105 }] });

    const pv = await new SunSpecPvInverter({ id: 'pv', bus, unitId: 1, clock, ratedPowerKw: 3 }).read();
    expect(pv.ok && pv.value).toEqual({ acPowerKw: 2.5017, energyKwh: 12345.6, state: 'producing' });
    const meter = await new SunSpecGridMeter({ id: 'meter', bus, unitId: 1, clock }).read();
    expect(meter.ok && meter.value).toEqual({ netImportKw: -0.73, importedEnergyKwh: 0.042, exportedEnergyKwh: 4.242 });
  });
});

describe('SunSpec over Modbus RTU on a pseudo-terminal', () => {
  it('discovers the meter and reads it through a real serial port', async () => {
    const pty = await openPtyPair('sunspec');
    cleanups.push(() => pty.close());
    const plant = new TestPlant();
    const slave = await startModbusRtuSlave({ path: pty.simPath, baudRate: 19200, units: new Map([[7, simMeter(plant, { baseAddress: 50000 })]]) });
    cleanups.push(() => slave.close());
    const clock = new ManualClock(0);
    const bus: ModbusBus = createModbusRtuBus({ path: pty.devicePath, baudRate: 19200, timeoutMs: 2_000, clock });
    cleanups.push(() => bus.close());

    const map = await discoverSunSpec(bus, 7, 'meter');
    expect(map.baseAddress).toBe(50000);
    expect(map.models.map((m) => m.id)).toEqual([1, 203]);
    const r = await new SunSpecGridMeter({ id: 'meter', bus, unitId: 7, clock }).read();
    expect(r.ok && r.value).toEqual({ netImportKw: -1.5, importedEnergyKwh: 2000, exportedEnergyKwh: 3000 });
  });
});
