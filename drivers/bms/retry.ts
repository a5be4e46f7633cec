/**
 * The house retry practice for a device the driver talks to directly (serial BMS, Firmata
 * relay board): each operation gets one immediate retry; when that fails too, the device is
 * left alone for an exponentially growing, capped back-off window, so a dead device costs
 * one timeout per window instead of one per control step. Failures are counted by kind.
 * The back-off arithmetic is the Modbus transports', so every driver backs off alike.
 */
import type { DeviceHealth } from '../../src/devices/capabilities.ts';
import { DeviceError, isDeviceError } from '../../src/devices/errors.ts';
import type { Clock } from '../../src/time/clock.ts';
import { backoffDelayMs, checkBackoffOptions, defaultBackoff, type BackoffOptions } from '../modbus/backoff.ts';

export class RetryPolicy {
  private consecutiveFailures = 0;
  private readonly errorCounts: DeviceHealth['errorCounts'] = {};
  private lastError?: DeviceError;
  private backoffUntilMs?: number;
  private readonly backoff: BackoffOptions;

  constructor(
    private readonly device: string,
    private readonly clock: Clock,
    backoff: BackoffOptions = defaultBackoff,
  ) {
    this.backoff = checkBackoffOptions(backoff);
  }

  /** Runs `attempt` (retried once); rejects with a DeviceError, `backoff` when not attempted. */
  async run<T>(attempt: () => Promise<T>): Promise<T> {
    if (this.backoffUntilMs !== undefined && this.clock.nowMs() < this.backoffUntilMs) {
      const error = new DeviceError('backoff', this.device, `not attempted: backing off until ${new Date(this.backoffUntilMs).toISOString()} after ${this.consecutiveFailures} failed operations`, { cause: this.lastError });
      this.count(error);
      throw error;
    }
    let error: DeviceError | undefined;
    for (let i = 0; i < 2; i++) {
      try {
        const value = await attempt();
        this.consecutiveFailures = 0;
        this.backoffUntilMs = undefined;
        return value;
      } catch (e) {
        error = isDeviceError(e) ? e : new DeviceError('garbage', this.device, `unexpected failure: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        this.count(error);
      }
    }
    this.consecutiveFailures++;
    this.lastError = error;
    this.backoffUntilMs = this.clock.nowMs() + backoffDelayMs(this.backoff, this.consecutiveFailures);
    throw error!;
  }

  private count(error: DeviceError): void {
    this.errorCounts[error.kind] = (this.errorCounts[error.kind] ?? 0) + 1;
  }

  health(): DeviceHealth {
    return {
      consecutiveFailures: this.consecutiveFailures,
      errorCounts: { ...this.errorCounts },
      ...(this.lastError ? { lastError: this.lastError } : {}),
      ...(this.backoffUntilMs !== undefined ? { backoffUntilMs: this.backoffUntilMs } : {}),
    };
  }
}
