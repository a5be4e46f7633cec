/**
 * Modbus transport benchmark.
 * (a) RTU: one full read of inverter (SunSpec model 103), meter (203) and battery (124 + 802)
 *     blocks through the RTU bus and the simulated slave on a pty, at 9600, 19200 and 115200
 *     baud, against the wire-time limit (request + response bytes × 10 bits / baud plus a
 *     3.5-character silence after every frame); goal ≤ 1.3× the limit.
 * (b) TCP: median and p99 latency of one model-103 read on loopback.
 * Block lengths come from the SunSpec model JSON (L + 2 header registers), laid out by the
 * drivers' own code, split into reads of at most 125 registers as a driver does.
 */
import { performance } from 'node:perf_hooks';
import { report, type BenchOptions } from './report.ts';
import { createModbusRtuBus } from '../../drivers/modbus/rtu.ts';
import { createModbusTcpBus } from '../../drivers/modbus/tcp.ts';
import type { ModbusBus } from '../../drivers/modbus/bus.ts';
import { exchangeWireMs } from '../../drivers/modbus/wire-time.ts';
import { layoutModel } from '../../drivers/sunspec/model-block.ts';
import { requireModelDefinition } from '../../drivers/sunspec/models.ts';
import { startModbusRtuSlave } from '../../sim/modbus/rtu-slave.ts';
import { startModbusTcpServer } from '../../sim/modbus/tcp-server.ts';
import type { RegisterSpace } from '../../sim/modbus/register-space.ts';
import { openPtyPair } from '../../sim/serial/pty.ts';

const SUITE = 'modbus';
const MAX_READ_REGISTERS = 125;
const BAUD_RATES = [9600, 19200, 115200];
const RATIO_GOAL = 1.3;

/** Devices on the line: unit id and the SunSpec models a full read covers. */
const DEVICES = [
  { name: 'inverter', unitId: 1, models: [103] },
  { name: 'meter', unitId: 2, models: [203] },
  { name: 'battery', unitId: 3, models: [124, 802] },
];

/** A model block as the simulated devices lay it out (repeating groups once), header included. */
function modelBlockRegisters(modelId: number): number {
  return layoutModel(requireModelDefinition(modelId), () => 1).totalRegisters;
}

/** The reads a driver issues for one block: consecutive chunks of at most 125 registers. */
function chunks(registers: number): number[] {
  const out: number[] = [];
  for (let left = registers; left > 0; left -= MAX_READ_REGISTERS) out.push(Math.min(MAX_READ_REGISTERS, left));
  return out;
}

const zeroSpace: RegisterSpace = {
  readHolding: (_address, count) => new Uint16Array(count),
  writeHolding: () => undefined,
};

async function fullRead(bus: ModbusBus, reads: { unitId: number; count: number }[]): Promise<void> {
  for (const r of reads) await bus.readHoldingRegisters(r.unitId, 0, r.count);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

export async function runBench(options: BenchOptions): Promise<void> {
  const reads = DEVICES.flatMap((d) => d.models.flatMap((m) => chunks(modelBlockRegisters(m)).map((count) => ({ unitId: d.unitId, count }))));
  const units = new Map(DEVICES.map((d) => [d.unitId, zeroSpace]));

  for (const baudRate of BAUD_RATES) {
    const limitMs = reads.reduce((sum, r) => sum + exchangeWireMs(8, 5 + 2 * r.count, baudRate), 0);
    const repetitions = Math.max(1, Math.round((options.quick ? 1_000 : 8_000) / limitMs));
    const pty = await openPtyPair('bench-modbus');
    const slave = await startModbusRtuSlave({ path: pty.simPath, baudRate, units });
    const bus = createModbusRtuBus({ path: pty.devicePath, baudRate, timeoutMs: 2 * limitMs + 1_000 });
    try {
      await fullRead(bus, reads); // opens the port
      const timesMs: number[] = [];
      for (let i = 0; i < repetitions; i++) {
        const started = performance.now();
        await fullRead(bus, reads);
        timesMs.push(performance.now() - started);
      }
      const medianMs = percentile(timesMs.sort((a, b) => a - b), 0.5);
      const params = { baud: baudRate, reads: reads.length, registers: reads.reduce((s, r) => s + r.count, 0), repetitions };
      report(options, { suite: SUITE, metric: 'rtu full read / wire limit', value: medianMs / limitMs, unit: 'x', params, goal: { op: '<=', value: RATIO_GOAL } });
      report(options, { suite: SUITE, metric: 'rtu full read median', value: medianMs, unit: 'ms', params });
      report(options, { suite: SUITE, metric: 'rtu wire-time limit', value: limitMs, unit: 'ms', params });
    } finally {
      await bus.close();
      await slave.close();
      await pty.close();
    }
  }

  const model103 = modelBlockRegisters(103);
  const server = await startModbusTcpServer({ units });
  const bus = createModbusTcpBus({ host: '127.0.0.1', port: server.port });
  try {
    const repetitions = options.quick ? 500 : 5_000;
    for (let i = 0; i < 100; i++) await bus.readHoldingRegisters(1, 0, model103);
    const timesMs: number[] = [];
    for (let i = 0; i < repetitions; i++) {
      const started = performance.now();
      await bus.readHoldingRegisters(1, 0, model103);
      timesMs.push(performance.now() - started);
    }
    timesMs.sort((a, b) => a - b);
    const params = { model: 103, registers: model103, repetitions };
    report(options, { suite: SUITE, metric: 'tcp model read median', value: percentile(timesMs, 0.5), unit: 'ms', params });
    report(options, { suite: SUITE, metric: 'tcp model read p99', value: percentile(timesMs, 0.99), unit: 'ms', params });
  } finally {
    await bus.close();
    await server.close();
  }
}
