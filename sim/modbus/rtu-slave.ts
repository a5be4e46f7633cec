/**
 * Simulated Modbus RTU slave(s) on the simulator's end of a pty. modbus-serial's ServerSerial
 * writes its answers itself, with no way to corrupt a CRC, inject line noise or hold an
 * answer back, so the slave frames RTU itself: requests are taken by their length (known from
 * the function code) and a valid CRC-16, skipping bytes in front that do not check out; bytes
 * that never form a known request are dropped after a 3.5-character silence (a CRC-valid
 * frame with an unknown function code then gets exception 1).
 *
 * Wire time: a pty moves bytes instantly, so the slave plays the RS-485 line. An answer is
 * written no earlier than request bytes + 3.5-character silence + answer bytes + 3.5-character
 * silence (10 bits a byte at the configured baud rate) after the request began to arrive,
 * and never while an earlier answer would still be on the line.
 *
 * A unit id the slave does not serve gets no answer, as on a real bus; unit 0 (broadcast)
 * is not served either.
 */
import { performance } from 'node:perf_hooks';
import { SerialPort } from 'serialport';
import type { RegisterSpace } from './register-space.ts';
import { ModbusFaults } from './faults.ts';
import { faultedAnswer } from './pdu.ts';
import { hasValidCrc, withCrc } from '../../drivers/modbus/crc16.ts';
import { characterMs, exchangeWireMs } from '../../drivers/modbus/wire-time.ts';

export interface ModbusRtuSlaveOptions {
  /** The pty's simPath. */
  path: string;
  baudRate: number;
  units: Map<number, RegisterSpace>;
  faults?: ModbusFaults;
}

const SILENCE_FLOOR_MS = 10;
const MAX_BUFFER_BYTES = 512;

export async function startModbusRtuSlave(options: ModbusRtuSlaveOptions): Promise<{ close(): Promise<void> }> {
  const { baudRate, units } = options;
  const faults = options.faults ?? new ModbusFaults();
  const port = new SerialPort({ path: options.path, baudRate, autoOpen: false });
  port.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(new Error(`cannot open ${options.path}: ${e.message}`)) : resolve())));

  const silenceMs = Math.max(SILENCE_FLOOR_MS, 3.5 * characterMs(baudRate));
  let buffer = Buffer.alloc(0);
  let firstByteAtMs = 0;
  let lineFreeAtMs = 0;
  let silenceTimer: NodeJS.Timeout | undefined;
  /** Cancels for the answers still waiting for their wire time. */
  const pending = new Set<() => void>();

  const respond = (request: Buffer, arrivedAtMs: number) => {
    const unitId = request[0]!;
    const space = units.get(unitId);
    if (!space) return;
    const f = faults.get(unitId);
    const pdu = faultedAnswer(space, request.subarray(1, -2), faults, unitId);
    if (!pdu) return;
    let frame = withCrc(Buffer.concat([Buffer.from([unitId]), pdu]));
    const wireMs = exchangeWireMs(request.length, frame.length, baudRate);
    if (f.crcError) frame[frame.length - 1]! ^= 0xff;
    if (f.lineNoise) frame = addNoise(frame, faults);
    const sendAtMs = Math.max(arrivedAtMs, lineFreeAtMs) + wireMs + (f.delayMs ?? 0);
    lineFreeAtMs = sendAtMs;
    sendAt(sendAtMs, () => writeInChunks(frame, f.chunked));
  };

  /**
   * Timers have whole-millisecond granularity and measure from the loop's cached time, so they
   * fire up to a millisecond early or late; at 115200 Bd a 125-register answer is only 23 ms on
   * the wire. The answer must never beat the line, and should not trail it either: sleep to
   * within a millisecond, then finish on the next loop turns.
   */
  const sendAt = (atMs: number, send: () => void) => {
    const leftMs = atMs - performance.now();
    if (leftMs <= 0) return send();
    const cancel = leftMs < 1 ? clearImmediate.bind(null, setImmediate(wake)) : clearTimeout.bind(null, setTimeout(wake, leftMs - 1));
    pending.add(cancel);
    function wake() {
      pending.delete(cancel);
      sendAt(atMs, send);
    }
  };

  /** The whole frame at once, or (fault `chunked`) piece by piece as a USB adapter delivers it. */
  const writeInChunks = (frame: Buffer, chunked: { bytes: number; gapMs: number } | undefined) => {
    if (!port.isOpen) return;
    if (!chunked || frame.length <= chunked.bytes) return void port.write(frame);
    port.write(frame.subarray(0, chunked.bytes));
    const cancel = clearTimeout.bind(null, setTimeout(() => {
      pending.delete(cancel);
      writeInChunks(frame.subarray(chunked.bytes), chunked);
    }, chunked.gapMs));
    pending.add(cancel);
  };

  /** Takes every CRC-valid request in the buffer, skipping bytes before it that do not check out. */
  const takeRequests = () => {
    for (let start = 0; start + 4 <= buffer.length; ) {
      const rest = buffer.subarray(start);
      const length = requestLength(rest);
      if (length !== undefined && rest.length >= length && hasValidCrc(rest.subarray(0, length))) {
        const request = Buffer.from(rest.subarray(0, length));
        buffer = rest.subarray(length);
        respond(request, firstByteAtMs);
        firstByteAtMs = performance.now();
        start = 0;
      } else {
        start += 1;
      }
    }
  };

  const onSilence = () => {
    silenceTimer = undefined;
    // A whole CRC-valid frame whose length we could not know: an unsupported function code (exception 1).
    if (buffer.length >= 4 && hasValidCrc(buffer)) respond(Buffer.from(buffer), firstByteAtMs);
    buffer = Buffer.alloc(0);
  };

  port.on('data', (chunk: Buffer) => {
    if (buffer.length === 0) firstByteAtMs = performance.now();
    buffer = Buffer.concat([buffer, chunk]);
    if (buffer.length > MAX_BUFFER_BYTES) buffer = buffer.subarray(-MAX_BUFFER_BYTES);
    takeRequests();
    if (silenceTimer) clearTimeout(silenceTimer);
    silenceTimer = buffer.length > 0 ? setTimeout(onSilence, silenceMs) : undefined;
  });

  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const cancel of pending) cancel();
        if (silenceTimer) clearTimeout(silenceTimer);
        if (port.isOpen) port.close(() => resolve());
        else resolve();
      }),
  };
}

/** Request frame length from its function code; undefined while unknown (or for codes we do not serve). */
function requestLength(b: Buffer): number | undefined {
  switch (b[1]) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
      return 8;
    case 15:
    case 16:
      return b.length >= 7 ? 9 + b[6]! : undefined;
    default:
      return undefined;
  }
}

/** A few random bytes before the frame or inside it, as a noisy RS-485 line delivers them. */
function addNoise(frame: Buffer, faults: ModbusFaults): Buffer {
  const noise = faults.randomBytes(1 + Math.floor(faults.random() * 6));
  const at = faults.random() < 0.5 ? 0 : 1 + Math.floor(faults.random() * (frame.length - 1));
  return Buffer.concat([frame.subarray(0, at), noise, frame.subarray(at)]);
}
