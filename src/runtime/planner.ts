/**
 * The slow loop (formulation §6): every Δt, from the measured battery energy and shiftable queue,
 * the household forecast, its error samples, the tariff and the committed P2P trades, solve the
 * chance-constrained problem in the solver worker and hand the fast loop the plan — or, when the
 * solve fails or overruns its budget, the previous plan shifted to now, else the safe rule.
 *
 * The problem is built by the same code as the evaluation's optimizer controller
 * (src/optimizer/receding-input.ts). The forecaster is the evaluation's (src/forecast), fitted on
 * the configured history file and then fed the gateway's own hourly records; its errors on those
 * hours become new samples, which are persisted so a restarted gateway keeps them. With community
 * coordination, each tick's problem is offered to the market loop (its household's part of the
 * next community clearing) and solved anchored to the last clearing (`ProblemInput.community`,
 * as the evaluation's community controller does). docs/planner.md
 * describes the step grid, the hourly-to-step mapping and the cold start.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { GatewayConfig } from '../config/gateway-config.ts';
import { shiftableRule } from '../data/assets.ts';
import { DAY_MS, HOUR_MS, hourlyMeans, parseHousehold } from '../data/households.ts';
import { bootstrapFromHistory, seriesHistory } from '../forecast/bootstrap.ts';
import { ErrorSampleStore } from '../forecast/error-store.ts';
import { HouseholdForecaster, type HourMeasurement } from '../forecast/household.ts';
import { defaultSeasonalParams } from '../forecast/seasonal.ts';
import { fallbackPlan, type Plan, type ProblemInput, type SolveResult } from '../optimizer/index.ts';
import { recedingProblemInput } from '../optimizer/receding-input.ts';
import type { Clock } from '../time/clock.ts';
import type { RuntimeLog } from './log.ts';
import type { CommunityMarketView } from './market-loop.ts';
import type { ActivePlan, HourRecord, MarketView, RuntimeStore, ShiftableState, TariffSource } from './types.ts';

export interface PlannerOptions {
  config: GatewayConfig;
  clock: Clock;
  store: RuntimeStore;
  tariff: TariffSource;
  /** The market loop; with community coordination it also takes the problem and gives the anchor. */
  market: (MarketView & Partial<CommunityMarketView>) | null;
  /** The solver client (src/runtime/solver-client.ts): never rejects, enforces the budget. */
  solver: { solve(input: ProblemInput, options: { startMs: number }): Promise<SolveResult> };
  log?: RuntimeLog;
  /** The household's battery reserve (kWh, src/runtime/user-control.ts); absent: the site's E^min. */
  reserveEnergyKwh?: () => number;
}

/** What the fast loop measured last. null: the device did not answer (limits then default to the site's ratings). */
export interface PlannerState {
  energyKwh: number | null;
  maxChargeKw: number | null;
  maxDischargeKw: number | null;
  shiftable: ShiftableState;
}

export interface Planner {
  /** One slow-loop step at `nowMs`; the plan is also appended to the store. Rejects only on a bug (bad state length, a throwing market view). */
  tick(nowMs: number, state: PlannerState): Promise<ActivePlan>;
  /**
   * The problem this household would solve at `nowMs` from `state` without the community and its
   * trades (the no-loss shadow's), with today's peak so far `peakTodayKw` (default: the meter's).
   */
  aloneInput(nowMs: number, state: PlannerState, peakTodayKw?: number): ProblemInput;
  /** The hour that just ended, as the fast loop accounted it (call in time order). */
  observeHour(record: HourRecord): void;
  /** The plan in force, null before the first tick. */
  active(): ActivePlan | null;
}

/** The chance-constraint families on by default (formulation §4), all at control.epsilon. */
const DEFAULT_FAMILIES = ['import', 'socMin', 'socMax'] as const;

