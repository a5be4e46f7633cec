/**
 * The shiftable-load queue: per load, the energy its user asked for and not yet served, each
 * request with its deadline (request instant + maxDelayHours, the latest completion). Served
 * energy is relay on-time × rated power, never more than is queued (an appliance stops when its
 * job is done, and a running one serves what is asked while it runs: the fast loop collects a
 * period's requests before it credits the period). The fast loop asks it which relays to switch
 * on; the planner asks it for s₀, the known demand of the step and the deadlines (formulation §2).
 *
 * Requests come from a demand feed: the simulated household for loads with `source:
 * 'simulator'`, the configured daily schedule otherwise. A request larger than ratedPowerKw × 1 h
 * is no special case: it simply keeps the relay on longer.
 */
import type { ShiftableLoadConfig } from '../config/gateway-config.ts';
import { instantOfWallClock, wallClockMs } from '../time/zone.ts';
import type { ShiftableDemandFeed, ShiftableState } from './types.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Below this, a queue is empty (kWh): float dust from splitting energy is not a request. */
const EMPTY_KWH = 1e-9;
/**
 * Requests polled every fast period arrive in slivers; slivers within this window of the
 * queue's newest request join it under its (earlier, so stricter) deadline, which keeps the
 * queue at a few hundred entries for a 6 h delay instead of thousands.
 */
const MERGE_WINDOW_MS = 60_000;
/**
 * A load that is off is switched on only for a run of at least this many fast periods at its
 * rating (or when a deadline cannot wait): a 2 kW dishwasher is not started for 1 Wh. Small,
 * because a job much shorter than a period is still worth a period's switching: at 1800 s
 * periods a 0.3 kWh request runs (9 minutes at 2 kW), at 5 s periods a few Wh are enough.
 */
const MIN_RUN_PERIODS = 0.1;

interface Request {
  requestedAtMs: number;
  deadlineMs: number;
  energyKwh: number;
}

/** A request as it arrived (kWh asked in the poll interval starting at `atMs`). */
export interface Arrival {
  load: number;
  atMs: number;
  energyKwh: number;
}

export interface ShiftableQueueOptions {
  loads: readonly ShiftableLoadConfig[];
  /** The simulated household's requests; required when a load's demand source is 'simulator'. */
  feed: ShiftableDemandFeed | null;
  /** The planner's step grid (control.stepMinutes, control.horizonSteps). */
  stepMinutes: number;
  horizonSteps: number;
  /** Requests are collected from this instant on. */
  startMs: number;
  /** The zone the schedules' hours are in (site.timeZone); default UTC. */
  timeZone?: string;
}

export class ShiftableQueue {
  private readonly loads: readonly ShiftableLoadConfig[];
  private readonly sources: ShiftableDemandFeed[];
  private readonly queues: Request[][];
  private readonly stepMs: number;
  private readonly horizonSteps: number;
  private collectedUntilMs: number;

  constructor(options: ShiftableQueueOptions) {
    this.loads = options.loads;
    this.sources = options.loads.map((load) => {
      if (load.demand.source === 'schedule') return scheduleFeed(load.demand.daily, options.timeZone);
      if (!options.feed) throw new Error(`shiftable load "${load.relay}" takes its requests from the simulator, but no simulator demand feed was given`);
      return options.feed;
    });
    this.queues = options.loads.map(() => []);
    this.stepMs = options.stepMinutes * 60_000;
    this.horizonSteps = options.horizonSteps;
    this.collectedUntilMs = options.startMs;
  }

  /** Collects the requests made in [last collection, nowMs), split at hour boundaries so each arrival lies in one hour. */
  collect(nowMs: number): Arrival[] {
    const arrivals: Arrival[] = [];
    for (let fromMs = this.collectedUntilMs; fromMs < nowMs; ) {
      const toMs = Math.min(nowMs, (Math.floor(fromMs / HOUR_MS) + 1) * HOUR_MS);
      this.loads.forEach((load, j) => {
        const energyKwh = this.sources[j]!.requestedKwh(load.relay, fromMs, toMs);
        if (!(energyKwh > 0)) return;
        this.enqueue(j, { requestedAtMs: fromMs, deadlineMs: fromMs + load.maxDelayHours * HOUR_MS, energyKwh });
        arrivals.push({ load: j, atMs: fromMs, energyKwh });
      });
      fromMs = toMs;
    }
    this.collectedUntilMs = Math.max(this.collectedUntilMs, nowMs);
    return arrivals;
  }

  queuedKwh(load: number): number {
    return this.queues[load]!.reduce((sum, r) => sum + r.energyKwh, 0);
  }

  /** Which loads have queued energy: the desired profile, and the loads still drawing while on. */
  pending(): boolean[] {
    return this.loads.map((_, j) => this.queuedKwh(j) > EMPTY_KWH);
  }

  /** Credits what load `load` drew while on for `onMs`, earliest deadline first; returns what was credited. */
  serve(load: number, onMs: number): number {
    const queue = this.queues[load]!;
    let left = (this.loads[load]!.ratedPowerKw * Math.max(0, onMs)) / HOUR_MS;
    let served = 0;
    while (left > EMPTY_KWH && queue.length > 0) {
      const head = queue[0]!;
      const take = Math.min(head.energyKwh, left);
      head.energyKwh -= take;
      left -= take;
      served += take;
      if (head.energyKwh <= EMPTY_KWH) queue.shift();
    }
    return served;
  }

