/**
 * What a Modbus transport (TCP or RTU) offers the device drivers above it. SunSpec and relay
 * drivers talk to this, never to sockets or serial ports. Every method either resolves with
 * the data or rejects with a DeviceError (kind timeout, disconnected, exception, crc, garbage
 * or backoff); retries, reconnects and back-off live below this line.
 */
import type { DeviceHealth } from '../../src/devices/capabilities.ts';

export interface ModbusBus {
  /** Human-readable endpoint, e.g. "tcp://127.0.0.1:1502" or "rtu:/dev/ttyUSB0@9600". */
  readonly endpoint: string;
  readHoldingRegisters(unitId: number, address: number, count: number): Promise<Uint16Array>;
  /** Function code 4: the read-only table meters such as the Eastron SDM630 keep their measurements in. */
  readInputRegisters(unitId: number, address: number, count: number): Promise<Uint16Array>;
  writeRegisters(unitId: number, address: number, values: ArrayLike<number>): Promise<void>;
  readCoils(unitId: number, address: number, count: number): Promise<boolean[]>;
  writeCoil(unitId: number, address: number, on: boolean): Promise<void>;
  /** Failures and back-off are tracked per unit id: one silent device must not stall the others on a shared RS-485 line. */
  health(unitId: number): DeviceHealth;
  close(): Promise<void>;
}

/** Modbus exception codes (Modbus Application Protocol v1.1b3, §7). */
export const ModbusExceptionCode = {
  IllegalFunction: 1,
  IllegalDataAddress: 2,
  IllegalDataValue: 3,
  ServerDeviceFailure: 4,
  Acknowledge: 5,
  ServerDeviceBusy: 6,
  GatewayPathUnavailable: 10,
  GatewayTargetFailedToRespond: 11,
} as const;
