import { afterEach, describe, expect, it } from 'vitest';
import { createModbusRtuBus } from '../../../drivers/modbus/rtu.ts';
import { startModbusRtuSlave } from '../../../sim/modbus/rtu-slave.ts';
import { ModbusFaults } from '../../../sim/modbus/faults.ts';
import { openPtyPair } from '../../../sim/serial/pty.ts';
import type { DeviceError } from '../../../src/devices/errors.ts';
import { MemorySpace } from '../../fixtures/memory-space.ts';
import { afterBackoff, failure } from '../../fixtures/bus-failures.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const BAUD = 115200;

async function setup(timeoutMs = 1_000) {
  const units = new Map([
    [1, new MemorySpace()],
    [2, new MemorySpace(100, 2000)],
  ]);
  const faults = new ModbusFaults(7);
  const pty = await openPtyPair('modbus-rtu-test');
  cleanups.push(() => pty.close());
  const slave = await startModbusRtuSlave({ path: pty.simPath, baudRate: BAUD, units, faults });
  cleanups.push(() => slave.close());
  const bus = createModbusRtuBus({ path: pty.devicePath, baudRate: BAUD, timeoutMs, backoff: { initialMs: 20, maxMs: 100, factor: 2 } });
  cleanups.push(() => bus.close());
  return { units, faults, pty, slave, bus };
}

describe('Modbus RTU bus over a pty against the simulated slave', () => {
  it('reads and writes holding registers and coils', async () => {
    const { bus, units } = await setup();
    expect(Array.from(await bus.readHoldingRegisters(1, 0, 3))).toEqual([1000, 1001, 1002]);
    const block = await bus.readHoldingRegisters(1, 100, 125);
    expect(block.length).toBe(125);
    expect(block[124]).toBe(1224);
    await bus.writeRegisters(2, 5, [42, 43, 44]);
    expect(Array.from(units.get(2)!.holding.subarray(5, 8))).toEqual([42, 43, 44]);
    expect(await bus.readCoils(1, 0, 4)).toEqual([true, false, false, true]);
    await bus.writeCoil(1, 2, true);
    expect(await bus.readCoils(1, 0, 4)).toEqual([true, false, true, true]);
  });

  it('reports a Modbus exception with its code', async () => {
    const { bus, faults } = await setup();
    faults.set(1, { exceptionCode: 6 });
    const e = await failure(bus.readHoldingRegisters(1, 0, 1));
    expect([e.kind, e.detail.code]).toEqual(['exception', 6]);
    expect((await failure(bus.readHoldingRegisters(2, 99, 5))).detail.code).toBe(2);
  });

  it('reports a corrupted CRC and resynchronises: the next request succeeds', async () => {
    const { bus, faults } = await setup();
    faults.set(1, { crcError: true });
    expect((await failure(bus.readHoldingRegisters(1, 0, 8))).kind).toBe('crc');
    faults.clear(1);
    await afterBackoff(bus, 1);
    expect(Array.from(await bus.readHoldingRegisters(1, 0, 2))).toEqual([1000, 1001]);
  });

  it('survives line noise before and inside frames: right data or a crc/garbage error, then clean answers once the line is quiet', async () => {
    const { bus, faults } = await setup();
    faults.set(1, { lineNoise: true });
    const outcomes = new Set<string>();
    for (let i = 0; i < 20; i++) {
      await afterBackoff(bus, 1);
      const r = await bus.readHoldingRegisters(1, i, 2).then(
        (v) => {
          expect(Array.from(v)).toEqual([1000 + i, 1001 + i]);
          return 'ok';
        },
        (e: DeviceError) => e.kind,
      );
      outcomes.add(r);
    }
    expect([...outcomes].every((o) => ['ok', 'crc', 'garbage'].includes(o))).toBe(true);
    expect(outcomes.has('crc') || outcomes.has('garbage')).toBe(true);
    faults.clear(1);
    await afterBackoff(bus, 1);
    for (let i = 0; i < 3; i++) expect(Array.from(await bus.readHoldingRegisters(1, 10, 1))).toEqual([1010]);
  });

  it('reads answers a USB–RS485 adapter delivers in 16-byte pieces 16 ms apart, every one of them', async () => {
    const { bus, faults } = await setup();
    faults.set(1, { chunked: { bytes: 16, gapMs: 16 } });
    const failures: string[] = [];
    for (let i = 0; i < 30; i++) {
      const count = 8 + ((i * 13) % 118); // answers of 21..255 bytes: 2..16 pieces
      await bus.readHoldingRegisters(1, i, count).then(
        (v) => expect(v[count - 1]).toBe(1000 + i + count - 1),
        (e: DeviceError) => failures.push(`${count} registers: ${e.kind}`),
      );
    }
    expect(failures).toEqual([]);
    expect(bus.health(1).errorCounts).toEqual({});
  });

  it('reports well-framed nonsense as garbage without waiting for the deadline', async () => {
    const { bus, faults } = await setup(5_000);
    faults.set(2, { garbage: true });
    const started = Date.now();
    expect((await failure(bus.readHoldingRegisters(2, 0, 3))).kind).toBe('garbage');
    expect(Date.now() - started).toBeLessThan(4_000);
    faults.clear(2);
    await afterBackoff(bus, 2);
    expect(Array.from(await bus.readHoldingRegisters(2, 0, 3))).toEqual([2000, 2001, 2002]);
  });

  it('keeps answering the other unit on the line while one unit is silent', async () => {
    const { bus, faults } = await setup(500);
    faults.set(1, { silent: true });
    const settled: string[] = [];
    const silent = bus.readHoldingRegisters(1, 0, 1).finally(() => settled.push('silent unit'));
    const others = Promise.all([bus.readHoldingRegisters(2, 0, 1), bus.readHoldingRegisters(2, 1, 1)]).finally(() => settled.push('other unit'));
    expect((await others).map((v) => v[0])).toEqual([2000, 2001]);
    expect((await failure(silent)).kind).toBe('timeout');
    // The silent unit's retry waits behind the other unit's requests: they pay one timeout, not two.
    expect(settled).toEqual(['other unit', 'silent unit']);
    expect((await failure(bus.readHoldingRegisters(1, 0, 1))).kind).toBe('backoff');
    expect(Array.from(await bus.readHoldingRegisters(2, 2, 1))).toEqual([2002]);
    expect(bus.health(2).consecutiveFailures).toBe(0);
    expect(bus.health(1).errorCounts.timeout).toBe(1);
  });

  it('gets no answer for a unit id nobody serves, as on a real bus', async () => {
    const { bus } = await setup(100);
    expect((await failure(bus.readHoldingRegisters(17, 0, 1))).kind).toBe('timeout');
  });

  it('reports a vanished serial line as disconnected without crashing', async () => {
    const { bus, pty } = await setup(500);
    expect(Array.from(await bus.readHoldingRegisters(1, 0, 1))).toEqual([1000]);
    await pty.close();
    const e = await failure(bus.readHoldingRegisters(1, 0, 1));
    expect(['disconnected', 'timeout']).toContain(e.kind);
    await afterBackoff(bus, 1);
    expect((await failure(bus.readHoldingRegisters(1, 0, 1))).kind).toBe('disconnected');
  });
});
