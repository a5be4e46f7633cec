/**
 * The fast loop (formulation §6), one iteration per call, every few seconds: read the meter,
 * the PV inverter and the battery (with its BMS's live limits) in parallel; ξ = w − μ_k for
 * the plan step covering now; ask the battery for d_k − c_k + β_k ξ, or, when a safety
 * condition holds, for the documented safe state (docs/safety.md); let the supervisor clip it;
 * switch the shiftable loads' relays so that the plan's f_k is served; publish a snapshot,
 * keep the hourly account and store downsampled measurements.
 *
 * Peak guard: with a demand charge, the battery also holds the metered import to the peak the
 * plan pays for today (the larger of the import it schedules for the rest of the day and the
 * highest hourly import metered today so far), discharging beyond the rule or charging less, within its
 * limits — a deviation the rule leaves to the grid would raise the billed peak, and the next plan
 * re-plans the energy it took. The evaluation's plant does the same for the controllers that apply
 * their rule (src/household/plant.ts). The peak is billed on the hour's import, so the guard holds
 * the hour's energy (what it has imported so far, plus the rest of the hour at the present import),
 * not each reading: a relay's few minutes at full power are made up for in the rest of the hour,
 * not left to set the day's billed peak.
 *
 * Live community guard (with community coordination, community-guard.ts): the household's import
 * after its own command, its hour so far and its battery's room are exchanged with the community's
 * other gateways at each fast period's instant; when the community's hour would pass the peak it
 * pays for today, the battery discharges that share of its room more. The iteration that only
 * measures for a plan due at the instant does not report: the one that applies the plan does, so
 * the community decides on the commands that will hold.
 *
 * β applies only to plans solved with error samples: a certainty-equivalent plan (no samples
 * yet, so no chance constraint: its worstCaseCvar is empty) has a β nothing in its objective
 * priced, so the grid takes the whole deviation, as the evaluation does for CE.
 *
 * w = meter + battery is the net load (load + switched loads − PV). The relays' duty cycle is
 * the loop's own doing, not forecast error, so ξ leaves out the power of the relays that were
 * on, with their job not done, when the meter was read: otherwise β would make the battery
 * chase every switching. Over a step the relays average f_k, so this is the evaluation's
 * ξ = w − μ − f whenever the plan is realised (the hourly account scores violations with that one).
 */
import type { GatewayConfig } from '../config/gateway-config.ts';
import type { BatteryValues, LoadRelay, MeterValues, PvValues, Reading } from '../devices/capabilities.ts';
import type { Gateway } from '../gateway/assemble.ts';
import type { Clock } from '../time/clock.ts';
import { selfConsumptionSetpointKw } from './self-consumption.ts';
import { HourAccount, type HourSample } from './hour-account.ts';
import type { RuntimeLog } from './log.ts';
import { ShiftableQueue } from './shiftable.ts';
import type { UserControlView, UserMode } from './user-control.ts';
import { safeBatteryOf, SafetyConditions, superviseBatteryKw, type BatteryGuard, type SafeBattery } from './supervisor.ts';
import type {
  ActivePlan,
  ControlMode,
  HourRecord,
  MarketView,
  Measurement,
  RuntimeSnapshot,
  RuntimeStore,
  SafetyEvent,
  SafetyReason,
  Setpoint,
  ShiftableDemandFeed,
  ShiftableState,
  TariffSource,
} from './types.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/**
 * A battery back from an outage is trusted again once it reads, after our 0 kW went out, within
 * this of 0 kW (plus 5 % of its rating, for inverters that do not settle exactly at 0).
 */
const SANE_IDLE_KW = 0.1;

export interface FastLoopDeps {
  gateway: Gateway;
  config: GatewayConfig;
  clock: Clock;
  store: RuntimeStore;
  tariff: TariffSource;
  /** The plan in force, as the slow loop last left it. */
  plan: () => ActivePlan | null;
  market: MarketView | null;
  /** Requests of the shiftable loads whose demand source is the simulator. */
  demand: ShiftableDemandFeed | null;
  onSnapshot?: (snapshot: RuntimeSnapshot) => void;
  onSafetyEvent?: (event: SafetyEvent) => void;
  onHour?: (record: HourRecord) => void;
  /** Where what goes wrong outside an iteration (the safe stop) is told; safety events go to onSafetyEvent. */
  log?: RuntimeLog;
  /** The household's mode and battery reserve (Home Assistant commands); absent: auto, the site's E^min. */
  userControl?: UserControlView;
  /**
   * True while a plan due at `atMs` is not in yet: that iteration only measures for it, its command
   * holds until the plan is applied, and it does not report to the live community guard.
   */
  planDue?: (atMs: number) => boolean;
}

