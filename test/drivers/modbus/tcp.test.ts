import { afterEach, describe, expect, it } from 'vitest';
import { createModbusTcpBus } from '../../../drivers/modbus/tcp.ts';
import { startModbusTcpServer } from '../../../sim/modbus/tcp-server.ts';
import { ModbusFaults } from '../../../sim/modbus/faults.ts';
import type { DeviceError } from '../../../src/devices/errors.ts';
import { ManualClock } from '../../../src/time/clock.ts';
import { MemorySpace } from '../../fixtures/memory-space.ts';
import { afterBackoff, failure } from '../../fixtures/bus-failures.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(options: { timeoutMs?: number; clock?: ManualClock; backoff?: { initialMs: number; maxMs: number; factor: number } } = {}) {
  const units = new Map([
    [1, new MemorySpace()],
    [2, new MemorySpace(100, 2000)],
  ]);
  const faults = new ModbusFaults();
  const server = await startModbusTcpServer({ units, faults });
  const bus = createModbusTcpBus({
    host: '127.0.0.1',
    port: server.port,
    timeoutMs: options.timeoutMs ?? 1_000,
    backoff: options.backoff ?? { initialMs: 20, maxMs: 100, factor: 2 },
    ...(options.clock ? { clock: options.clock } : {}),
  });
  cleanups.push(() => server.close(), () => bus.close());
  return { units, faults, server, bus };
}

