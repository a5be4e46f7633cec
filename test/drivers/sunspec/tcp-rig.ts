/** Simulated SunSpec units behind a real Modbus TCP server, and a real TCP bus to them that counts requests. */
import { createModbusTcpBus } from '../../../drivers/modbus/tcp.ts';
import type { ModbusBus } from '../../../drivers/modbus/bus.ts';
import { ModbusFaults } from '../../../sim/modbus/faults.ts';
import type { RegisterSpace } from '../../../sim/modbus/register-space.ts';
import { startModbusTcpServer } from '../../../sim/modbus/tcp-server.ts';
import type { Clock } from '../../../src/time/clock.ts';

export interface TcpRig {
  bus: ModbusBus;
  faults: ModbusFaults;
  port: number;
  /** Requests the gateway sent since the last reset. */
  requests: { reads: number; writes: number };
  close(): Promise<void>;
}

export async function serveOverTcp(units: Map<number, RegisterSpace>, clock?: Clock): Promise<TcpRig> {
  const faults = new ModbusFaults();
  const server = await startModbusTcpServer({ port: 0, units, faults });
  const inner = createModbusTcpBus({ host: '127.0.0.1', port: server.port, timeoutMs: 1500, clock, backoff: { initialMs: 0, maxMs: 0, factor: 1 } });
  const requests = { reads: 0, writes: 0 };
  const bus: ModbusBus = {
    endpoint: inner.endpoint,
    readHoldingRegisters: (u, a, c) => (requests.reads++, inner.readHoldingRegisters(u, a, c)),
    readInputRegisters: (u, a, c) => (requests.reads++, inner.readInputRegisters(u, a, c)),
    writeRegisters: (u, a, v) => (requests.writes++, inner.writeRegisters(u, a, v)),
    readCoils: (u, a, c) => inner.readCoils(u, a, c),
    writeCoil: (u, a, on) => inner.writeCoil(u, a, on),
    health: (u) => inner.health(u),
    close: () => inner.close(),
  };
  return {
    bus,
    faults,
    port: server.port,
    requests,
    async close() {
      await inner.close();
      await server.close();
    },
  };
}