export function createPlanner(options: PlannerOptions): Planner {
  const { config, store, tariff, market, solver } = options;
  const log = options.log ?? (() => {});
  const { control, site } = config;
  const grid = stepGrid(control.stepMinutes, control.horizonSteps);
  const forecast = new GatewayForecast(config, grid.leadHours, store, floorHour(options.clock.nowMs()), log);
  // S^max: every shiftable load queued for its whole delay at rated power.
  const maxDeferredKwh = site.shiftable.reduce((sum, load) => sum + load.ratedPowerKw * load.maxDelayHours, 0);
  // Today's metered peak import so far (hourly energy, as the bill's demand charge): paid for already.
  const todayMs = dayStart(options.clock.nowMs());
  let peakToday = { dayStartMs: todayMs, importKw: Math.max(0, ...store.hours().filter((r) => dayStart(r.hourStartMs) === todayMs).map((r) => r.importKwh)) };
  const meteredPeakToday = (nowMs: number) => (dayStart(nowMs) === peakToday.dayStartMs ? peakToday.importKw : 0);
  let current: ActivePlan | null = null;
  const stored = store.plans();
  let previous: Plan | undefined = stored[stored.length - 1];

  /** This household's problem at `nowMs` from `state`, alone: no trades, no community. */
  function aloneInput(nowMs: number, state: PlannerState, energyKwh: number, peakTodayKw = meteredPeakToday(nowMs)): { input: ProblemInput; steps: ReturnType<StepGrid['at']> } {
    const steps = grid.at(nowMs);
    const { shiftable } = state;
    if (shiftable.deadlinesKwh.length !== control.horizonSteps) {
      throw new RangeError(`shiftable deadlines cover ${shiftable.deadlinesKwh.length} steps, the planner's horizon has ${control.horizonSteps}`);
    }
    const known = forecast.over(steps.slotStartsMs[0]!, steps.slotHours, control.samples);
    const input = recedingProblemInput({
      stepHours: steps.stepHours,
      netLoadForecastKw: known.netLoadKw,
      errorSamplesKw: known.samplesKw,
      tariff: tariff.window(steps.slotStartsMs[0]!, steps.slotHours, peakTodayKw),
      battery: {
        ...site.battery,
        // A reserve above the stored energy holds the battery where it is (no discharge) until it is charged past it.
        minEnergyKwh: Math.max(site.battery.minEnergyKwh, Math.min(options.reserveEnergyKwh?.() ?? 0, energyKwh)),
        maxChargeKw: liveLimit(state.maxChargeKw, site.battery.maxChargeKw),
        maxDischargeKw: liveLimit(state.maxDischargeKw, site.battery.maxDischargeKw),
      },
      grid: site.grid,
      energyKwh,
      shiftable: {
        deferredKwh: shiftable.deferredKwh,
        desiredKw: [shiftable.requestedThisStepKwh / steps.stepHours[0]!, ...known.shiftableKw.slice(1)],
        dueKwh: shiftable.deadlinesKwh,
        maxDeferredKwh,
      },
      chance: { radiusKw: control.radiusKw, method: control.method, epsilon: Object.fromEntries(DEFAULT_FAMILIES.map((f) => [f, control.epsilon])), importLimit: control.importLimit },
      weights: { batteryWearEurPerKw2h: control.batteryWearEurPerKw2h, deferralEurPerKwh2: control.deferralEurPerKwh2, scheduleDeviationEurPerKw2: 0 },
    });
    return { input, steps };
  }

  async function tick(nowMs: number, state: PlannerState): Promise<ActivePlan> {
    const initial = initialEnergy(nowMs, state.energyKwh);
    if (initial.from !== 'measured') log('warn', `plan: battery energy unavailable, e0 = ${initial.energyKwh.toFixed(2)} kWh from ${initial.from === 'last-plan' ? "the last plan's SoC path" : 'E^min (no plan yet)'}`);
    const alone = aloneInput(nowMs, state, initial.energyKwh);
    const { steps } = alone;
    const peers = market?.peerTrades(steps.slotStartsMs);
    const input = peers && peers.length > 0 ? { ...alone.input, peers } : alone.input;

    // The clearing's local steps start from the problem without an anchor: each household alone.
    const slot0Ms = steps.slotStartsMs[0]!;
    const errorDays = { nearest: (count: number) => forecast.sampleDays(slot0Ms, count), on: (issuedMs: readonly number[]) => forecast.samplesOn(slot0Ms, steps.slotHours, issuedMs) };
    market?.offerProblem?.({ input, startMs: nowMs, slotStartsMs: steps.slotStartsMs, solver, errorDays });
    const anchor = market?.communityCoupling?.(input, steps.slotStartsMs);
    // Under a community clearing the anchor carries the household's cleared net import, its P2P
    // positions included; the trades are their split, settled on the meters (src/market/settlement.ts),
    // as the evaluation settles them. Held as fixed columns as well, they made a seller deliver its
    // sales from a battery a fresh forecast would rather fill. An auction's trades have no anchor.
    const planned = anchor ? { ...alone.input, community: anchor } : input;
    const started = performance.now();
    let result: SolveResult;
    try {
      result = await solver.solve(planned, { startMs: nowMs });
    } catch (error) {
      result = { ok: false, status: 'error', message: (error as Error).message, solveMs: performance.now() - started };
    }
    const solveMs = performance.now() - started;
    const base = { netLoadForecastKw: input.netLoadForecastKw, solvedAtMs: nowMs, solveMs, initialEnergyFrom: initial.from };
    if (result.ok) {
      current = { ...base, plan: result.plan, fallback: false, status: 'optimal' };
    } else {
      const plan = shiftedFallback(input, previous, nowMs, steps.slotStartsMs[0]!, grid.stepMs, result.status);
      log('warn', `plan: solve ${result.status} (${result.message}), following ${plan.solver.name}`);
      current = { ...base, plan, fallback: true, status: result.status };
    }
    previous = current.plan;
    store.appendPlan(current.plan);
    return current;
  }

  /** e₀: measured; with the battery unavailable, where the last plan's SoC path says it is now; without a plan, E^min (plans no energy that may not be there). */
  function initialEnergy(nowMs: number, measuredKwh: number | null): { energyKwh: number; from: NonNullable<ActivePlan['initialEnergyFrom']> } {
    if (measuredKwh !== null) return { energyKwh: measuredKwh, from: 'measured' };
    if (previous === undefined) return { energyKwh: site.battery.minEnergyKwh, from: 'minimum' };
    const energyKwh = Math.min(site.battery.maxEnergyKwh, Math.max(site.battery.minEnergyKwh, socPathAt(previous, nowMs)));
    return { energyKwh, from: 'last-plan' };
  }

  return {
    tick,
    aloneInput: (nowMs, state, peakTodayKw) => aloneInput(nowMs, state, state.energyKwh ?? site.battery.minEnergyKwh, peakTodayKw).input,
    observeHour: (record) => {
      forecast.observe(record, false);
      const dayStartMs = dayStart(record.hourStartMs);
      if (dayStartMs > peakToday.dayStartMs) peakToday = { dayStartMs, importKw: 0 };
      if (dayStartMs === peakToday.dayStartMs) peakToday.importKw = Math.max(peakToday.importKw, record.importKwh);
    },
    active: () => current,
  };
}

