/**
 * Fuzz of the client's response path: 10,000 malformed answers (9,500 over a real TCP socket,
 * 500 over a real pty, seeded fast-check), each to a random request. Every request must
 * resolve with data of the asked shape or reject with a DeviceError, within a guard far above
 * the bus timeout (no hang), and nothing may crash or leave an unhandled rejection.
 * Most garbage is rejected as soon as it arrives; only answers the client cannot know are
 * over (a TCP frame announcing more bytes than come, a foreign transaction id, an empty RTU
 * answer) wait out the deadline, so the buses here use short deadlines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createServer, type Server } from 'node:net';
import { SerialPort } from 'serialport';
import { createModbusTcpBus } from '../../../drivers/modbus/tcp.ts';
import { createModbusRtuBus } from '../../../drivers/modbus/rtu.ts';
import type { ModbusBus } from '../../../drivers/modbus/bus.ts';
import { withCrc } from '../../../drivers/modbus/crc16.ts';
import { openPtyPair, type PtyPair } from '../../../sim/serial/pty.ts';
import { DeviceError } from '../../../src/devices/errors.ts';

const TCP_FRAMES = 9_500;
const RTU_FRAMES = 500;
const GUARD_MS = 3_000;
const NO_BACKOFF = { initialMs: 0, maxMs: 0, factor: 1 };

type Request =
  | { op: 'read'; address: number; count: number }
  | { op: 'coils'; address: number; count: number }
  | { op: 'write'; address: number; values: number[] }
  | { op: 'coil'; address: number; on: boolean };

const requestArb: fc.Arbitrary<Request> = fc.oneof(
  fc.record({ op: fc.constant('read' as const), address: fc.integer({ min: 0, max: 1000 }), count: fc.integer({ min: 1, max: 125 }) }),
  fc.record({ op: fc.constant('coils' as const), address: fc.integer({ min: 0, max: 1000 }), count: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('write' as const), address: fc.integer({ min: 0, max: 1000 }), values: fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 10 }) }),
  fc.record({ op: fc.constant('coil' as const), address: fc.integer({ min: 0, max: 1000 }), on: fc.boolean() }),
);

/** The PDU a correct slave would answer, as the seed that mutations start from. */
function validPdu(r: Request): Buffer {
  switch (r.op) {
    case 'read':
      return Buffer.concat([Buffer.from([3, 2 * r.count]), Buffer.alloc(2 * r.count, 0x11)]);
    case 'coils':
      return Buffer.concat([Buffer.from([1, Math.ceil(r.count / 8)]), Buffer.alloc(Math.ceil(r.count / 8), 0x55)]);
    case 'write':
      return Buffer.from([16, r.address >> 8, r.address & 0xff, 0, r.values.length]);
    case 'coil':
      return Buffer.from([5, r.address >> 8, r.address & 0xff, r.on ? 0xff : 0, 0]);
  }
}

