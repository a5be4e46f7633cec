/**
 * Time is passed in, never read from globals, so the simulator and the gateway can run
 * faster than real time and tests can step time by hand.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch, in this clock's time. */
  nowMs(): number;
  /**
   * Resolves true after `durationMs` of this clock's time, or false as soon as `signal`
   * aborts (so a cancelled wait holds no timer that keeps a stopping process alive).
   */
  sleep(durationMs: number, signal?: AbortSignal): Promise<boolean>;
}

/** A real-timer sleep of `wallMs` that an abort cancels. */
function wallSleep(wallMs: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, Math.max(0, wallMs));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  sleep: (durationMs, signal) => wallSleep(durationMs, signal),
};

/**
 * Simulated time that runs `speed` times faster than the wall clock, starting at `startMs`.
 * Wall-clock time is the source of truth, so two processes given the same start and speed
 * agree on "now" without talking to each other.
 */
export class ScaledClock implements Clock {
  private readonly wallStartMs: number;

  constructor(readonly startMs: number, readonly speed: number, wallNowMs: number = Date.now()) {
    if (!(speed > 0)) throw new RangeError(`clock speed must be > 0, got ${speed}`);
    this.wallStartMs = wallNowMs;
  }

  nowMs(): number {
    return this.startMs + (Date.now() - this.wallStartMs) * this.speed;
  }

  sleep(durationMs: number, signal?: AbortSignal): Promise<boolean> {
    return wallSleep(durationMs / this.speed, signal);
  }
}

/** A clock that only moves when told to: for tests that need exact instants. */
export class ManualClock implements Clock {
  private waiters: { atMs: number; resolve: (elapsed: boolean) => void }[] = [];

  constructor(private currentMs = 0) {}

  nowMs(): number {
    return this.currentMs;
  }

  sleep(durationMs: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter = { atMs: this.currentMs + Math.max(0, durationMs), resolve };
      this.waiters.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          resolve(false);
        },
        { once: true },
      );
    });
  }

  /** Moves time forward and wakes every sleeper whose instant has come, in order. */
  advance(durationMs: number): void {
    this.currentMs += durationMs;
    const due = this.waiters.filter((w) => w.atMs <= this.currentMs).sort((a, b) => a.atMs - b.atMs);
    this.waiters = this.waiters.filter((w) => w.atMs > this.currentMs);
    for (const w of due) w.resolve(true);
  }
}
