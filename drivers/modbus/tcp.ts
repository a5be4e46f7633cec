/**
 * Modbus TCP client bus on modbus-serial's TcpPort. Any failure other than an exception
 * answer drops the socket, so the retry (and every later request) starts on a fresh
 * connection: after a timeout or a garbled answer the byte stream cannot be trusted.
 */
import type { ModbusBus } from './bus.ts';
import type { BackoffOptions } from '../device-health.ts';
import type { Clock } from '../../src/time/clock.ts';
import { ModbusClientClass, SerialisedModbusBus, type ModbusClient } from './serialised-bus.ts';

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
      async open(): Promise<ModbusClient> {
        const client = new ModbusClientClass();
        // modbus-serial re-emits socket errors on the client; the bus sees their effect as a failed request.
        client.on('error', () => undefined);
        await client.connectTCP(host, { port });
        return client;
      },
    },
    options,
  );
}
