/**
 * Lock-step simulated time for several processes (the community run, docs/community.md): time
 * advances only when every process has finished what it had to do at the current instant, and
 * then jumps straight to the earliest instant any of them waits for. No wall-clock pacing: a run
 * is as fast as the CPU allows and its outcome does not depend on how busy the machine is.
 *
 * A process is idle when nothing it holds is running (`hold`: a loop's step, a market clearing,
 * the start-up) and it waits on this clock. It then tells the coordinator the instant of its
 * earliest sleeper; the coordinator (LockstepBarrier) advances every process to the earliest
 * instant of all once all are idle. Work that is not held (a reply on a socket inside a held
 * step is part of that step) must not decide anything by the clock.
 */
import type { Clock } from './clock.ts';

/** What a process tells the coordinator. */
/** `nextMs`: the earliest instant this process waits for (null: none, it does not mind where time goes). */
export type LockstepReport = { type: 'lockstep-idle'; nextMs: number | null } | { type: 'lockstep-busy' };
/** What the coordinator tells a process. */
export interface LockstepAdvance {
  type: 'lockstep-advance';
  toMs: number;
}

/** The process's side of the channel to the coordinator (the IPC channel of a child process). */
export interface LockstepLink {
  send(report: LockstepReport): void;
  onAdvance(handler: (advance: LockstepAdvance) => void): void;
}

export class LockstepClock implements Clock {
  private waiters: { atMs: number; resolve: (elapsed: boolean) => void }[] = [];
  /** Held work; the start-up counts as held until `release` of the constructor's hold. */
  private busy = 1;
  private reportedIdle = false;
  private checkQueued = false;

  constructor(
    private currentMs: number,
    private readonly link: LockstepLink,
  ) {
    link.onAdvance((advance) => this.advance(advance.toMs));
  }

  nowMs(): number {
    return this.currentMs;
  }

  sleep(durationMs: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
        this.queueCheck();
      };
      // A sleep that ends leaves no listener behind: loops sleep on one signal for a year.
      const waiter = {
        atMs: this.currentMs + Math.max(0, durationMs),
        resolve: (elapsed: boolean) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(elapsed);
        },
      };
      this.waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queueCheck();
    });
  }

  /** Keeps time still until `work` has settled. */
  hold<T>(work: Promise<T>): Promise<T> {
    this.enter();
    return work.finally(() => this.leave());
  }

  /** Ends the start-up's hold: from now on, idle means waiting on the clock. */
  started(): void {
    this.leave();
  }

  private enter(): void {
    this.busy++;
    if (this.reportedIdle) {
      this.reportedIdle = false;
      this.link.send({ type: 'lockstep-busy' });
    }
  }

  private leave(): void {
    this.busy--;
    this.queueCheck();
  }

  /**
   * Checks for idleness once the current turn of the event loop is over: a step that ends and the
   * next that its continuation starts are never mistaken for a pause between them.
   */
  private queueCheck(): void {
    if (this.checkQueued) return;
    this.checkQueued = true;
    setImmediate(() => {
      this.checkQueued = false;
      if (this.busy > 0) return;
      // Nothing waiting and nothing held: this process does not mind where time goes (Infinity).
      const nextMs = Math.min(...this.waiters.map((w) => w.atMs));
      // Due already (a sleep of 0): wake it without asking anyone.
      if (nextMs <= this.currentMs) return this.advance(this.currentMs);
      this.reportedIdle = true;
      this.link.send({ type: 'lockstep-idle', nextMs: Number.isFinite(nextMs) ? nextMs : null });
    });
  }

  private advance(toMs: number): void {
    this.currentMs = Math.max(this.currentMs, toMs);
    this.reportedIdle = false;
    const due = this.waiters.filter((w) => w.atMs <= this.currentMs).sort((a, b) => a.atMs - b.atMs);
    this.waiters = this.waiters.filter((w) => w.atMs > this.currentMs);
    for (const w of due) w.resolve(true);
    // Nothing woke here: say so at once, or the others wait for this process forever.
    this.queueCheck();
  }
}

/** Keeps a lock-step clock still while `work` runs; any other clock runs on regardless. */
export function holdWhile<T>(clock: Clock, work: Promise<T>): Promise<T> {
  return clock instanceof LockstepClock ? clock.hold(work) : work;
}

/** This process's IPC channel to its parent as a lock-step link (the process must have been spawned with one). */
export function parentLink(): LockstepLink {
  const send = process.send?.bind(process);
  if (!send) throw new Error('lock-step time needs the IPC channel of the process that coordinates it (spawned with stdio "ipc")');
  // The channel alone must not keep a gateway that has stopped alive (its sockets keep a running one).
  process.channel?.unref();
  return {
    send: (report) => void send(report),
    onAdvance: (handler) =>
      process.on('message', (message: unknown) => {
        if ((message as LockstepAdvance | null)?.type === 'lockstep-advance') handler(message as LockstepAdvance);
      }),
  };
}

/**
 * The coordinator: advances every member to the earliest instant any of them waits for, once all
 * are idle, never past `untilMs` (the end of the run: what still waits then waits in vain, and the
 * coordinator's owner stops it). Members join before the run and leave when their process ends.
 */
export class LockstepBarrier {
  private readonly members = new Map<string, { idle: boolean; nextMs: number; send: (advance: LockstepAdvance) => void }>();
  private nowMs: number;

  constructor(
    startMs: number,
    private readonly untilMs: number,
  ) {
    this.nowMs = startMs;
  }

  /** The instant every member has reached. */
  get currentMs(): number {
    return this.nowMs;
  }

  join(id: string, send: (advance: LockstepAdvance) => void): void {
    this.members.set(id, { idle: false, nextMs: Infinity, send });
  }

  /** Joins a member in this process: reports and advances arrive on a later turn, as over an IPC channel. */
  link(id: string): LockstepLink {
    let deliver: (advance: LockstepAdvance) => void = () => undefined;
    this.join(id, (advance) => setImmediate(() => deliver(advance)));
    return { send: (report) => setImmediate(() => this.report(id, report)), onAdvance: (handler) => (deliver = handler) };
  }

  report(id: string, report: LockstepReport): void {
    const member = this.members.get(id);
    if (!member) return;
    member.idle = report.type === 'lockstep-idle';
    if (report.type === 'lockstep-idle') member.nextMs = report.nextMs ?? Infinity;
    this.step();
  }

  leave(id: string): void {
    this.members.delete(id);
    this.step();
  }

  private step(): void {
    const members = [...this.members.values()];
    if (members.length === 0 || !members.every((m) => m.idle)) return;
    const toMs = Math.min(...members.map((m) => m.nextMs));
    if (!Number.isFinite(toMs) || toMs > this.untilMs) return;
    this.nowMs = toMs;
    for (const m of members) {
      m.idle = false;
      m.send({ type: 'lockstep-advance', toMs });
    }
  }
}
