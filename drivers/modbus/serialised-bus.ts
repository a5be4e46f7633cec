/**
 * The behaviour both transports share, on top of modbus-serial's client: one request on the
 * wire at a time (RS-485 is half-duplex and modbus-serial cannot interleave), a deadline per
 * request, one retry on a fresh connection, then exponential back-off per unit id, and every
 * failure turned into a DeviceError. tcp.ts and rtu.ts only say how to open a connection.
 */
import modbusSerial from 'modbus-serial';
import type { ModbusBus } from './bus.ts';
import { checkBackoff, DeviceHealthTracker, type BackoffOptions } from '../device-health.ts';
import { DeviceError, type DeviceErrorKind } from '../../src/devices/errors.ts';
import type { DeviceHealth } from '../../src/devices/capabilities.ts';
import { systemClock, type Clock } from '../../src/time/clock.ts';

export type ModbusClient = InstanceType<typeof modbusSerial.default>;
export const ModbusClientClass = modbusSerial.default;

export interface Link {
  /** e.g. "tcp://127.0.0.1:1502"; also the device name in errors unless a name is given. */
  readonly endpoint: string;
  /** Unit ids the transport can address (RTU: 1..247; TCP also 0 and 248..255). */
  readonly unitIds: { min: number; max: number };
  /**
   * Opens a connected client; rejects when the endpoint cannot be reached. A port that checks
   * framing modbus-serial does not (the MBAP header) reports an unusable answer through
   * `unusable`, which fails the request in flight as `garbage`.
   */
  open(unusable: (reason: string) => void): Promise<ModbusClient>;
  /** Failure kinds after which the connection is dropped, so the retry starts on a fresh one. */
  readonly reconnectAfter: ReadonlySet<DeviceErrorKind>;
}

export interface BusOptions {
  timeoutMs?: number;
  clock?: Clock;
  backoff?: BackoffOptions;
  name?: string;
}

const DEFAULT_TIMEOUT_MS = 1_000;

interface Job {
  unitId: number;
  what: string;
  run(client: ModbusClient): Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  retried: boolean;
}

const MAX_READ_REGISTERS = 125;
const MAX_WRITE_REGISTERS = 123;
const MAX_READ_COILS = 2000;

export class SerialisedModbusBus implements ModbusBus {
  readonly endpoint: string;
  private readonly name: string;
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private readonly backoff: BackoffOptions;
  /** Failures and back-off are per unit id: one silent device must not stall the others on the line. */
  private readonly units = new Map<number, DeviceHealthTracker>();
  private readonly queue: Job[] = [];
  private pumping = false;
  private closed = false;
  private client?: ModbusClient;
  /** Set by the 'close' listener of the connection the current request runs on. */
  private connectionLost?: () => void;
  /** Set while a request runs: its answer was refused by the port's own framing checks. */
  private answerUnusable?: (reason: string) => void;