/** Byte-level damage to a frame: overwrite, cut, extend. */
type Mutation = { kind: 'set'; at: number; value: number } | { kind: 'cut'; at: number } | { kind: 'add'; bytes: Uint8Array };
const mutationsArb: fc.Arbitrary<Mutation[]> = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(300), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat(300) }),
    fc.record({ kind: fc.constant('add' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  ),
  { minLength: 1, maxLength: 4 },
);

function mutate(frame: Buffer, mutations: Mutation[]): Buffer {
  let out = Buffer.from(frame);
  for (const m of mutations) {
    if (m.kind === 'set' && out.length > 0) out[m.at % out.length] = m.value;
    else if (m.kind === 'cut') out = out.subarray(0, m.at % (out.length + 1));
    else if (m.kind === 'add') out = Buffer.concat([out, Buffer.from(m.bytes)]);
  }
  return out;
}

function mbap(transactionId: number, protocolId: number, length: number, unitId: number): Buffer {
  const h = Buffer.alloc(7);
  h.writeUInt16BE(transactionId & 0xffff, 0);
  h.writeUInt16BE(protocolId, 2);
  h.writeUInt16BE(length, 4);
  h[6] = unitId;
  return h;
}

/** What the fuzz TCP server answers to a request with this transaction id. */
type TcpAnswer = (transactionId: number, unitId: number, request: Request) => Buffer;

const tcpAnswerArb: fc.Arbitrary<TcpAnswer> = fc.oneof(
  { weight: 40, arbitrary: fc.uint8Array({ maxLength: 253 }).map((pdu): TcpAnswer => (tid, unit) => Buffer.concat([mbap(tid, 0, pdu.length + 1, unit), pdu])) },
  {
    weight: 50,
    arbitrary: mutationsArb.map((ms): TcpAnswer => (tid, unit, r) => {
      const pdu = mutate(validPdu(r), ms);
      return Buffer.concat([mbap(tid, 0, pdu.length + 1, unit), pdu]);
    }),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ tidDelta: fc.integer({ min: 0, max: 3 }), protocolId: fc.integer({ min: 0, max: 0xffff }), length: fc.integer({ min: 0, max: 0xffff }), unit: fc.integer({ min: 0, max: 255 }), pdu: fc.uint8Array({ maxLength: 40 }) })
      .map((h): TcpAnswer => (tid) => Buffer.concat([mbap(tid + h.tidDelta, h.protocolId, h.length, h.unit), h.pdu])),
  },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 300 }).map((bytes): TcpAnswer => () => Buffer.from(bytes)) },
);

/** What the fuzz RTU slave answers (the whole frame as it crosses the line). */
type RtuAnswer = (unitId: number, request: Request) => Buffer;

const rtuAnswerArb: fc.Arbitrary<RtuAnswer> = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 80 }).map((pdu): RtuAnswer => (unit) => withCrc(Buffer.concat([Buffer.from([unit]), pdu]))) },
  {
    weight: 4,
    arbitrary: fc.record({ ms: mutationsArb, fixCrc: fc.boolean() }).map(({ ms, fixCrc }): RtuAnswer => (unit, r) => {
      const body = Buffer.concat([Buffer.from([unit]), validPdu(r)]);
      return fixCrc ? withCrc(mutate(body, ms)) : mutate(withCrc(body), ms);
    }),
  },
  {
    weight: 2,
    arbitrary: fc.uint8Array({ minLength: 1, maxLength: 12 }).map((noise): RtuAnswer => (unit, r) => Buffer.concat([Buffer.from(noise), withCrc(Buffer.concat([Buffer.from([unit]), validPdu(r)]))])),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 60 }).map((bytes): RtuAnswer => () => Buffer.from(bytes)) },
);

/** How each fuzzed request ended: 'resolved' or the DeviceError kind. */
type Outcomes = Map<string, number>;

async function exercise(bus: ModbusBus, unitId: number, r: Request, outcomes: Outcomes): Promise<void> {
  const call = (async () => {
    switch (r.op) {
      case 'read': {
        const v = await bus.readHoldingRegisters(unitId, r.address, r.count);
        expect(v).toBeInstanceOf(Uint16Array);
        expect(v.length).toBe(r.count);
        return;
      }
      case 'coils': {
        const v = await bus.readCoils(unitId, r.address, r.count);
        expect(v.length).toBe(r.count);
        return;
      }
      case 'write':
        return bus.writeRegisters(unitId, r.address, r.values);
      case 'coil':
        return bus.writeCoil(unitId, r.address, r.on);
    }
  })();
  let guard: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    call.then(
      () => 'resolved',
      (e: unknown) => e,
    ),
    new Promise((resolve) => (guard = setTimeout(() => resolve('hung'), GUARD_MS))),
  ]);
  clearTimeout(guard);
  if (outcome !== 'resolved') expect(outcome).toBeInstanceOf(DeviceError);
  const key = outcome instanceof DeviceError ? outcome.kind : String(outcome);
  outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
}

