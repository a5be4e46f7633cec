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
 * - anything else is handed over once the line has been silent for 3.5 characters (with a
 *   floor, because a pty or a USB adapter delivers bytes in bursts), so modbus-serial reports
 *   it at once as a CRC or length error instead of waiting for the timeout.
 */
import { EventEmitter } from 'node:events';
import { SerialPort } from 'serialport';
import { hasValidCrc } from './crc16.ts';
import { characterMs } from './wire-time.ts';

export type Parity = 'none' | 'even' | 'odd';

const EXCEPTION_FRAME_BYTES = 5;
const MAX_BUFFER_BYTES = 512;
/** Bursts from a pty or a USB-RS485 adapter can be a few ms apart inside one frame. */
const SILENCE_FLOOR_MS = 10;

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

  constructor(path: string, baudRate: number, parity: Parity) {
    super();
    this.silenceMs = Math.max(SILENCE_FLOOR_MS, 3.5 * characterMs(baudRate));
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
