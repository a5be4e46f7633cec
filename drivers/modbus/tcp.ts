/**
 * Modbus TCP client bus: modbus-serial's client on our MBAP port (tcp-port.ts), which checks
 * the protocol id, length and transaction id of every answer. Any failure other than an
 * exception answer drops the socket, so the retry (and every later request) starts on a fresh
 * connection: after a timeout or a garbled answer the byte stream cannot be trusted.
 */
import type { ModbusBus } from './bus.ts';
import type { BackoffOptions } from '../device-health.ts';
import type { Clock } from '../../src/time/clock.ts';
import { ModbusClientClass, SerialisedModbusBus, type ModbusClient } from './serialised-bus.ts';
import { MbapTcpPort } from './tcp-port.ts';

export interface ModbusTcpBusOptions {
  host: string;
  port: number;
  timeoutMs?: number;
  clock?: Clock;
  backoff?: BackoffOptions;
  name?: string;
}

export function createModbusTcpBus(options: ModbusTcpBusOptions): ModbusBus {
  const { host, port } = options;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`Modbus TCP port must be 1..65535, got ${port}`);
  return new SerialisedModbusBus(
    {
      endpoint: `tcp://${host}:${port}`,
      unitIds: { min: 0, max: 255 },
      reconnectAfter: new Set(['timeout', 'disconnected', 'crc', 'garbage']),
      open(unusable): Promise<ModbusClient> {
        const client = new ModbusClientClass(new MbapTcpPort(host, port, unusable));
        // modbus-serial re-emits socket errors on the client; the bus sees their effect as a failed request.
        client.on('error', () => undefined);
        return new Promise((resolve, reject) => client.open((error?: Error | null) => (error ? reject(error) : resolve(client))));
      },
    },
    options,
  );
}
