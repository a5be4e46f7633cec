/**
 * A johnny-five board on an IO plugin, for the relays wired to it: either a Firmata device
 * (an Arduino, or the simulator's virtual board) through firmata-io over a serialport-13 port
 * — johnny-five's own serialport 8 binding is not built here — or a GPIO IO plugin such as
 * raspi-io / pigpio-io on a Raspberry Pi, loaded by module name at run time because it only
 * installs on a Pi. A Firmata board whose link went away is reopened on next use.
 */
import { createRequire } from 'node:module';
import { SerialPort } from 'serialport';
import { DeviceError } from '../../src/devices/errors.ts';

const require = createRequire(import.meta.url);

/** What the relay driver uses of an IO plugin (the johnny-five IO plugin interface). */
export interface IoPlugin {
  readonly MODES: { OUTPUT: number };
  pins: { value?: number; state?: number }[];
  pinMode(pin: number | string, mode: number): void;
  /** Firmata only: asks the board for a pin's mode and driven level. */
  queryPinState?(pin: number, callback: () => void): void;
  removeListener(event: string, listener: (...args: unknown[]) => void): void;
  on(event: string, listener: (...args: unknown[]) => void): void;
}

export interface J5Relay {
  /** The pin as johnny-five normalised it. */
  readonly pin: number | string;
  open(): void;
  close(): void;
}
type Listener = (...args: unknown[]) => void;
interface J5 {
  Board: new (options: Record<string, unknown>) => { on(event: string, listener: Listener): void; once(event: string, listener: Listener): void };
  Relay: new (options: Record<string, unknown>) => J5Relay;
}

/** One live link to the board. */
export interface IoConnection {
  readonly io: IoPlugin;
  /** Set once this link is gone; a new connection is then needed. */
  readonly lost: DeviceError | undefined;
  /** johnny-five's Relay on `pin`, one per pin and link. */
  relay(pin: number | string, activeLow: boolean): J5Relay;
}

export interface IoBoard {
  readonly endpoint: string;
  /** The live link; after the previous one was lost, opens a new one (rejects with a DeviceError). */
  connection(): Promise<IoConnection>;
  close(): Promise<void>;
}

interface Link extends IoConnection {
  close(): Promise<void>;
}

/**
 * Starts a johnny-five Board on `io`. johnny-five waits for the plugin's "connect" and then
 * "ready" events, so `connect` (after which the plugin emits "connect") runs once the Board
 * listens.
 */
async function linkOn(io: IoPlugin, endpoint: string, timeoutMs: number, connect: () => Promise<void>, closeLink: () => Promise<void>, lost: () => DeviceError | undefined): Promise<Link> {
  const five = require('johnny-five') as J5;
  // repl/debug/sigint off: the gateway owns the terminal, the log and process signals.
  const board = new five.Board({ io, repl: false, debug: false, sigint: false, timeout: timeoutMs });
  // From the start: johnny-five's own connect timeout can emit 'error' after ours has already given
  // up (seen on a loaded machine), and an 'error' with no listener would end the process. Errors
  // surface through `ready` below, then as `lost` and as failed operations.
  board.on('error', () => undefined);
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DeviceError('timeout', endpoint, `board did not become ready within ${timeoutMs} ms`)), timeoutMs);
    board.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
    board.once('error', (e) => {
      clearTimeout(timer);
      reject(new DeviceError('disconnected', endpoint, `board failed to start: ${e instanceof Error ? e.message : String(e)}`, { cause: e }));
    });
  });
  try {
    await connect();
    await ready;
  } catch (e) {
    ready.catch(() => undefined);
    await closeLink();
    throw e;
  }
  const relays = new Map<string, J5Relay>();
  return {
    io,
    get lost() {
      return lost();
    },
    relay(pin, activeLow) {
      const key = `${pin}:${activeLow}`;
      let relay = relays.get(key);
      if (!relay) relays.set(key, (relay = new five.Relay({ pin, type: activeLow ? 'NC' : 'NO', board })));
      return relay;
    },
    close: closeLink,
  };
}

