/**
 * The socket side of the TCP client: a port that modbus-serial drives through its custom-port
 * hook (`new ModbusRTU(port)`: open/close/destroy/write/isOpen plus data/error/close events),
 * as rtu-port.ts does for serial lines. modbus-serial's own TcpPort frames by the MBAP length
 * only and passes on whatever protocol id the header carries, so another protocol's frame on
 * port 502 (protocol id ≠ 0) is read as register data. This port checks the whole header —
 * protocol id 0, a length a Modbus PDU can have, the transaction id of the request in flight —
 * and reports anything else through `unusable`, which the bus turns into a `garbage` error;
 * the bus then drops the connection, because a byte stream that broke its framing once cannot
 * be trusted to resynchronise.
 */
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { withCrc } from './crc16.ts';

const MBAP_HEADER_BYTES = 7;
const MODBUS_PROTOCOL_ID = 0;
/** MBAP length counts the unit id and the PDU (at most 253 bytes); an answer is at least function code + one byte. */
const MBAP_LENGTH = { min: 3, max: 254 };
const CRC_BYTES = 2;

export class MbapTcpPort extends EventEmitter {
  private socket: Socket | undefined;
  private buffer = Buffer.alloc(0);
  private transactionId = 0;
  /** Transaction id of the request waiting for its answer; undefined when none is. */
  private waitingFor: number | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly unusable: (reason: string) => void,
  ) {
    super();
  }

  get isOpen(): boolean {
    return this.socket?.readyState === 'open';
  }

  open(callback: (error?: Error | null) => void): void {
    const socket = (this.socket = connect({ host: this.host, port: this.port }));
    let connected = false;
    socket.setNoDelay(true);
    socket.once('connect', () => {
      connected = true;
      callback(null);
    });
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (e: Error) => {
      if (!connected) callback(e);
      // modbus-serial stops listening once it closes the port; an error after that must not go unhandled.
      else if (this.listenerCount('error') > 0) this.emit('error', e);
    });
    socket.on('close', () => {
      if (connected) this.emit('close');
    });
  }

  close(callback: (error?: Error | null) => void = () => undefined): void {
    this.socket?.end(() => callback(null));
    if (!this.socket) callback(null);
  }

  destroy(): void {
    this.socket?.destroy();
  }

  /** `frame` is what modbus-serial builds for RTU: unit id, PDU, CRC. TCP carries the first two in MBAP instead of the CRC. */
  write(frame: Buffer): void {
    if (!this.socket) return;
    this.transactionId = (this.transactionId + 1) & 0xffff;
    this.waitingFor = this.transactionId;
    this.buffer = Buffer.alloc(0);
    const body = frame.subarray(0, frame.length - CRC_BYTES);
    const header = Buffer.alloc(MBAP_HEADER_BYTES - 1);
    header.writeUInt16BE(this.transactionId, 0);
    header.writeUInt16BE(MODBUS_PROTOCOL_ID, 2);
    header.writeUInt16BE(body.length, 4);
    this.socket.write(Buffer.concat([header, body]));
  }

  private receive(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= MBAP_HEADER_BYTES) {
      const transactionId = this.buffer.readUInt16BE(0);
      const protocolId = this.buffer.readUInt16BE(2);
      const length = this.buffer.readUInt16BE(4);
      if (protocolId !== MODBUS_PROTOCOL_ID) return this.reject(`MBAP protocol id ${protocolId}, not ${MODBUS_PROTOCOL_ID} (Modbus)`);
      if (length < MBAP_LENGTH.min || length > MBAP_LENGTH.max) return this.reject(`MBAP length ${length}, not ${MBAP_LENGTH.min}..${MBAP_LENGTH.max}`);
      if (this.buffer.length < MBAP_HEADER_BYTES - 1 + length) return;
      if (transactionId !== this.waitingFor) return this.reject(`MBAP transaction id ${transactionId}, expected ${this.waitingFor ?? 'none (no request in flight)'}`);
      const body = this.buffer.subarray(MBAP_HEADER_BYTES - 1, MBAP_HEADER_BYTES - 1 + length);
      this.buffer = this.buffer.subarray(MBAP_HEADER_BYTES - 1 + length);
      this.waitingFor = undefined;
      // modbus-serial checks an RTU CRC on everything a port delivers.
      this.emit('data', withCrc(body));
    }
  }

  private reject(reason: string): void {
    this.buffer = Buffer.alloc(0);
    this.waitingFor = undefined;
    this.unusable(reason);
    this.socket?.destroy();
  }
}
