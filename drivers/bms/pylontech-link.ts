/**
 * One Pylontech request/response exchange at a time over a serial port (serialport 13). The
 * port is opened on first use and reopened after it goes away (USB adapter unplugged, pty
 * closed). I/O deadlines are wall-clock time: a serial line does not run faster because the
 * simulation does.
 */
import { SerialPort } from 'serialport';
import { DeviceError } from '../../src/devices/errors.ts';
import { CID1_BATTERY, FrameParser, PROTOCOL_VERSION, encodeFrame, type FrameError, type PylonFrame } from './pylontech-frame.ts';
import { ReturnCode } from './pylontech-info.ts';

export interface SerialLineOptions {
  path: string;
  baudRate: number;
  /** How long to wait for a complete answer. */
  timeoutMs: number;
}

interface Waiter {
  adr: number;
  noise?: FrameError;
  resolve(frame: PylonFrame): void;
  reject(error: DeviceError): void;
}

export class PylontechLink {
  private port?: SerialPort;
  private readonly parser = new FrameParser();
  private waiter?: Waiter;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly device: string,
    private readonly options: SerialLineOptions,
  ) {}

  get endpoint(): string {
    return `serial:${this.options.path}@${this.options.baudRate}`;
  }

  /** Sends one command and resolves with the answer's INFO; serialised, since RS-485 is half-duplex. */
  request(adr: number, cid2: number, info: Uint8Array): Promise<Uint8Array> {
    const run = this.queue.then(() => this.exchange(adr, cid2, info));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async exchange(adr: number, cid2: number, info: Uint8Array): Promise<Uint8Array> {
    const port = await this.open();
    this.parser.reset();
    const answer = new Promise<PylonFrame>((resolve, reject) => (this.waiter = { adr, resolve, reject }));
    const timer = setTimeout(() => {
      const w = this.waiter;
      if (!w) return;
      this.waiter = undefined;
      const partial = this.parser.pendingBytes;
      w.reject(
        partial > 0
          ? new DeviceError('garbage', this.device, `truncated answer: ${partial} bytes and no EOI within ${this.options.timeoutMs} ms`)
          : w.noise
            ? new DeviceError(w.noise.kind, this.device, `no valid answer within ${this.options.timeoutMs} ms: ${w.noise.message}`)
            : new DeviceError('timeout', this.device, `no answer to command 0x${cid2.toString(16)} within ${this.options.timeoutMs} ms on ${this.endpoint}`),
      );
    }, this.options.timeoutMs);
    try {
      port.write(encodeFrame({ ver: PROTOCOL_VERSION, adr, cid1: CID1_BATTERY, cid2, info }));
      const frame = await answer;
      if (frame.cid2 !== 0) throw new DeviceError('exception', this.device, `device refused command 0x${cid2.toString(16)}: ${ReturnCode[frame.cid2] ?? `RTN 0x${frame.cid2.toString(16)}`}`, { code: frame.cid2 });
      return frame.info;
    } finally {
      clearTimeout(timer);
      this.waiter = undefined;
    }
  }

  private onData(chunk: Buffer): void {
    for (const event of this.parser.push(chunk)) {
      const w = this.waiter;
      if (!w) continue;
      if ('frame' in event) {
        if (event.frame.adr === w.adr && event.frame.cid1 === CID1_BATTERY) {
          this.waiter = undefined;
          w.resolve(event.frame);
        }
      } else if (event.error.kind === 'crc') {
        // A corrupt answer: no valid one will follow for this request.
        this.waiter = undefined;
        w.reject(new DeviceError('crc', this.device, event.error.message));
      } else {
        // Noise or a cut-off frame; the real answer may still follow, so keep listening.
        w.noise = event.error;
      }
    }
  }

  private async open(): Promise<SerialPort> {
    if (this.port?.isOpen) return this.port;
    const port = new SerialPort({ path: this.options.path, baudRate: this.options.baudRate, autoOpen: false });
    try {
      await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    } catch (e) {
      throw new DeviceError('disconnected', this.device, `cannot open ${this.endpoint}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    port.on('data', (chunk: Buffer) => this.onData(chunk));
    const lost = (reason: string) => {
      if (this.port === port) this.port = undefined;
      const w = this.waiter;
      this.waiter = undefined;
      w?.reject(new DeviceError('disconnected', this.device, `${this.endpoint} went away: ${reason}`));
    };
    port.on('error', (e: Error) => {
      lost(e.message);
      if (port.isOpen) port.close(() => undefined);
    });
    port.on('close', () => lost('port closed'));
    this.port = port;
    return port;
  }

  async close(): Promise<void> {
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }
}
