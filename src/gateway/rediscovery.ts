/**
 * Devices missing at start-up are tried again: an inverter asleep at night, a Pi that boots
 * before the inverter after a power cut, a USB adapter that enumerates late. Each missing device
 * gets its own attempts on the gateway clock, with a growing pause (default 5 s, doubling, at
 * most 5 min), until it answers; then it is handed over and no longer tried. A device that
 * vanishes after it was found is not this module's business: its driver keeps it and the bus's
 * per-unit back-off (drivers/device-health.ts) tries it again, so it comes back by itself.
 */
import type { Clock } from '../time/clock.ts';
import type { OpenedDevice } from './opened-device.ts';

export interface RediscoveryBackoff {
  initialMs: number;
  maxMs: number;
  factor: number;
}

const DEFAULT_BACKOFF: RediscoveryBackoff = { initialMs: 5_000, maxMs: 300_000, factor: 2 };

export interface RediscoveryOptions {
  ids: readonly string[];
  clock: Clock;
  backoff?: RediscoveryBackoff;
  /** One more try of a device. */
  attempt(id: string): Promise<OpenedDevice>;
  /** Every outcome, found or still missing (the report then says why). */
  update(id: string, opened: OpenedDevice): void;
}

export function rediscover(options: RediscoveryOptions): { stop(): void } {
  const { initialMs, maxMs, factor } = options.backoff ?? DEFAULT_BACKOFF;
  if (!(initialMs > 0) || !(maxMs >= initialMs) || !(factor >= 1)) throw new RangeError(`rediscovery back-off needs 0 < initialMs <= maxMs and factor >= 1, got ${JSON.stringify(options.backoff)}`);
  const stopped = new AbortController();
  const retry = async (id: string) => {
    for (let n = 0; ; n++) {
      if (!(await options.clock.sleep(Math.min(maxMs, initialMs * factor ** n), stopped.signal))) return;
      const opened = await options.attempt(id);
      if (stopped.signal.aborted) return;
      options.update(id, opened);
      if (opened.probe.found) return;
    }
  };
  for (const id of options.ids) void retry(id);
  return { stop: () => stopped.abort() };
}
