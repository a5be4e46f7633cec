import { afterEach, describe, expect, it } from 'vitest';
import { SerialPort } from 'serialport';
import { performance } from 'node:perf_hooks';
import { startModbusRtuSlave } from '../../../sim/modbus/rtu-slave.ts';
import { ModbusFaults } from '../../../sim/modbus/faults.ts';
import { openPtyPair } from '../../../sim/serial/pty.ts';
import { withCrc, hasValidCrc } from '../../../drivers/modbus/crc16.ts';
import { exchangeWireMs } from '../../../drivers/modbus/wire-time.ts';
import { MemorySpace } from '../../fixtures/memory-space.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A raw serial peer on the gateway end of the pty: the slave is checked byte for byte. */
async function rawPeer(baudRate: number) {
  const units = new Map([
    [1, new MemorySpace()],
    [2, new MemorySpace(10, 500)],
  ]);
  const faults = new ModbusFaults(3);
  const pty = await openPtyPair('modbus-slave-test');
  cleanups.push(() => pty.close());
  const slave = await startModbusRtuSlave({ path: pty.simPath, baudRate, units, faults });
  cleanups.push(() => slave.close());
  const port = new SerialPort({ path: pty.devicePath, baudRate, autoOpen: false });
  port.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  cleanups.push(() => new Promise((r) => port.close(() => r())));
  let received = Buffer.alloc(0);
  port.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
  const receive = async (bytes: number, withinMs = 3_000) => {
    const deadline = Date.now() + withinMs;
    while (received.length < bytes && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    const out = received.subarray(0, bytes);
    received = received.subarray(bytes);
    return out;
  };
  const send = (bytes: number[]) => port.write(withCrc(Buffer.from(bytes)));
  return { port, faults, units, send, receive };
}

describe('simulated Modbus RTU slave', () => {
  it('answers a read with a CRC-valid frame', async () => {
    const { send, receive } = await rawPeer(115200);
    send([2, 3, 0, 1, 0, 2]);
    const frame = await receive(9);
    expect(hasValidCrc(frame)).toBe(true);
    expect(Array.from(frame.subarray(0, 7))).toEqual([2, 3, 4, 501 >> 8, 501 & 0xff, 502 >> 8, 502 & 0xff]);
  });

  it('ignores a request with a bad CRC and answers the next good one', async () => {
    const { port, send, receive } = await rawPeer(115200);
    port.write(Buffer.from([1, 3, 0, 0, 0, 1, 0xde, 0xad]));
    send([1, 6, 0, 3, 0, 9]);
    const frame = await receive(8);
    expect(Array.from(frame)).toEqual(Array.from(withCrc(Buffer.from([1, 6, 0, 3, 0, 9]))));
    expect((await receive(1, 100)).length).toBe(0);
  });

  it('answers a CRC-valid frame with an unsupported function code with exception 1', async () => {
    const { send, receive } = await rawPeer(115200);
    send([1, 0x11]);
    expect(Array.from(await receive(5))).toEqual(Array.from(withCrc(Buffer.from([1, 0x91, 1]))));
  });

  it('stays silent for a unit id it does not serve', async () => {
    const { send, receive } = await rawPeer(115200);
    send([9, 3, 0, 0, 0, 1]);
    expect((await receive(1, 150)).length).toBe(0);
  });

  it('does not answer before request and answer would have crossed the line at the configured baud rate', async () => {
    const baudRate = 9600;
    const { send, receive } = await rawPeer(baudRate);
    const started = performance.now();
    send([1, 3, 0, 0, 0, 125]);
    const frame = await receive(255);
    const elapsedMs = performance.now() - started;
    expect(hasValidCrc(frame)).toBe(true);
    // 8 + 255 bytes and two 3.5-character silences at 9600 baud: about 281 ms.
    expect(elapsedMs).toBeGreaterThanOrEqual(exchangeWireMs(8, 255, baudRate) - 1);
  });

  it('corrupts the CRC when told to', async () => {
    const { send, receive, faults } = await rawPeer(115200);
    faults.set(1, { crcError: true });
    send([1, 3, 0, 0, 0, 1]);
    const frame = await receive(7);
    expect(frame.length).toBe(7);
    expect(hasValidCrc(frame)).toBe(false);
  });
});
