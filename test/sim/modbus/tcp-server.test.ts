import { afterEach, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { startModbusTcpServer } from '../../../sim/modbus/tcp-server.ts';
import { ModbusFaults } from '../../../sim/modbus/faults.ts';
import { MemorySpace } from '../../fixtures/memory-space.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A raw TCP peer: the server is checked byte for byte, independent of the client code. */
async function rawPeer() {
  const units = new Map([[1, new MemorySpace()]]);
  const faults = new ModbusFaults();
  const server = await startModbusTcpServer({ units, faults });
  cleanups.push(() => server.close());
  const socket: Socket = connect(server.port, '127.0.0.1');
  socket.on('error', () => undefined);
  cleanups.push(() => void socket.destroy());
  await new Promise((r) => socket.once('connect', r));
  let received = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  const receive = async (bytes: number) => {
    while (received.length < bytes) await new Promise((r) => setTimeout(r, 5));
    const out = received.subarray(0, bytes);
    received = received.subarray(bytes);
    return Array.from(out);
  };
  return { socket, faults, units, receive, closed };
}

const mbap = (tid: number, unit: number, pdu: number[]) => Buffer.from([tid >> 8, tid & 0xff, 0, 0, 0, pdu.length + 1, unit, ...pdu]);

describe('simulated Modbus TCP server', () => {
  it('answers read holding registers with the MBAP header echoed', async () => {
    const { socket, receive } = await rawPeer();
    socket.write(mbap(0x1234, 1, [3, 0, 2, 0, 2]));
    expect(await receive(13)).toEqual([0x12, 0x34, 0, 0, 0, 7, 1, 3, 4, 1002 >> 8, 1002 & 0xff, 1003 >> 8, 1003 & 0xff]);
  });

  it('answers pipelined requests in order, including writes 6 and 16 and coils 1 and 5', async () => {
    const { socket, receive, units } = await rawPeer();
    socket.write(Buffer.concat([mbap(1, 1, [6, 0, 9, 0, 77]), mbap(2, 1, [16, 0, 10, 0, 2, 4, 0, 1, 0, 2]), mbap(3, 1, [5, 0, 1, 0xff, 0]), mbap(4, 1, [1, 0, 0, 0, 4])]));
    expect(await receive(12)).toEqual([0, 1, 0, 0, 0, 6, 1, 6, 0, 9, 0, 77]);
    expect(await receive(12)).toEqual([0, 2, 0, 0, 0, 6, 1, 16, 0, 10, 0, 2]);
    expect(await receive(12)).toEqual([0, 3, 0, 0, 0, 6, 1, 5, 0, 1, 0xff, 0]);
    expect(await receive(10)).toEqual([0, 4, 0, 0, 0, 4, 1, 1, 1, 0b1011]);
    expect(Array.from(units.get(1)!.holding.subarray(9, 12))).toEqual([77, 1, 2]);
  });

  it('answers an unknown function with exception 1, a bad quantity with 3 and an unknown unit with 11', async () => {
    const { socket, receive } = await rawPeer();
    socket.write(mbap(1, 1, [0x2b, 0x0e, 1, 0]));
    expect(await receive(9)).toEqual([0, 1, 0, 0, 0, 3, 1, 0xab, 1]);
    socket.write(mbap(2, 1, [3, 0, 0, 0, 200]));
    expect(await receive(9)).toEqual([0, 2, 0, 0, 0, 3, 1, 0x83, 3]);
    socket.write(mbap(3, 42, [3, 0, 0, 0, 1]));
    expect(await receive(9)).toEqual([0, 3, 0, 0, 0, 3, 42, 0x83, 11]);
  });

  it('drops a connection whose framing is not Modbus', async () => {
    const { socket, closed } = await rawPeer();
    socket.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    await closed;
  });

  it('applies faults per unit at run time', async () => {
    const { socket, receive, faults, closed } = await rawPeer();
    faults.set(1, { exceptionCode: 4 });
    socket.write(mbap(1, 1, [3, 0, 0, 0, 1]));
    expect(await receive(9)).toEqual([0, 1, 0, 0, 0, 3, 1, 0x83, 4]);
    faults.set(1, { dropConnection: true });
    socket.write(mbap(2, 1, [3, 0, 0, 0, 1]));
    await closed;
  });
});