  constructor(private readonly link: Link, options: BusOptions) {
    this.endpoint = link.endpoint;
    this.name = options.name ?? link.endpoint;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(this.timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${this.timeoutMs}`);
    this.clock = options.clock ?? systemClock;
    this.backoff = checkBackoff(options.backoff);
  }

  readHoldingRegisters(unitId: number, address: number, count: number): Promise<Uint16Array> {
    return this.readRegisters(unitId, address, count, 'holding', (client) => client.readHoldingRegisters(address, count));
  }

  readInputRegisters(unitId: number, address: number, count: number): Promise<Uint16Array> {
    return this.readRegisters(unitId, address, count, 'input', (client) => client.readInputRegisters(address, count));
  }

  private async readRegisters(unitId: number, address: number, count: number, table: string, read: (client: ModbusClient) => Promise<{ data: number[] }>): Promise<Uint16Array> {
    checkRange('count', count, 1, MAX_READ_REGISTERS);
    checkRange('address', address, 0, 0x10000 - count);
    return this.enqueue(unitId, `read ${count} ${table} registers at ${address}`, async (client) => {
      const res = await read(client);
      if (res.data.length !== count) throw new AnswerMismatch(`${res.data.length} registers for ${count} asked`);
      return Uint16Array.from(res.data);
    });
  }

  async writeRegisters(unitId: number, address: number, values: ArrayLike<number>): Promise<void> {
    const words = Array.from(values);
    checkRange('number of registers', words.length, 1, MAX_WRITE_REGISTERS);
    checkRange('address', address, 0, 0x10000 - words.length);
    words.forEach((v, i) => checkRange(`value ${i}`, v, 0, 0xffff));
    return this.enqueue(unitId, `write ${words.length} registers at ${address}`, async (client) => {
      const res = await client.writeRegisters(address, words);
      if (res.address !== address || res.length !== words.length) {
        throw new AnswerMismatch(`write acknowledged ${res.length} registers at ${res.address}`);
      }
    });
  }

  async readCoils(unitId: number, address: number, count: number): Promise<boolean[]> {
    checkRange('count', count, 1, MAX_READ_COILS);
    checkRange('address', address, 0, 0x10000 - count);
    return this.enqueue(unitId, `read ${count} coils at ${address}`, async (client) => {
      const res = await client.readCoils(address, count);
      if (res.buffer.length !== Math.ceil(count / 8)) throw new AnswerMismatch(`${res.buffer.length} coil bytes for ${count} coils`);
      return res.data.slice(0, count);
    });
  }

  async writeCoil(unitId: number, address: number, on: boolean): Promise<void> {
    checkRange('address', address, 0, 0xffff);
    return this.enqueue(unitId, `write coil ${address}`, async (client) => {
      const res = await client.writeCoil(address, on);
      if (res.address !== address || res.state !== on) throw new AnswerMismatch(`coil write echoed ${res.address}=${res.state}`);
    });
  }

  health(unitId: number): DeviceHealth {
    return this.unit(unitId).health();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(this.error(job.unitId, 'disconnected', 'bus closed'));
    this.connectionLost?.();
    await this.dropConnection();
  }

  /** Bad arguments reject with a RangeError (a caller's bug, not a device failure). */
  private enqueue<T>(unitId: number, what: string, run: (client: ModbusClient) => Promise<T>): Promise<T> {
    checkRange('unit id', unitId, this.link.unitIds.min, this.link.unitIds.max);
    if (this.closed) return Promise.reject(this.error(unitId, 'disconnected', 'bus closed'));
    const refused = this.unit(unitId).refusal();
    if (refused) return Promise.reject(refused);
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ unitId, what, run, resolve: resolve as (v: unknown) => void, reject, retried: false });
      void this.pump();
    });
  }

  /** Runs queued requests one by one; never throws, every job is settled. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let job = this.queue.shift(); job; job = this.queue.shift()) {
        const unit = this.unit(job.unitId);
        const refused = unit.refusal();
        if (refused) {
          job.reject(refused);
          continue;
        }
        try {
          const value = await this.attempt(job);
          unit.answered();
          job.resolve(value);
        } catch (e) {
          const error = e as DeviceError;
          if (this.link.reconnectAfter.has(error.kind)) await this.dropConnection();
          if (error.kind === 'exception') {
            // The device answered: it is alive, so no retry and no back-off; the caller decides.
            unit.answered(error);
            job.reject(error);
          } else if (!job.retried && unit.retryAllowed() && !this.closed) {
            // Retry once, behind whatever else is queued, so other units on the line wait at most one timeout.
            job.retried = true;
            this.queue.push(job);
          } else {
            unit.failed(error);
            job.reject(error);
          }
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /** One request on the wire; rejects only with a DeviceError. */
  private async attempt(job: Job): Promise<unknown> {
    if (this.closed) throw this.error(job.unitId, 'disconnected', 'bus closed');
    const client = await this.connection(job.unitId);
    client.setID(job.unitId);
    return new Promise((resolve, reject) => {
      let settled = false;
      // modbus-serial may still call back after the deadline or a lost connection: first outcome wins.
      const settle = (error: DeviceError | undefined, value?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.connectionLost = undefined;
        this.answerUnusable = undefined;
        if (error) reject(error);
        else resolve(value);
      };
      const timer = setTimeout(() => settle(this.error(job.unitId, 'timeout', `no answer to "${job.what}" within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.connectionLost = () => settle(this.error(job.unitId, 'disconnected', `connection lost during "${job.what}"`));
      this.answerUnusable = (reason) => settle(this.error(job.unitId, 'garbage', `unusable answer to "${job.what}": ${reason}`));
      Promise.resolve()
        .then(() => job.run(client))
        .then(
          (value) => settle(undefined, value),
          (e: unknown) => settle(this.classify(job.unitId, job.what, e)),
        );
    });
  }

  private async connection(unitId: number): Promise<ModbusClient> {
    if (this.client?.isOpen) return this.client;
    await this.dropConnection();
    let timer: NodeJS.Timeout | undefined;
    const opening = this.link.open((reason) => this.answerUnusable?.(reason));
    try {
      const client = await Promise.race([
        opening,
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not connected within ${this.timeoutMs} ms`)), this.timeoutMs))),
      ]);
      client.on('close', () => {
        if (this.client !== client) return;
        this.client = undefined;
        this.connectionLost?.();
      });
      this.client = client;
      return client;
    } catch (e) {
      opening.then((late) => disposeClient(late), () => undefined);
      throw this.error(unitId, 'disconnected', `cannot connect: ${messageOf(e)}`, e);
    } finally {
      clearTimeout(timer);
    }
  }

  private async dropConnection(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await disposeClient(client);
  }

  private classify(unitId: number, what: string, e: unknown): DeviceError {
    if (e instanceof DeviceError) return e;
    const err = e as { modbusCode?: unknown; message?: unknown; errno?: unknown };
    const message = messageOf(e);
    if (typeof err.modbusCode === 'number') {
      return this.error(unitId, 'exception', `"${what}" answered with Modbus exception ${err.modbusCode}`, e, err.modbusCode);
    }
    if (message === 'CRC error') return this.error(unitId, 'crc', `answer to "${what}" failed its CRC`, e);
    if (err.errno === 'ETIMEDOUT') return this.error(unitId, 'timeout', `no answer to "${what}"`, e);
    if (err.errno === 'ECONNREFUSED' || /Port Not Open|EPIPE|ECONNRESET|closed/i.test(message)) {
      return this.error(unitId, 'disconnected', `"${what}" failed: ${message}`, e);
    }
    return this.error(unitId, 'garbage', `unusable answer to "${what}": ${message}`, e);
  }

  private unit(unitId: number): DeviceHealthTracker {
    let u = this.units.get(unitId);
    if (!u) this.units.set(unitId, (u = new DeviceHealthTracker(this.deviceName(unitId), this.clock, this.backoff)));
    return u;
  }

  private deviceName(unitId: number): string {
    return `${this.name} unit ${unitId}`;
  }

  private error(unitId: number, kind: DeviceErrorKind, message: string, cause?: unknown, code?: number): DeviceError {
    return new DeviceError(kind, this.deviceName(unitId), message, {
      ...(code !== undefined ? { code } : {}),
      ...(cause !== undefined ? { cause } : {}),
    });
  }
}

/** A well-formed answer that does not fit the question (wrong count, wrong echo). */
class AnswerMismatch extends Error {}

function checkRange(what: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`Modbus ${what} must be an integer in ${min}..${max}, got ${value}`);
}

function messageOf(e: unknown): string {
  return e instanceof Error || (typeof e === 'object' && e !== null && 'message' in e) ? String((e as { message: unknown }).message) : String(e);
}

/** Closes a client without waiting on a peer that may never answer. */
function disposeClient(client: ModbusClient): Promise<void> {
  return new Promise((resolve) => {
    const done = setTimeout(resolve, 1_000);
    try {
      client.destroy(() => {
        clearTimeout(done);
        resolve();
      });
    } catch {
      clearTimeout(done);
      resolve();
    }
  });
}
