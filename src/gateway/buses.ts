/** The board's buses, shared by the devices on them. */
import type { Clock } from '../time/clock.ts';
import type { BoardProfile, BusProfile } from '../config/board.ts';
import type { ModbusBus } from '../../drivers/modbus/bus.ts';
import { createModbusTcpBus } from '../../drivers/modbus/tcp.ts';
import { createModbusRtuBus } from '../../drivers/modbus/rtu.ts';
import { openFirmataBoard, openIoPluginBoard, type IoBoard } from '../../drivers/relay/io-board.ts';

/** Each bus is opened once, on first use, and closed with the gateway (devices share them). */
export class Buses {
  private readonly modbusBuses = new Map<string, ModbusBus>();
  private readonly boards = new Map<string, Promise<IoBoard>>();
  private readonly closers: { close: () => Promise<void>; key?: string }[] = [];
  private closed = false;

  constructor(
    private readonly board: BoardProfile,
    private readonly clock: Clock,
  ) {}

  profile(name: string): BusProfile {
    return this.board.buses[name]!;
  }

  endpoint(name: string): string {
    const bus = this.profile(name);
    switch (bus.type) {
      case 'modbus-tcp':
        return `tcp://${bus.host}:${bus.port}`;
      case 'modbus-rtu':
        return `rtu:${bus.path}@${bus.baudRate}`;
      case 'serial':
        return `${bus.protocol}:${bus.path}@${bus.baudRate}`;
      case 'firmata':
        return `firmata:${bus.path}`;
      case 'gpio':
        return `gpio:${bus.ioPlugin}`;
    }
  }

  modbus(name: string): ModbusBus {
    this.checkOpen();
    let bus = this.modbusBuses.get(name);
    if (bus) return bus;
    const p = this.profile(name);
    const common = { clock: this.clock, name, ...(p.timeoutMs ? { timeoutMs: p.timeoutMs } : {}) };
    if (p.type === 'modbus-tcp') bus = createModbusTcpBus({ host: p.host, port: p.port, ...common });
    else if (p.type === 'modbus-rtu') bus = createModbusRtuBus({ path: p.path, baudRate: p.baudRate, ...(p.parity ? { parity: p.parity } : {}), ...(p.adapterLatencyMs !== undefined ? { adapterLatencyMs: p.adapterLatencyMs } : {}), ...common });
    else throw new Error(`bus "${name}" is ${p.type}, not Modbus`);
    this.modbusBuses.set(name, bus);
    this.own(() => bus.close());
    return bus;
  }

  ioBoard(name: string): Promise<IoBoard> {
    this.checkOpen();
    let board = this.boards.get(name);
    if (board) return board;
    const p = this.profile(name);
    if (p.type === 'firmata') board = openFirmataBoard({ path: p.path, ...(p.baudRate ? { baudRate: p.baudRate } : {}), ...(p.timeoutMs ? { timeoutMs: p.timeoutMs } : {}) });
    else if (p.type === 'gpio') board = openIoPluginBoard({ ioPlugin: p.ioPlugin, ...(p.ioOptions ? { ioOptions: p.ioOptions } : {}), ...(p.timeoutMs ? { timeoutMs: p.timeoutMs } : {}) });
    else throw new Error(`bus "${name}" is ${p.type}, not a pin board`);
    this.boards.set(name, board);
    // A board that did not open is opened afresh next time (it may be plugged in later).
    board.then((b) => this.own(() => b.close())).catch(() => this.boards.delete(name));
    return board;
  }

  /** Closed with the gateway, newest first; a closer under the `key` of an earlier one replaces it. */
  own(close: () => Promise<void>, key?: string): void {
    const at = key === undefined ? -1 : this.closers.findIndex((c) => c.key === key);
    if (at >= 0) this.closers.splice(at, 1);
    this.closers.push({ close, ...(key !== undefined ? { key } : {}) });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.closers.splice(0).reverse()) await c.close().catch(() => undefined);
  }

  /** A device tried again while the gateway closes must not open what nobody will close. */
  private checkOpen(): void {
    if (this.closed) throw new Error('the gateway is closed');
  }
}
