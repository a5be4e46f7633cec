/**
 * A load relay on a pin of a johnny-five board (Firmata device or GPIO IO plugin). Switching
 * goes through johnny-five's `Relay` (close = load on; `activeLow` boards use its inverted
 * "NC" type); every switch is read back from the board.
 */
import type { DeviceHealth, LoadRelay, Reading, RelayValues } from '../../src/devices/capabilities.ts';
import { DeviceError } from '../../src/devices/errors.ts';
import { systemClock, type Clock } from '../../src/time/clock.ts';
import { DeviceHealthTracker, type BackoffOptions } from '../device-health.ts';
import type { IoBoard, IoConnection } from './io-board.ts';
import { asOwnError, readingOf } from '../reading.ts';

export interface JohnnyFiveRelayOptions {
  id: string;
  board: IoBoard;
  pin: number | string;
  activeLow?: boolean;
  ratedPowerKw: number;
  /** Deadline for the board's answer to a pin-state query. */
  timeoutMs?: number;
  clock?: Clock;
  backoff?: BackoffOptions;
}

export function createJohnnyFiveRelay(options: JohnnyFiveRelayOptions): LoadRelay {
  const { id, board } = options;
  const activeLow = options.activeLow ?? false;
  const timeoutMs = options.timeoutMs ?? 1_000;
  const clock = options.clock ?? systemClock;
  const tracker = new DeviceHealthTracker(id, clock, options.backoff);

  const connect = async (): Promise<IoConnection> => {
    const link = await board.connection().catch((e: unknown) => Promise.reject(asOwnError(e, id)));
    if (link.lost) throw asOwnError(link.lost, id);
    return link;
  };

  /** The level the board drives on the pin: asked from a Firmata board, the plugin's pin record otherwise. */
  const readLevel = async (link: IoConnection): Promise<number> => {
    const { io } = link;
    const pin = link.relay(options.pin, activeLow).pin;
    const query = io.queryPinState;
    if (typeof query !== 'function' || typeof pin !== 'number') {
      const level = io.pins[Number(pin)]?.value;
      if (level === undefined) throw new DeviceError('garbage', id, `IO plugin has no state for pin ${pin}`);
      return level;
    }
    return new Promise((resolve, reject) => {
      const event = `pin-state-${pin}`;
      const answered = () => {
        clearTimeout(timer);
        const state = io.pins[pin]?.state;
        if (state === undefined) reject(new DeviceError('garbage', id, `pin-state answer for pin ${pin} carries no state`));
        else resolve(state);
      };
      const timer = setTimeout(() => {
        io.removeListener(event, answered);
        reject(new DeviceError('timeout', id, `${board.endpoint} did not answer a pin-state query for pin ${pin} within ${timeoutMs} ms`));
      }, timeoutMs);
      query.call(io, pin, answered);
    });
  };
  const isOn = (level: number) => (level !== 0) !== activeLow;

  return {
    id,
    ratedPowerKw: options.ratedPowerKw,
    read: (): Promise<Reading<RelayValues>> => readingOf(clock, id, async () => ({ on: isOn(await tracker.run(async () => readLevel(await connect()))) })),
    switch(on: boolean): Promise<void> {
      return tracker.run(async () => {
        const link = await connect();
        const relay = link.relay(options.pin, activeLow);
        link.io.pinMode(relay.pin, link.io.MODES.OUTPUT);
        if (on) relay.close();
        else relay.open();
        const level = await readLevel(link);
        if (isOn(level) !== on) throw new DeviceError('mismatch', id, `switched ${on ? 'on' : 'off'} but pin ${relay.pin} reads ${level}`);
      });
    },
    health: (): DeviceHealth => tracker.health(),
    // The board is shared by its relays; whoever opened it closes it.
    close: async () => undefined,
  };
}