export interface FastLoop {
  /** One iteration; calls made while one runs wait for it. */
  iterate(): Promise<RuntimeSnapshot>;
  shiftableState(nowMs: number): ShiftableState;
  latest(): Measurement | null;
  /** On shutdown: the battery to 0 kW, the relays to the desired profile. */
  safeStop(): Promise<void>;
}

interface PlanStep {
  index: number;
  startMs: number;
  endMs: number;
}

/** The plan step covering `atMs`, or null when none does (the plan is stale or from the future). */
function stepAt(plan: ActivePlan['plan'], atMs: number): PlanStep | null {
  // A plan stamped with its measurement instant may be a clock tick younger than the loop's "now".
  if (atMs < plan.startMs - 1_000) return null;
  let startMs = plan.startMs;
  for (let index = 0; index < plan.stepHours.length; index++) {
    const endMs = startMs + plan.stepHours[index]! * HOUR_MS;
    if (atMs < endMs) return { index, startMs, endMs };
    startMs = endMs;
  }
  return null;
}

function horizonEndMs(plan: ActivePlan['plan']): number {
  return plan.startMs + plan.stepHours.reduce((sum, h) => sum + h, 0) * HOUR_MS;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function createFastLoop(deps: FastLoopDeps): FastLoop {
  const { gateway, config, clock, store, market } = deps;
  const { control, site } = config;
  const periodMs = control.fastPeriodS * 1000;
  const revertMs = control.revertTimeoutS * 1000;
  if (!(revertMs > periodMs)) throw new RangeError(`control.revertTimeoutS (${control.revertTimeoutS} s) must exceed control.fastPeriodS (${control.fastPeriodS} s), or every setpoint lapses between two periods`);
  const guard: BatteryGuard = {
    minEnergyKwh: site.battery.minEnergyKwh,
    maxEnergyKwh: site.battery.maxEnergyKwh,
    guardBandKwh: control.socGuardBandKwh,
    chargeEfficiency: site.battery.chargeEfficiency,
    dischargeEfficiency: site.battery.dischargeEfficiency,
    fastPeriodS: control.fastPeriodS,
  };
  const saneIdleKw = SANE_IDLE_KW + 0.05 * Math.max(site.battery.maxChargeKw, site.battery.maxDischargeKw);
  const loads = site.shiftable;
  const relays: (LoadRelay | null)[] = loads.map((load) => gateway.relays.find((r) => r.id === load.relay) ?? null);
  // A simulated household's requests start where its appliances' do, so the two hold the same jobs.
  const queue = new ShiftableQueue({ loads, feed: deps.demand, stepMinutes: control.stepMinutes, horizonSteps: control.horizonSteps, startMs: deps.demand?.startMs ?? clock.nowMs(), ...(site.timeZone ? { timeZone: site.timeZone } : {}) });
  const account = new HourAccount(config, deps.tariff, market);
  const conditions = new SafetyConditions();
  const measurementEveryMs = config.storage.measurementEveryS * 1000;

  /** Confirmed relay states (read back by the drivers); null: unknown, so the next decision is written whatever it is. */
  const relayOn: (boolean | null)[] = loads.map(() => null);
  const relayFailures = new Map<number, string>();
  relays.forEach((relay, j) => {
    if (!relay) relayFailures.set(j, `relay "${loads[j]!.relay}" was not found at start-up`);
  });
  /** False from a battery outage until, with 0 kW commanded, it reads back near 0 kW. */
  let batteryTrusted = true;
  let zeroSinceOutage = false;
  let previousAtMs: number | null = null;
  /** The highest metered hourly import of the current UTC day (the demand charge's day), kW. */
  let dayPeak = { dayStartMs: -1, importKw: 0 };
  let stepServed = { key: '', kwh: 0 };
  let nextStoreMs = -Infinity;
  let latest: Measurement | null = null;
  let running: Promise<unknown> = Promise.resolve();

  const serialised = <T>(work: () => Promise<T>): Promise<T> => {
    const next = running.then(work, work);
    running = next.catch(() => undefined);
    return next;
  };

  const emit = (events: SafetyEvent[]) => {
    for (const event of events) {
      store.appendSafetyEvent(event);
      deps.onSafetyEvent?.(event);
    }
  };

  /** Net P2P power committed for now (+ bought): what the meter should show in the safe state. */
  const committedTradeKw = (atMs: number): number =>
    (market?.trades() ?? []).filter((t) => t.state === 'committed' && t.slotStartMs <= atMs && atMs < t.slotEndMs).reduce((sum, t) => sum + t.powerKw, 0);

  /** Switches every load to `wanted`, writing only changes (and retrying failed relays); failures are remembered by load. */
  const switchRelays = async (wanted: boolean[]): Promise<void> => {
    // A relay missing at start-up joins once the gateway has found it (src/gateway/rediscovery.ts).
    loads.forEach((load, j) => (relays[j] ??= gateway.relays.find((r) => r.id === load.relay) ?? null));
    await Promise.all(
      relays.map(async (relay, j) => {
        if (!relay || (relayOn[j] === wanted[j] && !relayFailures.has(j))) return;
        try {
          await relay.switch(wanted[j]!);
          relayOn[j] = wanted[j]!;
          relayFailures.delete(j);
        } catch (error) {
          relayOn[j] = null;
          relayFailures.set(j, `switching ${relay.id} ${wanted[j] ? 'on' : 'off'} failed: ${message(error)}`);
        }
      }),
    );
  };

  /** The conditions that hold before the relays are switched (the clips come with the battery command). */
  function observeConditions(atMs: number, m: Reading<MeterValues> | undefined, b: Reading<BatteryValues> | undefined, active: ActivePlan | null, step: PlanStep | null): Map<SafetyReason, string> {
    const observed = new Map<SafetyReason, string>();
    if (!active) observed.set('plan-stale', 'no plan yet');
    else if (!step) observed.set('plan-stale', `the plan solved at ${iso(active.plan.startMs)} covers ${iso(active.plan.startMs)} – ${iso(horizonEndMs(active.plan))}, not ${iso(atMs)}`);
    if (active?.fallback && active.plan.solver.name === 'fallback:safe-rule') observed.set('optimizer-failed', `solve ended ${active.status} with no earlier plan to shift: the safe rule is in force`);
    if (market?.connected() === false) {
      const committed = market.trades().filter((t) => t.state === 'committed' && t.slotEndMs > atMs).length;
      observed.set('broker-lost', `broker unreachable: no trade can be confirmed; ${committed} committed trade(s) stand as the ledger has them`);
    }
    if (!m) observed.set('meter-unavailable', 'no meter was found at start-up');
    else if (!m.ok) observed.set('meter-unavailable', m.error.message);
    if (!b) observed.set('battery-unavailable', 'no battery was found at start-up');
    else if (!b.ok) {
      observed.set('battery-unavailable', b.error.message);
      batteryTrusted = false;
      zeroSinceOutage = false;
    } else if (!batteryTrusted) {
      if (zeroSinceOutage && Math.abs(b.value.powerKw) <= saneIdleKw) batteryTrusted = true;
      else observed.set('battery-unavailable', `answering again at ${b.value.powerKw.toFixed(2)} kW: 0 kW until it reads idle`);
    }
    if (relayFailures.size > 0) observed.set('relay-failed', [...relayFailures.values()].join('; '));
    return observed;
  }

  /**
   * The relays as just switched, as a rate over the rest of the hour: they run this period (a job
   * that goes on shows in the hour so far at the next reading). Held at full power for the rest of
   * the hour, a dishwasher's five minutes would make the guards spend the battery on energy the
   * plan buys from the grid at that hour, as the evaluation's plant serves f_k over its hour.
   */
  const relayRestKw = (relayNextKw: number, atMs: number): number => {
    const restMs = restOfHourMs(atMs);
    return (relayNextKw * Math.min(periodMs, restMs)) / restMs;
  };

  /** The loads' rated power where a relay is on with its job not done: what they draw on the meter. */
  const relaysDrawingKw = (waiting: readonly boolean[]): number => loads.reduce((sum, load, j) => sum + (relayOn[j] === true && waiting[j] ? load.ratedPowerKw : 0), 0);

  /**
   * What the plan, or the safe state, asks of the battery (kW, + discharge), before the supervisor.
   * `relayKw` is the relays' power in the reading, `restNetLoadKw` the net load the guards hold the
   * hour to, `hourImportKwh` the hour's import so far.
   */
  function batteryRequestKw(safe: SafeBattery | null, atMs: number, meter: MeterValues | undefined, battery: BatteryValues | undefined, active: ActivePlan | null, step: PlanStep | null, relayKw: number, restNetLoadKw: number, hourImportKwh: number): number {
    if (safe === 'idle' || !meter || !battery) return 0;
    if (safe === 'self-consumption') {
      // The rule brings the meter to the committed trades (0 without); the supervisor applies the limits.
      return selfConsumptionSetpointKw({ netImportKw: meter.netImportKw - committedTradeKw(atMs), batteryPowerKw: battery.powerKw, maxChargeKw: Infinity, maxDischargeKw: Infinity });
    }
    const { plan, netLoadForecastKw } = active!;
    const k = step!.index;
    const xiKw = meter.netImportKw + battery.powerKw - netLoadForecastKw[k]! - relayKw;
    const betaK = Object.keys(plan.worstCaseCvar).length > 0 ? plan.decisionRule[k]! : 0;
    const ruleKw = plan.dischargeKw[k]! - plan.chargeKw[k]! + betaK * xiKw;
    // A plan solved without the demand charge (peakImportKw absent) pays for no peak to guard.
    if (!(config.tariff.demandChargeEurPerKwDay > 0) || plan.peakImportKw === undefined) return ruleKw;
    const guardKw = Math.max(plannedPeakTodayKw(plan, atMs, dayPeak.dayStartMs + DAY_MS), dayPeak.importKw);
    // Export does not lower an hour's import: the guard never discharges past the load.
    const allowedKw = Math.max(0, hourRateKw(guardKw, hourImportKwh, atMs));
    return Math.max(ruleKw, restNetLoadKw - allowedKw);
  }

  async function iterate(): Promise<RuntimeSnapshot> {
    const atMs = clock.nowMs();
    const { meter, pv, battery } = gateway;
    const [m, p, b] = await Promise.all([meter?.read(), pv?.read(), battery?.read()]);

    // Shiftable bookkeeping for the period that just ended, with the relays as they were in it.
    // Its requests arrive first: an appliance that was running served them as they came, so a
    // load is credited min(on-time × rating, what was queued and asked) — what it drew.
    const arrivals = queue.collect(atMs);
    let servedKwh = 0;
    if (previousAtMs !== null) for (let j = 0; j < loads.length; j++) if (relayOn[j] === true) servedKwh += queue.serve(j, atMs - previousAtMs);
    // What the relays added to the meter as it was read: a load that is on draws while its job lasts.
    const waiting = queue.pending();
    const relayKw = relaysDrawingKw(waiting);

    const active = deps.plan();
    const step = active ? stepAt(active.plan, atMs) : null;
    if (step) {
      const key = `${active!.plan.startMs}:${step.index}`;
      if (key !== stepServed.key) stepServed = { key, kwh: 0 };
      // Only the part of the period inside this step counts for it.
      if (previousAtMs !== null && atMs > previousAtMs) stepServed.kwh += (servedKwh * Math.max(0, atMs - Math.max(previousAtMs, step.startMs))) / (atMs - previousAtMs);
    }
    const observed = observeConditions(atMs, m, b, active, step);

    // Relays first, so a relay that fails now puts this period's battery in the safe state.
    const userMode = deps.userControl?.mode() ?? 'auto';
    const planMode = safeBatteryOf(observed.keys()) === null && step !== null && (userMode === 'auto' || userMode === 'hold');
    const needKwh = planMode ? (active!.plan.shiftableKw[step!.index]! * (Math.min(atMs + periodMs, step!.endMs) - step!.startMs)) / HOUR_MS - stepServed.kwh : null;
    await switchRelays(queue.choose(atMs, periodMs, needKwh, relayOn.map((on) => on === true)));
    if (relayFailures.size > 0) observed.set('relay-failed', [...relayFailures.values()].join('; '));

    const meterValues = m?.ok ? m.value : undefined;
    const batteryValues = b?.ok ? b.value : undefined;
    const dayStartMs = atMs - (atMs % DAY_MS);
    if (dayStartMs !== dayPeak.dayStartMs) dayPeak = { dayStartMs, importKw: 0 };
    const counters = countersOf(m, p);
    const hourSoFar = account.hourSoFar(atMs, meterValues?.netImportKw ?? null, counters);
    // The net load over the rest of the hour, the relays as just switched counted for their period.
    const restNetLoadKw = meterValues && batteryValues ? meterValues.netImportKw + batteryValues.powerKw - relayKw + relayRestKw(relaysDrawingKw(waiting), atMs) : 0;
    let setpoint: Setpoint | null = null;
    if (battery) {
      // A safe state wins over the household's mode; an idle battery wins over self-consumption.
      const conditionsSafe = safeBatteryOf(observed.keys());
      const safe = conditionsSafe === 'idle' ? 'idle' : (USER_MODE_BATTERY[userMode] ?? conditionsSafe);
      const requestedKw = batteryRequestKw(safe, atMs, meterValues, batteryValues, active, step, relayKw, restNetLoadKw, hourSoFar.importKwh);
      let commandedKw = 0;
      let communityGuardKw = 0;
      if (batteryValues && safe !== 'idle') {
        const live = { energyKwh: energyOf(batteryValues, battery.capacityKwh), maxChargeKw: batteryValues.maxChargeKw, maxDischargeKw: batteryValues.maxDischargeKw };
        // The household's reserve raises the floor the guard band is kept above.
        const limits = { ...guard, minEnergyKwh: Math.max(guard.minEnergyKwh, deps.userControl?.reserveEnergyKwh() ?? 0) };
        const supervised = superviseBatteryKw(requestedKw, live, limits);
        commandedKw = supervised.commandedKw;
        if (supervised.clip) observed.set(supervised.clip.reason, supervised.clip.detail);
        if (meterValues && market?.guardCommunity && deps.planDue?.(atMs) !== true) {
          // Room for the rest of the hour, as the evaluation's plant has it for the hour: a nearly empty battery gives little, not all it has in one period.
          const restS = Math.max(control.fastPeriodS, restOfHourMs(atMs) / 1000);
          const roomKw = safe === null ? Math.max(0, superviseBatteryKw(Number.MAX_VALUE, live, { ...limits, fastPeriodS: restS }).commandedKw - commandedKw) : 0;
          const decision = await market.guardCommunity({ atMs, importKw: restNetLoadKw - commandedKw, hourSoFarKwh: hourSoFar.importKwh - hourSoFar.exportKwh, roomKw });
          if (decision !== null && decision.share > 0 && roomKw > 0) {
            communityGuardKw = roomKw * decision.share;
            commandedKw += communityGuardKw;
          }
        }
      }
      try {
        await battery.setPowerSetpoint(commandedKw, revertMs);
        if (!batteryTrusted && commandedKw === 0) zeroSinceOutage = true;
      } catch (error) {
        observed.set('battery-unavailable', observed.get('battery-unavailable') ?? `setpoint ${commandedKw.toFixed(2)} kW not written: ${message(error)}`);
        batteryTrusted = false;
        zeroSinceOutage = false;
      }
      setpoint = { atMs, requestedKw, commandedKw, mode: 'plan', reasons: [], ...(communityGuardKw > 0 ? { communityGuardKw } : {}) };
    }

    emit(conditions.update(atMs, observed));
    const reasons = conditions.reasons();
    const mode: ControlMode = safeBatteryOf(reasons) === null ? 'plan' : 'safe';
    if (setpoint) setpoint = { ...setpoint, mode, reasons };

    const pvValues: PvValues | undefined = p?.ok ? p.value : undefined;
    const measurement: Measurement = {
      atMs,
      gridKw: meterValues?.netImportKw ?? null,
      pvKw: pvValues?.acPowerKw ?? null,
      batteryKw: batteryValues?.powerKw ?? null,
      socFraction: batteryValues?.socFraction ?? null,
      energyKwh: batteryValues ? energyOf(batteryValues, battery!.capacityKwh) : null,
      maxChargeKw: batteryValues?.maxChargeKw ?? null,
      maxDischargeKw: batteryValues?.maxDischargeKw ?? null,
      netLoadKw: meterValues && batteryValues ? meterValues.netImportKw + batteryValues.powerKw : null,
      relaysOn: relayOn.map((on) => on === true),
    };
    latest = measurement;
    if (atMs >= nextStoreMs) {
      store.appendMeasurement(measurement);
      nextStoreMs = (Math.floor(atMs / measurementEveryMs) + 1) * measurementEveryMs;
    }

    const records = account.add({
      atMs,
      measurement,
      counters,
      safe: mode === 'safe',
      servedKwh,
      arrivals,
      step: step ? { plan: active!.plan, index: step.index, netLoadForecastKw: active!.netLoadForecastKw[step.index]! } : null,
      communityGuardKw: setpoint?.communityGuardKw ?? 0,
    });
    for (const record of records) {
      // Today's billed peak so far: the metered hourly averages, as the demand charge bills them.
      if (record.hourStartMs >= dayPeak.dayStartMs) dayPeak.importKw = Math.max(dayPeak.importKw, record.importKwh);
      store.appendHour(record);
      deps.onHour?.(record);
    }
    previousAtMs = atMs;

    const snapshot: RuntimeSnapshot = {
      gatewayId: config.gatewayId,
      atMs,
      measurement,
      setpoint,
      mode,
      reasons,
      plan: active?.plan ?? null,
      lastSolve: active ? { atMs: active.solvedAtMs, status: active.status, solveMs: active.solveMs, fallback: active.fallback } : null,
      trades: market?.trades() ?? [],
      brokerConnected: market?.connected() === true,
    };
    deps.onSnapshot?.(snapshot);
    return snapshot;
  }

  async function safeStop(): Promise<void> {
    const { battery } = gateway;
    await Promise.all([
      // Not written: the device reverts to 0 kW by itself within the revert timeout.
      battery?.setPowerSetpoint(0, revertMs).catch((error: unknown) => deps.log?.('warn', `safe stop: 0 kW not written to the battery, it reverts within ${control.revertTimeoutS} s: ${message(error)}`)),
      // Loads with queued requests run, as they would without the gateway (which no longer waits
      // for a run worth starting); the others stay off.
      switchRelays(queue.pending()),
    ]);
    for (const failure of relayFailures.values()) deps.log?.('warn', `safe stop: ${failure}`);
  }

  return {
    iterate: () => serialised(iterate),
    shiftableState: (nowMs) => queue.state(nowMs),
    latest: () => latest,
    safeStop: () => serialised(safeStop),
  };
}

/**
 * The import rate (kW) the rest of the hour holding `atMs` may keep for the hour's import to stay at
 * `guardKw` (an hour's kWh), `soFarKwh` of it already metered.
 */
function hourRateKw(guardKw: number, soFarKwh: number, atMs: number): number {
  return (guardKw - soFarKwh) / (restOfHourMs(atMs) / HOUR_MS);
}

/** What is left of the hour holding `atMs` (ms, > 0). */
function restOfHourMs(atMs: number): number {
  return HOUR_MS - (atMs % HOUR_MS);
}

/**
 * The largest import the plan schedules from `atMs` to `dayEndMs`: what it pays today's demand
 * charge for. Not `plan.peakImportKw`: the runtime prices one peak over the whole horizon, which
 * reaches into tomorrow.
 */
function plannedPeakTodayKw(plan: ActivePlan['plan'], atMs: number, dayEndMs: number): number {
  // P2P energy bought crosses the meter too: the plan's meter import is its grid exchange plus its
  // trades, what its billed peak covers (model.ts, peakMeter). Grid import alone would hold the
  // battery back from storing energy the household bought from a neighbour.
  const tradesKw = Object.values(plan.tradesKw);
  let peakKw = 0;
  let stepStartMs = plan.startMs;
  for (let k = 0; k < plan.stepHours.length && stepStartMs < dayEndMs; k++) {
    const stepEndMs = stepStartMs + plan.stepHours[k]! * HOUR_MS;
    const meterKw = tradesKw.length === 0 ? plan.gridImportKw[k]! : plan.gridImportKw[k]! - plan.gridExportKw[k]! + tradesKw.reduce((sum, kw) => sum + kw[k]!, 0);
    if (stepEndMs > atMs) peakKw = Math.max(peakKw, meterKw);
    stepStartMs = stepEndMs;
  }
  return peakKw;
}

/** The battery rule of each household mode; auto follows the plan (or the safe state the conditions ask for). */
const USER_MODE_BATTERY: Record<UserMode, SafeBattery | null> = { auto: null, 'self-consumption': 'self-consumption', hold: 'idle', off: 'idle' };

/** Stored energy: the device's own figure where it reports one, else SoC × the installation's capacity. */
function energyOf(values: BatteryValues, capacityKwh: number): number {
  return values.energyKwh ?? values.socFraction * capacityKwh;
}

function countersOf(m: Reading<MeterValues> | undefined, p: Reading<PvValues> | undefined): HourSample['counters'] {
  const counters: HourSample['counters'] = {};
  if (m?.ok && m.value.importedEnergyKwh !== undefined) counters.imported = { atMs: m.atMs, kwh: m.value.importedEnergyKwh };
  if (m?.ok && m.value.exportedEnergyKwh !== undefined) counters.exported = { atMs: m.atMs, kwh: m.value.exportedEnergyKwh };
  if (p?.ok && p.value.energyKwh !== undefined) counters.pv = { atMs: p.atMs, kwh: p.value.energyKwh };
  return counters;
}
