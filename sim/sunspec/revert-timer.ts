/**
 * Firmware side of SunSpec *_RvrtTms: a setpoint that is not refreshed within its revert
 * time falls back to its safe default. The timer fires on the simulation clock even when
 * nobody reads the device (a gateway that died must not leave the battery discharging);
 * reads check it too, so a ManualClock that was advanced without waking sleepers still reverts.
 * `close()` (the device is switched off with the simulator) cancels the pending wake-up, so a
 * revert time of hours never keeps a stopped simulator's process alive.
 */
import type { Clock } from '../../src/time/clock.ts';

export class RevertTimer {
  private deadlineMs: number | undefined;
  private wake: AbortController | undefined;
  private closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly revert: () => void,
  ) {}

  /** (Re)starts the countdown; 0 s means "no timeout" in SunSpec, so nothing is armed. */
  arm(seconds: number): void {
    this.disarm();
    if (!(seconds > 0) || this.closed) return;
    this.deadlineMs = this.clock.nowMs() + seconds * 1000;
    const wake = (this.wake = new AbortController());
    void this.fireAtDeadline(wake.signal);
  }

  disarm(): void {
    this.wake?.abort();
    this.wake = undefined;
    this.deadlineMs = undefined;
  }

  close(): void {
    this.closed = true;
    this.disarm();
  }

  /** Reverts when the deadline has passed. */
  check(): void {
    if (this.deadlineMs !== undefined && this.clock.nowMs() >= this.deadlineMs) {
      this.disarm();
      this.revert();
    }
  }

  /** Seconds left before the fallback (for *RvrtRem points), 0 when not armed. */
  remainingSeconds(): number {
    return this.deadlineMs === undefined ? 0 : Math.max(0, Math.ceil((this.deadlineMs - this.clock.nowMs()) / 1000));
  }

  /** Timers may wake a little early against the clock (ms rounding at high clock speed): sleep again for the rest. */
  private async fireAtDeadline(signal: AbortSignal): Promise<void> {
    while (this.deadlineMs !== undefined && !signal.aborted) {
      if (!(await this.clock.sleep(Math.max(1, this.deadlineMs - this.clock.nowMs()), signal))) return;
      this.check();
    }
  }
}
