/**
 * Modbus RTU client bus on a serial port (serialport 13) through modbus-serial. The port is
 * reopened only when it was lost; after a timeout, CRC error or garbled answer the "fresh
 * connection" of a serial line is an emptied receive buffer, which every request starts with
 * (see rtu-port.ts).
 */
import type { ModbusBus } from './bus.ts';
import type { BackoffOptions } from '../device-health.ts';
import type { Clock } from '../../src/time/clock.ts';
import { ModbusClientClass, SerialisedModbusBus, type ModbusClient } from './serialised-bus.ts';
import { DEFAULT_ADAPTER_LATENCY_MS, RtuFramedPort, type Parity } from './rtu-port.ts';

export interface ModbusRtuBusOptions {
  path: string;
  baudRate: number;
  parity?: Parity;
  /**
   * How long the serial adapter may hold received bytes before handing them over (a USB–RS485
   * adapter's latency timer; ~0 for a UART on the board). Default 16 ms (FTDI's default).
   */
  adapterLatencyMs?: number;
  timeoutMs?: number;
  clock?: Clock;
  backoff?: BackoffOptions;
  name?: string;
}

export function createModbusRtuBus(options: ModbusRtuBusOptions): ModbusBus {
  const { path, baudRate } = options;
  const parity = options.parity ?? 'none';
  if (!Number.isInteger(baudRate) || baudRate <= 0) throw new RangeError(`baud rate must be a positive integer, got ${baudRate}`);
  return new SerialisedModbusBus(
    {
      endpoint: `rtu:${path}@${baudRate}`,
      unitIds: { min: 1, max: 247 },
      reconnectAfter: new Set(['disconnected']),
      open(): Promise<ModbusClient> {
        const client = new ModbusClientClass(new RtuFramedPort(path, baudRate, parity, options.adapterLatencyMs ?? DEFAULT_ADAPTER_LATENCY_MS));
        client.on('error', () => undefined);
        return new Promise((resolve, reject) => client.open((error?: Error | null) => (error ? reject(error) : resolve(client))));
      },
    },
    options,
  );
}
