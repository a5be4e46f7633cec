/** How every driver reports: a failure is a typed DeviceError, never a stale number or a crash. */
import type { Reading } from '../src/devices/capabilities.ts';
import { DeviceError, isDeviceError } from '../src/devices/errors.ts';
import type { Clock } from '../src/time/clock.ts';

/** Turns a driver's read into a Reading; a failure that is not a DeviceError reads as garbage. */
export async function readingOf<T>(clock: Clock, device: string, read: () => Promise<T>): Promise<Reading<T>> {
  try {
    const value = await read();
    return { ok: true, value, atMs: clock.nowMs() };
  } catch (e) {
    const error = isDeviceError(e) ? e : new DeviceError('garbage', device, `unreadable answer: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    return { ok: false, error, atMs: clock.nowMs() };
  }
}

/**
 * A failure under this device's name: a channel on a shared bus or board (one relay of
 * several) must not report as the bus, or the caller cannot tell which load failed.
 */
export function asOwnError(e: unknown, device: string): DeviceError {
  if (!isDeviceError(e)) return new DeviceError('garbage', device, String(e), { cause: e });
  return e.device === device ? e : new DeviceError(e.kind, device, e.message, { ...e.detail, cause: e });
}

/** A value the device cannot mean (e.g. 40 MW from a house meter) is garbage, not a reading. */
export function plausible(device: string, what: string, value: number, limit: number): number {
  if (!Number.isFinite(value) || Math.abs(value) > limit) throw new DeviceError('garbage', device, `${what} = ${value} is outside ±${limit}`);
  return value;
}