interface StepGrid {
  stepMs: number;
  /** Hourly forecast leads a horizon can touch (the error trajectories' length). */
  leadHours: number;
  at(nowMs: number): { slotStartsMs: number[]; slotHours: number[]; stepHours: number[] };
}

/**
 * The plan's steps lie on the grid of multiples of Δt (UTC), where market slots and tariff hours
 * also lie. Step 0 starts now and ends at the grid boundary nearest to now + Δt, so a tick that is
 * a little late or early (an accelerated clock) still plans on the grid, and one far off the grid
 * (the first after a start) gets a step 0 of ½Δt–1½Δt; every later step is Δt. Forecasts, samples
 * and prices are means over the slots [slot start, + Δt); only the dynamics use step 0's real length.
 */
function stepGrid(stepMinutes: number, horizonSteps: number): StepGrid {
  // The history and the forecaster are hourly: a step must sit inside one hour or cover whole hours.
  if (!(Number.isInteger(stepMinutes) && stepMinutes > 0 && (60 % stepMinutes === 0 || stepMinutes % 60 === 0))) {
    throw new RangeError(`control.stepMinutes must divide 60 or be a multiple of 60 (the forecasts are hourly), got ${stepMinutes}`);
  }
  if (!(Number.isInteger(horizonSteps) && horizonSteps >= 1)) throw new RangeError(`control.horizonSteps must be a positive integer, got ${horizonSteps}`);
  const stepMs = stepMinutes * 60_000;
  // A slot grid starting inside an hour reaches into one more hour than its length.
  const leadHours = Math.ceil((horizonSteps * stepMs + (stepMs < HOUR_MS ? HOUR_MS - stepMs : 0)) / HOUR_MS);
  const slotHours = new Array<number>(horizonSteps).fill(stepMs / HOUR_MS);
  return {
    stepMs,
    leadHours,
    at(nowMs) {
      const firstMs = Math.round(nowMs / stepMs) * stepMs;
      const slotStartsMs = slotHours.map((_, k) => firstMs + k * stepMs);
      const stepHours = [(firstMs + stepMs - nowMs) / HOUR_MS, ...slotHours.slice(1)];
      return { slotStartsMs, slotHours, stepHours };
    },
  };
}