/** The fuzz must really be malformed: nearly every answer is rejected, and for a reason other than the deadline. */
function expectMostlyRejected(outcomes: Outcomes, total: number): void {
  expect([...outcomes.values()].reduce((a, b) => a + b, 0)).toBe(total);
  // Noise in front of an intact RTU answer is salvaged by design, so some answers resolve.
  expect(outcomes.get('resolved') ?? 0).toBeLessThan(total * 0.3);
  expect(outcomes.get('timeout') ?? 0).toBeLessThan(total * 0.2);
}

function requestOf(pdu: Buffer): Request {
  const address = pdu.readUInt16BE(1);
  switch (pdu[0]) {
    case 3:
      return { op: 'read', address, count: pdu.readUInt16BE(3) };
    case 1:
      return { op: 'coils', address, count: pdu.readUInt16BE(3) };
    case 16:
      return { op: 'write', address, values: Array.from({ length: pdu.readUInt16BE(3) }, () => 0) };
    default:
      return { op: 'coil', address, on: pdu.readUInt16BE(3) === 0xff00 };
  }
}

describe('client response path under fuzz', () => {
  let server: Server;
  let port = 0;
  let answer: TcpAnswer = () => Buffer.alloc(0);

  beforeAll(async () => {
    server = createServer((socket) => {
      socket.on('error', () => undefined);
      let buffer = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        while (buffer.length >= 7 && buffer.length >= 6 + buffer.readUInt16BE(4)) {
          const frame = buffer.subarray(0, 6 + buffer.readUInt16BE(4));
          buffer = buffer.subarray(frame.length);
          socket.write(answer(frame.readUInt16BE(0), frame[6]!, requestOf(frame.subarray(7))));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it(`survives ${TCP_FRAMES} malformed Modbus TCP answers`, async () => {
    const bus = createModbusTcpBus({ host: '127.0.0.1', port, timeoutMs: 15, backoff: NO_BACKOFF });
    const outcomes: Outcomes = new Map();
    try {
      await fc.assert(
        fc.asyncProperty(requestArb, tcpAnswerArb, async (request, tcpAnswer) => {
          answer = tcpAnswer;
          await exercise(bus, 1, request, outcomes);
        }),
        { numRuns: TCP_FRAMES, seed: 20261121, endOnFailure: true },
      );
      expectMostlyRejected(outcomes, TCP_FRAMES);
    } finally {
      await bus.close();
    }
  }, 60_000);

  it(`survives ${RTU_FRAMES} malformed Modbus RTU answers on a pty`, async () => {
    const pty: PtyPair = await openPtyPair('modbus-fuzz');
    const slave = new SerialPort({ path: pty.simPath, baudRate: 115200, autoOpen: false });
    slave.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => slave.open((e) => (e ? reject(e) : resolve())));
    let rtuAnswer: RtuAnswer = () => Buffer.alloc(0);
    let pending = Buffer.alloc(0);
    slave.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      // The bus sends whole frames; fc 16 carries a byte count, the others are 8 bytes.
      const length = pending[1] === 16 ? 9 + (pending[6] ?? 0xff) : 8;
      if (pending.length < length) return;
      const frame = pending.subarray(0, length);
      pending = Buffer.alloc(0);
      const bytes = rtuAnswer(frame[0]!, requestOf(frame.subarray(1, -2)));
      if (bytes.length > 0) slave.write(bytes);
    });
    const bus = createModbusRtuBus({ path: pty.devicePath, baudRate: 115200, timeoutMs: 60, backoff: NO_BACKOFF });
    const outcomes: Outcomes = new Map();
    try {
      await fc.assert(
        fc.asyncProperty(requestArb, rtuAnswerArb, async (request, a) => {
          rtuAnswer = a;
          await exercise(bus, 7, request, outcomes);
        }),
        { numRuns: RTU_FRAMES, seed: 20261121, endOnFailure: true },
      );
      expectMostlyRejected(outcomes, RTU_FRAMES);
    } finally {
      await bus.close();
      await new Promise<void>((r) => slave.close(() => r()));
      await pty.close();
    }
  }, 60_000);
});