describe('Modbus TCP bus against the simulated server', () => {
  it('reads and writes holding registers and coils', async () => {
    const { bus, units } = await setup();
    expect(Array.from(await bus.readHoldingRegisters(1, 10, 3))).toEqual([1010, 1011, 1012]);
    expect(Array.from(await bus.readHoldingRegisters(2, 0, 2))).toEqual([2000, 2001]);
    await bus.writeRegisters(1, 20, [7, 65535]);
    expect(Array.from(units.get(1)!.holding.subarray(20, 22))).toEqual([7, 65535]);
    expect(Array.from(await bus.readHoldingRegisters(1, 19, 4))).toEqual([1019, 7, 65535, 1022]);
    expect(await bus.readCoils(1, 0, 5)).toEqual([true, false, false, true, false]);
    await bus.writeCoil(1, 1, true);
    expect(units.get(1)!.coils[1]).toBe(true);
    expect(await bus.readCoils(1, 0, 2)).toEqual([true, true]);
    expect(bus.health(1)).toEqual({ consecutiveFailures: 0, errorCounts: {} });
  });

  it('rejects bad arguments with a RangeError before touching the wire', async () => {
    const { bus } = await setup();
    await expect(bus.readHoldingRegisters(1, 0, 126)).rejects.toThrow(RangeError);
    await expect(bus.writeRegisters(1, 0, [70000])).rejects.toThrow(RangeError);
    await expect(bus.readHoldingRegisters(256, 0, 1)).rejects.toThrow(RangeError);
  });

  it('reports a Modbus exception with its code and keeps using the unit', async () => {
    const { bus, faults } = await setup();
    faults.set(1, { exceptionCode: 4 });
    const e = await failure(bus.readHoldingRegisters(1, 0, 1));
    expect(e.kind).toBe('exception');
    expect(e.detail.code).toBe(4);
    expect(bus.health(1).backoffUntilMs).toBeUndefined();
    faults.clear(1);
    expect(Array.from(await bus.readHoldingRegisters(1, 0, 1))).toEqual([1000]);
    expect(bus.health(1).errorCounts).toEqual({ exception: 1 });
  });

  it('answers an address outside the space with exception 2 and an unknown unit with exception 11', async () => {
    const { bus } = await setup();
    expect((await failure(bus.readHoldingRegisters(2, 99, 2))).detail.code).toBe(2);
    expect((await failure(bus.readHoldingRegisters(9, 0, 1))).detail.code).toBe(11);
  });

  it('times out on a silent unit, backs it off, keeps answering the other unit and recovers when it answers again', async () => {
    const { bus, faults } = await setup({ timeoutMs: 400 });
    faults.set(1, { silent: true });
    const [silent, other] = await Promise.allSettled([bus.readHoldingRegisters(1, 0, 1), bus.readHoldingRegisters(2, 0, 1)]);
    expect(other).toEqual({ status: 'fulfilled', value: Uint16Array.of(2000) });
    expect(silent.status === 'rejected' && (silent.reason as DeviceError).kind).toBe('timeout');
    expect((await failure(bus.readHoldingRegisters(1, 0, 1))).kind).toBe('backoff');
    const health = bus.health(1);
    expect(health.consecutiveFailures).toBe(1);
    expect(health.errorCounts).toEqual({ timeout: 1, backoff: 1 });
    expect(health.lastError?.kind).toBe('timeout');
    faults.clear(1);
    await afterBackoff(bus, 1);
    expect(Array.from(await bus.readHoldingRegisters(1, 0, 1))).toEqual([1000]);
    expect(bus.health(1).consecutiveFailures).toBe(0);
  });

  it('reports well-framed nonsense as garbage and recovers on a fresh connection', async () => {
    const { bus, faults } = await setup();
    faults.set(1, { garbage: true });
    for (const read of [() => bus.readHoldingRegisters(1, 0, 4), () => bus.readCoils(1, 0, 8)]) {
      await afterBackoff(bus, 1);
      expect((await failure(read())).kind).toBe('garbage');
    }
    await afterBackoff(bus, 1);
    expect((await failure(bus.writeRegisters(1, 500, [1, 2]))).kind).toBe('garbage'); // the slave did write; only its answer is garbled
    faults.clear(1);
    await afterBackoff(bus, 1);
    expect(Array.from(await bus.readHoldingRegisters(1, 0, 4))).toEqual([1000, 1001, 1002, 1003]);
  });

  it('rejects a correct answer framed with MBAP protocol id 1 (not Modbus) as garbage, and reads again once the server answers with 0', async () => {
    const { bus, faults } = await setup();
    faults.set(1, { protocolId: 1 });
    const e = await failure(bus.readHoldingRegisters(1, 0, 2));
    expect(e.kind).toBe('garbage');
    expect(e.message).toMatch(/MBAP protocol id 1/);
    await afterBackoff(bus, 1);
    expect((await failure(bus.writeRegisters(1, 500, [1, 2]))).kind).toBe('garbage');
    faults.clear(1);
    await afterBackoff(bus, 1);
    expect(Array.from(await bus.readHoldingRegisters(1, 0, 2))).toEqual([1000, 1001]);
  });

  it('reports a dropped connection as disconnected at once and reconnects when the server behaves again', async () => {
    const { bus, faults } = await setup({ timeoutMs: 5_000 });
    faults.set(1, { dropConnection: true });
    const started = Date.now();
    expect((await failure(bus.readHoldingRegisters(1, 0, 1))).kind).toBe('disconnected');
    expect(Date.now() - started).toBeLessThan(4_000); // detected from the socket closing, not from the deadline
    faults.clear(1);
    await afterBackoff(bus, 1);
    expect(Array.from(await bus.readHoldingRegisters(1, 0, 1))).toEqual([1000]);
  });

  it('does not take a late answer for the answer to the next request', async () => {
    const { bus, faults } = await setup({ timeoutMs: 250 });
    faults.set(1, { delayMs: 400 });
    expect((await failure(bus.readHoldingRegisters(1, 0, 2))).kind).toBe('timeout');
    faults.clear(1);
    await new Promise((r) => setTimeout(r, 450));
    await afterBackoff(bus, 1);
    expect(Array.from(await bus.readHoldingRegisters(1, 50, 2))).toEqual([1050, 1051]);
  });

  it('reconnects after the server is closed and restarted on the same port', async () => {
    const { bus, server, units, faults } = await setup();
    expect(Array.from(await bus.readHoldingRegisters(1, 0, 1))).toEqual([1000]);
    await server.close();
    expect((await failure(bus.readHoldingRegisters(1, 0, 1))).kind).toBe('disconnected');
    const restarted = await startModbusTcpServer({ units, faults, port: server.port });
    cleanups.push(() => restarted.close());
    await afterBackoff(bus, 1);
    expect(Array.from(await bus.readHoldingRegisters(1, 0, 1))).toEqual([1000]);
    expect(bus.health(1).consecutiveFailures).toBe(0);
  });

  it('grows the back-off exponentially up to its cap and tries the unit again once the window has passed', async () => {
    const clock = new ManualClock(0);
    const { bus, faults } = await setup({ timeoutMs: 250, clock, backoff: { initialMs: 100, maxMs: 400, factor: 2 } });
    faults.set(1, { silent: true });
    const windows: number[] = [];
    for (let i = 0; i < 5; i++) {
      expect((await failure(bus.readHoldingRegisters(1, 0, 1))).kind).toBe('timeout');
      const until = bus.health(1).backoffUntilMs!;
      windows.push(until - clock.nowMs());
      expect((await failure(bus.readHoldingRegisters(1, 0, 1))).kind).toBe('backoff');
      clock.advance(until - clock.nowMs());
    }
    expect(windows).toEqual([100, 200, 400, 400, 400]);
    expect(bus.health(1).consecutiveFailures).toBe(5);
    faults.clear(1);
    expect(Array.from(await bus.readHoldingRegisters(1, 0, 1))).toEqual([1000]);
    expect(bus.health(1)).toMatchObject({ consecutiveFailures: 0, errorCounts: { timeout: 5, backoff: 5 } });
  });

  it('rejects queued and new requests once closed', async () => {
    const { bus } = await setup();
    const pending = bus.readHoldingRegisters(1, 0, 1);
    await bus.close();
    await pending.catch(() => undefined);
    expect((await failure(bus.readHoldingRegisters(1, 0, 1))).kind).toBe('disconnected');
  });
});