/**
 * fallbackPlan finds the running step of the previous plan by elapsed time, tolerating a second of
 * clock jitter; ticks here may be off by more, so the previous plan is looked at on its slot grid
 * (its step 0 stretched back to its slot start) and the elapsed time counted from slot to slot.
 */
function shiftedFallback(input: ProblemInput, previous: Plan | undefined, nowMs: number, slotStartMs: number, stepMs: number, reason: Exclude<SolveResult, { ok: true }>['status']): Plan {
  const stepH = stepMs / HOUR_MS;
  const onGrid = previous !== undefined && previous.stepHours.slice(1).every((h) => h === stepH);
  const aligned = onGrid ? { ...previous, startMs: Math.round(previous.startMs + previous.stepHours[0]! * HOUR_MS) - stepMs, stepHours: [stepH, ...previous.stepHours.slice(1)] } : previous;
  return { ...fallbackPlan(input, aligned, onGrid ? slotStartMs : nowMs, reason), startMs: nowMs };
}

/** A plan's e_t path, linear within each step, at `atMs` (held at its ends outside the plan). */
function socPathAt(plan: Plan, atMs: number): number {
  let fromMs = plan.startMs;
  if (atMs <= fromMs) return plan.energyKwh[0]!;
  for (let t = 0; t < plan.stepHours.length; t++) {
    const toMs = fromMs + plan.stepHours[t]! * HOUR_MS;
    if (atMs < toMs) return plan.energyKwh[t]! + ((plan.energyKwh[t + 1]! - plan.energyKwh[t]!) * (atMs - fromMs)) / (toMs - fromMs);
    fromMs = toMs;
  }
  return plan.energyKwh[plan.energyKwh.length - 1]!;
}

function liveLimit(liveKw: number | null, ratedKw: number): number {
  return liveKw === null ? ratedKw : Math.max(0, Math.min(liveKw, ratedKw));
}

