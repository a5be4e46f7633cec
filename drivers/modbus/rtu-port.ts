/**
 * The serial side of the RTU client: a serialport-13 port that modbus-serial drives through
 * its custom-port hook (`new ModbusRTU(port)`: open/close/write/isOpen plus data/error/close
 * events). modbus-serial's own RTUBufferedPort works with serialport 13 too, but it keeps
 * stale bytes between requests and only ever emits a frame whose unit id and function code
 * match, so a well-framed wrong answer or a noisy line costs a full timeout. This port
 * frames the way an RS-485 master does:
 * - every request starts from an empty receive buffer (a late answer or noise from before
 *   cannot be taken for the answer to this request);
 * - a CRC-valid answer of the expected length is taken as soon as it is complete, even after
 *   leading noise;
 * - an answer that has begun (the expected unit id and function code, or its exception) but
 *   is shorter than its function code says is waited for, up to the request's deadline: a
 *   USB–RS485 adapter holds received bytes until its latency timer runs out (16 ms by default
 *   on FTDI chips) and hands an answer over in pieces that far apart, and a busy event loop can
 *   read them later still, so no silence can tell a pause inside an answer from its end;
 * - anything else (no plausible start, or enough bytes without a valid frame) is handed over
 *   once the line has been silent for 3.5 characters plus the adapter's latency plus a floor
 *   for pty and event-loop bursts, so modbus-serial reports it at once as a CRC or length error
 *   instead of waiting for the deadline.
 */
import { EventEmitter } from 'node:events';
import { SerialPort } from 'serialport';
import { hasValidCrc } from './crc16.ts';
import { characterMs } from './wire-time.ts';

export type Parity = 'none' | 'even' | 'odd';

const EXCEPTION_FRAME_BYTES = 5;
const MAX_BUFFER_BYTES = 512;
/** Bursts from a pty or the event loop can be a few ms apart inside one frame, on top of the adapter's latency. */
const SILENCE_FLOOR_MS = 10;
/** FTDI's default latency timer, the most common USB–RS485 adapter's. */
export const DEFAULT_ADAPTER_LATENCY_MS = 16;

interface Expected {
  unitId: number;
  functionCode: number;
  responseBytes: number;
}

export class RtuFramedPort extends EventEmitter {
  private readonly serial: SerialPort;
  private readonly silenceMs: number;
  private buffer = Buffer.alloc(0);
  private expected?: Expected;
  private silenceTimer?: NodeJS.Timeout;

  constructor(path: string, baudRate: number, parity: Parity, adapterLatencyMs = DEFAULT_ADAPTER_LATENCY_MS) {
    super();
    if (!(adapterLatencyMs >= 0)) throw new RangeError(`adapterLatencyMs must be >= 0, got ${adapterLatencyMs}`);
    this.silenceMs = 3.5 * characterMs(baudRate) + adapterLatencyMs + SILENCE_FLOOR_MS;
    this.serial = new SerialPort({ path, baudRate, parity, autoOpen: false });
    this.serial.on('data', (chunk: Buffer) => this.receive(chunk));
    // modbus-serial stops listening once it closes the port; an error after that must not go unhandled.
    this.serial.on('error', (e: Error) => {
      if (this.listenerCount('error') > 0) this.emit('error', e);
    });
    this.serial.on('close', () => {
      this.stopSilenceTimer();
      this.emit('close');
    });
  }

  get isOpen(): boolean {
    return this.serial.isOpen;
  }

  open(callback: (error?: Error | null) => void): void {
    this.serial.open(callback);
  }

  close(callback: (error?: Error | null) => void = () => undefined): void {
    this.stopSilenceTimer();
    if (this.serial.isOpen) this.serial.close(callback);
    else callback(null);
  }

  destroy(): void {
    this.close();
  }

  write(frame: Buffer): void {
    this.stopSilenceTimer();
    this.buffer = Buffer.alloc(0);
    this.expected = { unitId: frame[0]!, functionCode: frame[1]!, responseBytes: expectedResponseBytes(frame) };
    this.serial.write(frame);
  }

  private receive(chunk: Buffer): void {
    if (!this.expected) return; // unsolicited bytes: nobody is waiting, a real master ignores them too
    this.buffer = Buffer.concat([this.buffer, chunk]);
    if (this.buffer.length > MAX_BUFFER_BYTES) this.buffer = this.buffer.subarray(-MAX_BUFFER_BYTES);
    const frame = this.findValidFrame(this.expected);
    if (frame) {
      this.deliver(frame);
      return;
    }
    this.stopSilenceTimer();
    // The answer has begun and is shorter than its function code says: the rest is still on its
    // way (an adapter's latency, a busy event loop), so only the request's deadline ends the wait.
    if (this.answerIncomplete(this.expected)) return;
    this.silenceTimer = setTimeout(() => this.deliverAfterSilence(), this.silenceMs);
  }

  private findValidFrame({ unitId, functionCode, responseBytes }: Expected): Buffer | undefined {
    const b = this.buffer;
    for (let i = 0; i + EXCEPTION_FRAME_BYTES <= b.length; i++) {
      if (b[i] !== unitId) continue;
      const length = b[i + 1] === functionCode ? responseBytes : b[i + 1] === (functionCode | 0x80) ? EXCEPTION_FRAME_BYTES : 0;
      if (length > 0 && i + length <= b.length && hasValidCrc(b.subarray(i, i + length))) return b.subarray(i, i + length);
    }
    return undefined;
  }

  /** The buffer starts (after any noise) with the expected unit id and function code (or its exception), and holds fewer bytes than that answer has. */
  private answerIncomplete({ unitId, functionCode, responseBytes }: Expected): boolean {
    const b = this.buffer;
    const start = b.findIndex((byte, i) => byte === unitId && i + 1 < b.length && (b[i + 1] === functionCode || b[i + 1] === (functionCode | 0x80)));
    if (start === -1) return false;
    const length = b[start + 1] === functionCode ? responseBytes : EXCEPTION_FRAME_BYTES;
    return b.length - start < length;
  }

  /** No valid answer before the line went quiet: hand over what came, from the most plausible start, for modbus-serial to reject. */
  private deliverAfterSilence(): void {
    const expected = this.expected;
    if (!expected || this.buffer.length === 0) return;
    const b = this.buffer;
    let start = 0;
    for (let i = 0; i + 1 < b.length; i++) {
      if (b[i] === expected.unitId && (b[i + 1]! & 0x7f) === expected.functionCode) {
        start = i;
        break;
      }
    }
    this.deliver(b.subarray(start));
  }

  private deliver(frame: Buffer): void {
    this.stopSilenceTimer();
    this.expected = undefined;
    this.buffer = Buffer.alloc(0);
    this.emit('data', Buffer.from(frame));
  }

  private stopSilenceTimer(): void {
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    this.silenceTimer = undefined;
  }
}

/** Response length for the function codes the bus sends (1, 3, 5, 6, 16). */
function expectedResponseBytes(request: Buffer): number {
  const quantity = request.length >= 6 ? request.readUInt16BE(4) : 0;
  switch (request[1]) {
    case 1:
    case 2:
      return 5 + Math.ceil(quantity / 8);
    case 3:
    case 4:
      return 5 + 2 * quantity;
    default:
      return 8;
  }
}
