/**
 * The house rule for a device that stops answering, in one place for every driver: one retry
 * on a fresh connection while the device was healthy, then an exponential, capped back-off
 * during which it is not tried at all, so a dead device costs one timeout per window instead
 * of one per control step (and does not stall the others on a shared line). The first attempt
 * after a window is a single probe. A device that answers with a protocol exception is alive:
 * no retry, no back-off. Failed operations are counted by kind.
 *
 * The Modbus bus keeps one tracker per unit id and places the retry itself (behind other
 * units' requests); drivers that own their link (the serial BMS, a Firmata board) use `run`.
 */
import type { DeviceHealth } from '../src/devices/capabilities.ts';
import { DeviceError, isDeviceError } from '../src/devices/errors.ts';
import type { Clock } from '../src/time/clock.ts';

/** After the n-th consecutive failed operation the device is left alone for initialMs × factor^(n−1), capped at maxMs. */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
}

const defaultBackoff: BackoffOptions = { initialMs: 1_000, maxMs: 60_000, factor: 2 };

/** Bad back-off options are a caller's bug: they throw a RangeError when the driver is built, not on the first failure. */
export function checkBackoff(backoff: BackoffOptions = defaultBackoff): BackoffOptions {
  const { initialMs, maxMs, factor } = backoff;
  if (!(initialMs >= 0) || !(maxMs >= initialMs) || !(factor >= 1)) {
    throw new RangeError(`back-off needs 0 <= initialMs <= maxMs and factor >= 1, got ${JSON.stringify(backoff)}`);
  }
  return backoff;
}

export class DeviceHealthTracker {
  private consecutiveFailures = 0;
  private readonly errorCounts: DeviceHealth['errorCounts'] = {};
  private lastError?: DeviceError;
  private backoffUntilMs?: number;
  private readonly backoff: BackoffOptions;

  /** `clock` measures the back-off windows (a ScaledClock shortens them with the simulation). */
  constructor(
    readonly device: string,
    private readonly clock: Clock,
    backoff?: BackoffOptions,
  ) {
    this.backoff = checkBackoff(backoff);
  }

  /** The error to reject with, counted, while the device is in its back-off window; undefined when it may be tried. */
  refusal(): DeviceError | undefined {
    if (this.backoffUntilMs === undefined || this.clock.nowMs() >= this.backoffUntilMs) return undefined;
    const error = new DeviceError('backoff', this.device, `not tried: backing off until ${new Date(this.backoffUntilMs).toISOString()} after ${this.consecutiveFailures} failed operation(s); last: ${this.lastError?.message ?? 'none'}`, { cause: this.lastError });
    this.count(error);
    return error;
  }

  /** A failed attempt earns one retry only while the device was healthy: a probe after a back-off window gets none. */
  retryAllowed(): boolean {
    return this.consecutiveFailures === 0;
  }

  /** The device answered (an exception answer counts as a failed operation, but the device is alive). */
  answered(exception?: DeviceError): void {
    this.consecutiveFailures = 0;
    this.backoffUntilMs = undefined;
    if (exception) this.count(exception);
  }

  /** The operation failed for good (after its retry, if any): the back-off window grows. */
  failed(error: DeviceError): void {
    this.consecutiveFailures += 1;
    this.count(error);
    const { initialMs, maxMs, factor } = this.backoff;
    this.backoffUntilMs = this.clock.nowMs() + Math.min(maxMs, initialMs * factor ** (this.consecutiveFailures - 1));
  }

  /**
   * Runs one operation of a driver that owns its link under the rule above. `attempt` must
   * start from a fresh connection when the previous one failed; anything it throws that is
   * not a DeviceError is a driver bug surfacing as `garbage`, never a crash.
   */
  async run<T>(attempt: () => Promise<T>): Promise<T> {
    const refused = this.refusal();
    if (refused) throw refused;
    let retried = false;
    for (;;) {
      try {
        const value = await attempt();
        this.answered();
        return value;
      } catch (e) {
        const error = isDeviceError(e) ? e : new DeviceError('garbage', this.device, `unexpected failure: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        if (error.kind === 'exception') {
          this.answered(error);
          throw error;
        }
        if (retried || !this.retryAllowed()) {
          this.failed(error);
          throw error;
        }
        retried = true;
      }
    }
  }

  health(): DeviceHealth {
    return {
      consecutiveFailures: this.consecutiveFailures,
      errorCounts: { ...this.errorCounts },
      ...(this.lastError ? { lastError: this.lastError } : {}),
      ...(this.backoffUntilMs !== undefined ? { backoffUntilMs: this.backoffUntilMs } : {}),
    };
  }

  private count(error: DeviceError): void {
    this.errorCounts[error.kind] = (this.errorCounts[error.kind] ?? 0) + 1;
    if (error.kind !== 'backoff') this.lastError = error;
  }
}