function dayStart(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

function floorHour(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}

/**
 * The household forecast and its error samples as the gateway accumulates them. Sources, in the
 * order they are applied: the history file (fit + samples, only hours before the gateway's own
 * records and before now), the persisted samples, the gateway's own hours from the store (replayed
 * into the forecaster), then each new hour. Without a full day of data (every hour of day seen
 * once) the forecast is flat at the last measured hour and there are no samples. With
 * `forecast.freezeIso`, the fit and the samples end at that instant: later history hours and the
 * gateway's own hours are only observed (as the evaluation's forecaster does after its split).
 */
class GatewayForecast {
  private readonly forecaster: HouseholdForecaster;
  private readonly errors: ErrorSampleStore;
  private readonly hoursOfDaySeen = new Set<number>();
  private lastHour: HourMeasurement | null = null;
  private lastObservedMs = -Infinity;
  /** Net-load forecasts issued at each recent hour, waiting for their whole horizon to be measured. */
  private readonly pending = new Map<number, number[]>();
  private readonly realisedNetKw = new Map<number, number>();
  /** No fit and no new error sample from this instant on (forecast.freezeIso; Infinity: none). */
  private readonly freezeMs: number;

  constructor(
    config: GatewayConfig,
    private readonly leadHours: number,
    private readonly store: RuntimeStore,
    nowHourMs: number,
    log: RuntimeLog,
  ) {
    this.freezeMs = config.forecast.freezeIso === undefined ? Infinity : Date.parse(config.forecast.freezeIso);
    const own = store.hours();
    const historyEndMs = Math.min(nowHourMs, own[0]?.hourStartMs ?? Infinity);
    const history = config.forecast.historyFile === undefined ? null : this.readHistory(config.forecast.historyFile, historyEndMs);
    this.forecaster = history?.forecaster ?? new HouseholdForecaster({ inflexibleKw: defaultSeasonalParams, pvKw: defaultSeasonalParams, shiftableKw: defaultSeasonalParams });
    this.errors = history?.store ?? new ErrorSampleStore(leadHours);
    let skipped = 0;
    for (const sample of store.errorSamples()) {
      if (sample.issuedAtMs >= this.freezeMs) continue;
      // Samples of another horizon (the config changed) do not fit this one.
      if (sample.errorsKw.length === leadHours) this.errors.add({ issuedMs: sample.issuedAtMs, errorKw: sample.errorsKw });
      else skipped++;
    }
    if (skipped > 0) log('info', `planner: ${skipped} stored error samples of another horizon length ignored`);
    for (const record of own) this.observe(record, true);
    log('info', `planner: forecaster from ${history ? basename(config.forecast.historyFile!) : 'no history file'}${own.length > 0 ? ` and ${own.length} own hours` : ''}, ${this.errors.size} error samples${config.forecast.freezeIso ? ` (fit and samples before ${config.forecast.freezeIso}; later hours only observed)` : ''}`);
  }

  private readHistory(file: string, endMs: number) {
    const series = parseHousehold(basename(file, '.csv'), file, readFileSync(file, 'utf8'));
    const toMs = Math.min(endMs, series.startMs + series.loadKw.length * HOUR_MS);
    if (toMs <= series.startMs) return null;
    const history = seriesHistory(series, shiftableRule(series).requestKw);
    for (let t = series.startMs; t < toMs && this.hoursOfDaySeen.size < 24; t += HOUR_MS) {
      if (!Number.isNaN(history(t).inflexibleKw)) this.hoursOfDaySeen.add(hourOfDay(t));
    }
    const last = history(toMs - HOUR_MS);
    if (!Number.isNaN(last.inflexibleKw)) this.lastHour = last;
    const fitToMs = Math.min(toMs, this.freezeMs);
    if (fitToMs <= series.startMs) return null;
    const bootstrapped = bootstrapFromHistory(history, series.startMs, fitToMs, this.leadHours);
    for (let t = fitToMs; t < toMs; t += HOUR_MS) bootstrapped.forecaster.observe(t, history(t));
    return bootstrapped;
  }

  /** `replay`: an hour from the store at start, whose finished error samples were persisted already. */
  observe(record: HourRecord, replay: boolean): void {
    const t = floorHour(record.hourStartMs);
    if (t <= this.lastObservedMs) return;
    const measured = hourMeasurement(record);
    if (this.warm()) this.pending.set(t, this.forecaster.forecast(t, this.leadHours).netLoadKw);
    this.forecaster.observe(t, measured);
    this.lastObservedMs = t;
    if (!Number.isNaN(measured.inflexibleKw)) {
      this.lastHour = measured;
      this.hoursOfDaySeen.add(hourOfDay(t));
    }
    this.realisedNetKw.set(t, measured.inflexibleKw - measured.pvKw);
    for (const [issuedMs, predictedKw] of this.pending) {
      if (issuedMs + (this.leadHours - 1) * HOUR_MS > t) continue;
      this.pending.delete(issuedMs);
      const errorKw = predictedKw.map((p, k) => (this.realisedNetKw.get(issuedMs + k * HOUR_MS) ?? NaN) - p);
      if (replay || issuedMs >= this.freezeMs || !errorKw.every(Number.isFinite)) continue;
      this.errors.add({ issuedMs, errorKw });
      this.store.appendErrorSample({ issuedAtMs: issuedMs, errorsKw: errorKw });
    }
    for (const h of this.realisedNetKw.keys()) if (h <= t - this.leadHours * HOUR_MS) this.realisedNetKw.delete(h);
  }

  /**
   * Means over the slots from `startMs` of the hourly forecast and of up to `count` error samples
   * issued at the same clock hour (null: none, certainty-equivalent).
   */
  over(startMs: number, slotHours: number[], count: number): { netLoadKw: number[]; shiftableKw: number[]; samplesKw: number[][] | null } {
    const hour0 = floorHour(startMs);
    const onSlots = (hourly: readonly number[]) => onSlotsFrom(hourly, startMs, slotHours);
    if (!this.warm()) {
      const flatKw = this.lastHour ? this.lastHour.inflexibleKw - this.lastHour.pvKw : 0;
      return { netLoadKw: slotHours.map(() => flatKw), shiftableKw: slotHours.map(() => 0), samplesKw: null };
    }
    const f = this.forecaster.forecast(hour0, this.leadHours);
    const samples = this.errors.samples(hour0, count);
    return { netLoadKw: onSlots(f.netLoadKw), shiftableKw: onSlots(f.shiftableKw), samplesKw: samples.length > 0 ? samples.map((s) => onSlots(s.errorKw)) : null };
  }

  /** The issue instants of the `count` trajectories `over` samples from: what this household names when it leads a community clearing. */
  sampleDays(startMs: number, count: number): number[] {
    return this.warm() ? this.errors.samples(floorHour(startMs), count).map((s) => s.issuedMs) : [];
  }

  /** Its errors over the slots from `startMs` on days another gateway named (ErrorSampleStore.onDays); empty: none. */
  samplesOn(startMs: number, slotHours: number[], issuedMs: readonly number[]): number[][] {
    return this.warm() ? this.errors.onDays(floorHour(startMs), issuedMs).map((s) => onSlotsFrom(s.errorKw, startMs, slotHours)) : [];
  }

  private warm(): boolean {
    return this.hoursOfDaySeen.size === 24;
  }
}

/** Means over the slots from `startMs` of an hourly series that starts at the hour `startMs` is in. */
function onSlotsFrom(hourly: readonly number[], startMs: number, slotHours: number[]): number[] {
  const hour0 = floorHour(startMs);
  return hourlyMeans((h) => hourly[(h - hour0) / HOUR_MS]!, startMs, slotHours);
}

/** The forecaster's view of an hour the gateway measured: load = import − export + discharge − charge + PV. */
export function hourMeasurement(r: HourRecord): HourMeasurement {
  const loadKw = r.importKwh - r.exportKwh + r.batteryDischargeKwh - r.batteryChargeKwh + r.pvKwh;
  return { inflexibleKw: loadKw - r.shiftableServedKwh, pvKw: r.pvKwh, shiftableKw: r.shiftableRequestedKwh };
}

function hourOfDay(ms: number): number {
  return Math.floor(ms / HOUR_MS) % 24;
}
