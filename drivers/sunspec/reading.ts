/** Turns a driver's read into a Reading: any failure becomes a typed error, never a stale number. */
import type { Reading } from '../../src/devices/capabilities.ts';
import { DeviceError, isDeviceError } from '../../src/devices/errors.ts';
import type { Clock } from '../../src/time/clock.ts';

export async function readingOf<T>(clock: Clock, device: string, read: () => Promise<T>): Promise<Reading<T>> {
  try {
    const value = await read();
    return { ok: true, value, atMs: clock.nowMs() };
  } catch (e) {
    const error = isDeviceError(e) ? e : new DeviceError('garbage', device, `unreadable answer: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    return { ok: false, error, atMs: clock.nowMs() };
  }
}

/** A value the device cannot mean (e.g. 40 MW from a house meter) is garbage, not a reading. */
export function plausible(device: string, what: string, value: number, limit: number): number {
  if (!Number.isFinite(value) || Math.abs(value) > limit) throw new DeviceError('garbage', device, `${what} = ${value} is outside ±${limit}`);
  return value;
}