  /**
   * Which loads to switch on for the fast period [nowMs, nowMs + periodMs); `running` are the
   * loads on now. Only loads with queued energy run, and one that is off starts only for a run
   * worth it: MIN_RUN_PERIODS of energy at its rating queued, or a deadline that cannot wait one
   * more period; one that runs may go on until its queue is empty. `needKwh` is what the plan
   * still wants served by the period's end; null means the desired profile: every such load
   * runs. A load whose deadline cannot wait runs whatever the plan says; the rest follow the
   * need, earliest deadline first, each switched on if at least half its energy this period is
   * needed (so the step's total lands within half a period's energy of the plan).
   */
  choose(nowMs: number, periodMs: number, needKwh: number | null, running: readonly boolean[]): boolean[] {
    const on = this.loads.map(() => false);
    const periodKwh = (j: number) => (this.loads[j]!.ratedPowerKw * periodMs) / HOUR_MS;
    const waiting = this.loads
      .map((_, j) => j)
      .filter((j) => {
        const queuedKwh = this.queuedKwh(j);
        return queuedKwh > EMPTY_KWH && (running[j] === true || queuedKwh >= MIN_RUN_PERIODS * periodKwh(j) || this.mustRun(j, nowMs, periodMs));
      });
    if (needKwh === null) {
      for (const j of waiting) on[j] = true;
      return on;
    }
    const quantumKwh = (j: number) => Math.min(periodKwh(j), this.queuedKwh(j));
    const byDeadline = waiting.sort((a, b) => this.queues[a]![0]!.deadlineMs - this.queues[b]![0]!.deadlineMs);
    let left = needKwh;
    for (const j of byDeadline) {
      if (!this.mustRun(j, nowMs, periodMs)) continue;
      on[j] = true;
      left -= quantumKwh(j);
    }
    for (const j of byDeadline) {
      if (on[j]) continue;
      const q = quantumKwh(j);
      if (left < q / 2) continue;
      on[j] = true;
      left -= q;
    }
    return on;
  }

  /**
   * The queue as the planner needs it at `nowMs`. The current step is the one of the step grid
   * (multiples of stepMinutes) containing now: energy requested in it is its known demand,
   * energy requested before it is s₀; the two add up to what is queued. `deadlinesKwh[k]` is
   * the energy that must be served by the end of step k counted from now, i.e. whose deadline
   * falls before step k + 1 ends (step 0 for anything due within two steps); deadlines past
   * the horizon are left out.
   */
  state(nowMs: number): ShiftableState {
    const stepStartMs = Math.floor(nowMs / this.stepMs) * this.stepMs;
    const state: ShiftableState = { deferredKwh: 0, requestedThisStepKwh: 0, deadlinesKwh: new Array<number>(this.horizonSteps).fill(0) };
    for (const queue of this.queues) {
      for (const r of queue) {
        if (r.requestedAtMs < stepStartMs) state.deferredKwh += r.energyKwh;
        else state.requestedThisStepKwh += r.energyKwh;
        const k = Math.max(0, Math.floor((r.deadlineMs - nowMs) / this.stepMs) - 1);
        if (k < this.horizonSteps) state.deadlinesKwh[k]! += r.energyKwh;
      }
    }
    return state;
  }

  /** Waiting one more period would finish some request after its deadline (the queue is served in order). */
  private mustRun(load: number, nowMs: number, periodMs: number): boolean {
    const ratedKw = this.loads[load]!.ratedPowerKw;
    let aheadKwh = 0;
    for (const r of this.queues[load]!) {
      aheadKwh += r.energyKwh;
      if (nowMs + periodMs + (aheadKwh / ratedKw) * HOUR_MS > r.deadlineMs) return true;
    }
    return false;
  }

  private enqueue(load: number, request: Request): void {
    const queue = this.queues[load]!;
    const newest = queue.at(-1);
    const sameStep = newest && Math.floor(newest.requestedAtMs / this.stepMs) === Math.floor(request.requestedAtMs / this.stepMs);
    if (newest && sameStep && request.requestedAtMs - newest.requestedAtMs < MERGE_WINDOW_MS) newest.energyKwh += request.energyKwh;
    else queue.push(request);
  }
}

/**
 * The configured daily schedule as a feed: `energyKwh` requested at `hour`:00 on the clocks of
 * `timeZone` every day, once a day whatever daylight saving does: an hour the clocks skip asks
 * at the instant they jump past it, an hour they repeat asks at its first occurrence.
 */
function scheduleFeed(daily: readonly { hour: number; energyKwh: number }[], timeZone = 'UTC'): ShiftableDemandFeed {
  // Local days seen lately → when each entry asks; a fast loop polls the same day thousands of times.
  const instants = new Map<number, number[]>();
  const instantsOn = (localDayMs: number): number[] => {
    let day = instants.get(localDayMs);
    if (!day) {
      day = daily.map(({ hour }) => instantOfWallClock(localDayMs + hour * HOUR_MS, timeZone));
      instants.set(localDayMs, day);
      if (instants.size > 8) instants.delete(instants.keys().next().value!);
    }
    return day;
  };
  return {
    requestedKwh(_relayId, fromMs, toMs) {
      let total = 0;
      // Every local day whose requests could fall in [fromMs, toMs): offsets are under a day either way.
      for (let dayMs = Math.floor(wallClockMs(fromMs, timeZone) / DAY_MS) * DAY_MS - DAY_MS; dayMs <= wallClockMs(toMs, timeZone) + DAY_MS; dayMs += DAY_MS) {
        instantsOn(dayMs).forEach((atMs, j) => {
          if (atMs >= fromMs && atMs < toMs) total += daily[j]!.energyKwh;
        });
      }
      return total;
    },
  };
}