/** A board whose link is reopened (once at a time) when it was lost. */
async function reconnecting(endpoint: string, open: () => Promise<Link>): Promise<IoBoard> {
  let current = await open();
  let reopening: Promise<Link> | undefined;
  let closed = false;
  return {
    endpoint,
    connection() {
      if (closed) return Promise.reject(new DeviceError('disconnected', endpoint, 'board closed'));
      if (!current.lost) return Promise.resolve(current);
      reopening ??= current
        .close()
        .then(open)
        .then((link) => (current = link))
        .finally(() => (reopening = undefined));
      return reopening;
    },
    async close() {
      closed = true;
      await current.close();
    },
  };
}

export interface FirmataBoardOptions {
  path: string;
  baudRate?: number;
  /** Handshake deadline (version, firmware, capabilities). */
  timeoutMs?: number;
}

export function openFirmataBoard(options: FirmataBoardOptions): Promise<IoBoard> {
  const baudRate = options.baudRate ?? 57600;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const endpoint = `firmata:${options.path}@${baudRate}`;
  const { Firmata } = require('firmata-io') as { Firmata: new (port: SerialPort, options: Record<string, unknown>) => IoPlugin };
  const open = (): Promise<Link> => {
    const port = new SerialPort({ path: options.path, baudRate, autoOpen: false });
    let lost: DeviceError | undefined;
    port.on('error', (e: Error) => (lost ??= new DeviceError('disconnected', endpoint, `link lost: ${e.message}`)));
    // A pty (like an Arduino whose auto-reset is disabled) does not volunteer its version on
    // open, so ask soon instead of after firmata.js's default 5 s; writes wait for the open.
    const io = new Firmata(port, { reportVersionTimeout: 50 });
    io.on('error', () => undefined);
    const connect = async () => {
      try {
        await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
      } catch (e) {
        throw new DeviceError('disconnected', endpoint, `cannot open ${options.path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      port.on('close', () => (lost ??= new DeviceError('disconnected', endpoint, 'port closed')));
    };
    const closeLink = () => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve()));
    return linkOn(io, endpoint, timeoutMs, connect, closeLink, () => lost);
  };
  return reconnecting(endpoint, open);
}

export interface IoPluginBoardOptions {
  /** Module name of a johnny-five IO plugin, e.g. "raspi-io" or "pigpio-io". */
  ioPlugin: string;
  ioOptions?: Record<string, unknown>;
  timeoutMs?: number;
}

export async function openIoPluginBoard(options: IoPluginBoardOptions): Promise<IoBoard> {
  const endpoint = `gpio:${options.ioPlugin}`;
  let mod: unknown;
  try {
    mod = await import(options.ioPlugin);
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new DeviceError(
      'disconnected',
      endpoint,
      code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
        ? `IO plugin "${options.ioPlugin}" is not installed. It only installs on the board it drives: on the Pi run \`npm install ${options.ioPlugin}\` in the gateway's folder (see docs/relays.md)`
        : `IO plugin "${options.ioPlugin}" failed to load: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
  // raspi-io exports { RaspiIO }; most plugins export the class as default.
  const exported = mod as { default?: unknown; RaspiIO?: unknown };
  const candidate = typeof exported.default === 'function' ? exported.default : ((exported.default as { RaspiIO?: unknown } | undefined)?.RaspiIO ?? exported.RaspiIO);
  if (typeof candidate !== 'function') throw new DeviceError('discovery', endpoint, `module "${options.ioPlugin}" does not export a johnny-five IO plugin class`);
  const Plugin = candidate as new (options: Record<string, unknown>) => IoPlugin;
  // GPIO is on the board itself: there is no link to lose and reopen.
  return reconnecting(endpoint, () => linkOn(new Plugin(options.ioOptions ?? {}), endpoint, options.timeoutMs ?? 5_000, async () => undefined, async () => undefined, () => undefined));
}
