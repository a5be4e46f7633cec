/**
 * Refresh policy for setpoints that the device reverts on its own when not refreshed
 * (SunSpec *_RvrtTms). The same command is re-sent at most every half revert time, so a
 * gateway that keeps asking keeps the setpoint alive while never flooding the bus; a
 * gateway that stops asking (crashed, cut off) lets the device fall back to safe.
 */
import type { Clock } from '../../src/time/clock.ts';

export class FailSafeControl {
  private last: { key: string; atMs: number } | undefined;

  constructor(private readonly clock: Clock) {}

  /** Runs `write` unless the same command (`key`) was written less than half of `revertAfterMs` ago. */
  async command(key: string, revertAfterMs: number, write: () => Promise<void>): Promise<void> {
    const now = this.clock.nowMs();
    if (this.last && this.last.key === key && now - this.last.atMs < revertAfterMs / 2) return;
    // Forget first: a failed write must be retried on the next call, not skipped.
    this.last = undefined;
    await write();
    this.last = { key, atMs: now };
  }
}

/** SunSpec revert times are whole seconds and 0 means "never revert", so round up and never send 0. */
export function revertSeconds(revertAfterMs: number, maxSeconds: number): number {
  if (!(revertAfterMs > 0) || !Number.isFinite(revertAfterMs)) throw new RangeError(`revertAfterMs must be a positive number of milliseconds, got ${revertAfterMs}`);
  const s = Math.max(1, Math.ceil(revertAfterMs / 1000));
  if (s > maxSeconds) throw new RangeError(`revert time ${s} s exceeds the device's maximum of ${maxSeconds} s`);
  return s;
}
