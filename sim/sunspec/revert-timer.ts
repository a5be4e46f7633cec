/**
 * Firmware side of SunSpec *_RvrtTms: a setpoint that is not refreshed within its revert
 * time falls back to its safe default. The timer fires on the simulation clock even when
 * nobody reads the device (a gateway that died must not leave the battery discharging);
 * reads check it too, so a ManualClock that was advanced without waking sleepers still reverts.
 */
import type { Clock } from '../../src/time/clock.ts';

export class RevertTimer {
  private deadlineMs: number | undefined;
  private armings = 0;

  constructor(
    private readonly clock: Clock,
    private readonly revert: () => void,
  ) {}

  /** (Re)starts the countdown; 0 s means "no timeout" in SunSpec, so nothing is armed. */
  arm(seconds: number): void {
    const arming = ++this.armings;
    if (!(seconds > 0)) {
      this.deadlineMs = undefined;
      return;
    }
    this.deadlineMs = this.clock.nowMs() + seconds * 1000;
    this.wakeAtDeadline(arming);
  }

  /** Timers may wake a little early against the clock (ms rounding at high clock speed): sleep again for the rest. */
  private wakeAtDeadline(arming: number): void {
    if (this.deadlineMs === undefined) return;
    void this.clock.sleep(Math.max(1, this.deadlineMs - this.clock.nowMs())).then(() => {
      if (arming !== this.armings) return;
      this.check();
      this.wakeAtDeadline(arming);
    });
  }

  disarm(): void {
    this.armings++;
    this.deadlineMs = undefined;
  }

  /** Reverts when the deadline has passed. */
  check(): void {
    if (this.deadlineMs !== undefined && this.clock.nowMs() >= this.deadlineMs) {
      this.deadlineMs = undefined;
      this.revert();
    }
  }

  /** Seconds left before the fallback (for *RvrtRem points), 0 when not armed. */
  remainingSeconds(): number {
    return this.deadlineMs === undefined ? 0 : Math.max(0, Math.ceil((this.deadlineMs - this.clock.nowMs()) / 1000));
  }
}
