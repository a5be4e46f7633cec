/**
 * Simulated Modbus TCP server. modbus-serial's ServerTCP answers from inside its socket
 * handler, with no hook to drop a connection mid-request, delay one unit or send a
 * well-framed wrong answer, so the server frames MBAP itself (7-byte header + PDU) and
 * answers through pdu.ts. A unit id it does not serve gets exception 11 (gateway target
 * device failed to respond), as a Modbus TCP gateway answers for a missing slave.
 * Requests on one connection are answered in order.
 */
import { createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RegisterSpace } from './register-space.ts';
import { ModbusFaults } from './faults.ts';
import { exceptionPdu, faultedAnswer } from './pdu.ts';
import { ModbusExceptionCode } from '../../drivers/modbus/bus.ts';

export interface ModbusTcpServerOptions {
  host?: string;
  /** 0 = an ephemeral port, reported back. */
  port?: number;
  units: Map<number, RegisterSpace>;
  faults?: ModbusFaults;
}

export interface ModbusTcpServer {
  readonly port: number;
  close(): Promise<void>;
}

const MBAP_HEADER_BYTES = 7;
const MAX_PDU_BYTES = 253;

export async function startModbusTcpServer(options: ModbusTcpServerOptions): Promise<ModbusTcpServer> {
  const faults = options.faults ?? new ModbusFaults();
  const sockets = new Set<Socket>();
  // Cancels answers held back by a delay fault, so a closed server leaves no timer behind.
  const closing = new AbortController();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    serveConnection(socket, options.units, faults, closing.signal);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', () => undefined);
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('Modbus TCP server has no port');
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        closing.abort();
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function serveConnection(socket: Socket, units: Map<number, RegisterSpace>, faults: ModbusFaults, closing: AbortSignal): void {
  let buffer = Buffer.alloc(0);
  let answered = Promise.resolve();
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= MBAP_HEADER_BYTES) {
      const protocolId = buffer.readUInt16BE(2);
      const length = buffer.readUInt16BE(4);
      if (protocolId !== 0 || length < 2 || length > MAX_PDU_BYTES + 1) {
        // Not Modbus framing: the stream cannot be resynchronised, so drop it (as the spec advises).
        socket.destroy();
        return;
      }
      if (buffer.length < 6 + length) return;
      const header = buffer.subarray(0, MBAP_HEADER_BYTES);
      const pdu = buffer.subarray(MBAP_HEADER_BYTES, 6 + length);
      buffer = buffer.subarray(6 + length);
      const request = { header: Buffer.from(header), pdu: Buffer.from(pdu) };
      answered = answered.then(() => answer(socket, request, units, faults, closing)).catch(() => void socket.destroy());
    }
  });
}

async function answer(socket: Socket, request: { header: Buffer; pdu: Buffer }, units: Map<number, RegisterSpace>, faults: ModbusFaults, closing: AbortSignal): Promise<void> {
  const unitId = request.header[6]!;
  const space = units.get(unitId);
  const f = faults.get(unitId);
  if (f.delayMs) await sleep(f.delayMs, undefined, { signal: closing });
  if (socket.destroyed) return;
  if (space && f.dropConnection) {
    socket.destroy();
    return;
  }
  const pdu = space ? faultedAnswer(space, request.pdu, faults, unitId) : exceptionPdu(request.pdu[0] ?? 0, ModbusExceptionCode.GatewayTargetFailedToRespond);
  if (!pdu) return;
  const header = Buffer.from(request.header);
  header.writeUInt16BE(f.protocolId ?? 0, 2);
  header.writeUInt16BE(pdu.length + 1, 4);
  socket.write(Buffer.concat([header, pdu]));
}
