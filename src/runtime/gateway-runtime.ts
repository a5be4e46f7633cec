/**
 * One gateway process (`prosumer-edge run`): devices, store, planner, market, telemetry and the
 * three loops of formulation §6, on one clock. The same code runs on a real gateway (system
 * clock, real devices) and on the simulator (accelerated clock, simulated devices over real
 * sockets and ptys).
 *
 * The loops are independent tasks: the fast loop reads and commands every `fastPeriodS`; the
 * slow loop solves in a worker thread at every step boundary and, after each solve, lets the
 * market loop clear coming slots. A slow solve or a market round therefore never delays a
 * fast-loop iteration; a fast-loop instant that passes while the previous iteration still runs
 * is skipped and counted, not squeezed in late.
 */
import { join } from 'node:path';
import { ScaledClock, systemClock, type Clock } from '../time/clock.ts';
import { holdWhile, LockstepClock, parentLink, type LockstepLink } from '../time/lockstep-clock.ts';
import type { GatewayConfig } from '../config/gateway-config.ts';
import { loadBoardProfile, type BoardProfile } from '../config/board.ts';
import { assembleGateway, type DeviceReport, type Gateway } from '../gateway/assemble.ts';
import { formatDiscoveryReport } from '../gateway/report.ts';
import type { Simulator } from '../../sim/simulator.ts';
import { startEmbeddedBroker, type EmbeddedBroker, type EmbeddedBrokerOptions } from '../market/broker.ts';
import { openRuntimeStore, StoreLockedError } from '../storage/store.ts';
import { volatileStore } from '../storage/volatile-store.ts';
import { createTariffSource } from './prices.ts';
import { openPriceSource } from '../prices/index.ts';
import { createSolverClient } from './solver-client.ts';
import { createPlanner, type Planner } from './planner.ts';
import { createMarketLoop, embeddedMarketBroker, type MarketLoop } from './market-loop.ts';
import { createFastLoop } from './fast-loop.ts';
import { NoLossSettlement } from './no-loss.ts';
import type { DaySettlement } from './no-loss-link.ts';
import { NoLossShadow } from './shadow.ts';
import { createStatusSource, startMqttTelemetry, startStatusPage } from '../telemetry/index.ts';
import { startWatchdog } from './watchdog.ts';
import { UserControl, type UserCommand } from './user-control.ts';
import { EnergyCounters } from '../telemetry/energy-totals.ts';
import { createRuntimeLog } from './log.ts';
import { BoundedSample } from './bounded-stats.ts';
import type { ActivePlan, HourRecord, Measurement, RuntimeSnapshot, RuntimeStore, SafetyEvent } from './types.ts';

export interface RuntimeOptions {
  /** Where log lines go (default stderr). */
  write?: (line: string) => void;
  /** Aborting stops the runtime cleanly (SIGTERM/SIGINT in the CLI). */
  signal?: AbortSignal;
  /**
   * Lock-step time (`simulator.speed: lockstep`): the channel to the coordinator that advances it.
   * Default: this process's IPC channel to its parent (the community run).
   */
  lockstep?: LockstepLink;
}

export interface RuntimeResult {
  fastIterations: number;
  skippedFastIterations: number;
  slowTicks: number;
  safetyEvents: number;
  /**
   * Process CPU time (user + system) of fast-loop iterations, ms. Like the two below, every
   * iteration in a run of up to 2048, then a uniform sample of 2048 in order (bounded-stats.ts),
   * so a gateway that runs for years does not grow with them.
   */
  fastIterationCpuMs: number[];
  /** Wall time of fast-loop iterations, ms. */
  fastIterationWallMs: number[];
  /** Wall time from a slow-loop tick to the battery setpoint written from its plan, ms. */
  tickToSetpointMs: number[];
  /** Solves that ended in a fallback plan. */
  fallbacks: number;
}

type Closer = () => Promise<void> | void;

export async function runGateway(config: GatewayConfig, options: RuntimeOptions = {}): Promise<RuntimeResult> {
  // Loaded only when configured: a gateway on real devices never loads the simulator (nor its
  // data). Loaded before the clock starts, so an accelerated clock does not run while it loads.
  const simulatorModule = config.simulator ? await import('../../sim/simulator.ts') : null;
  const clock = gatewayClock(config, options.lockstep);
  const log = createRuntimeLog(config.gatewayId, clock, options.write);
  const closers: Closer[] = [];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) {
      try {
        await close();
      } catch (e) {
        log('warn', `shutdown: ${(e as Error).message}`);
      }
    }
  };
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const watchdog = startWatchdog({ log });
  closers.push(() => watchdog.close());

  try {
    const brokers = new EmbeddedBrokers();
    closers.push(() => brokers.close());

    // Before any device: a price file that went bad since the config was checked stops the start here.
    const prices = openPriceSource(config.tariff, { clock, wallClock: systemClock, storageDir: config.storage.dir, log });
    closers.push(() => prices.close());
    const tariff = createTariffSource(config.tariff, { prices, log });

    let sim: Simulator | undefined;
    if (config.simulator && simulatorModule) {
      sim = await simulatorModule.startSimulator({ clock, boardFile: config.board.file, ...(config.simulator.household ? { household: simulatedHousehold(config) } : {}) });
      closers.push(() => sim!.close());
    }
    const loaded = loadBoardProfile(config.board.file, { ...config.board.vars, ...(sim?.vars ?? {}) });
    const board = config.simulator?.speed === 'lockstep' ? withLockstepTimeouts(loaded) : loaded;
    // A device missing now is tried again with back-off and joins the loops when it answers.
    const onFound = (found: DeviceReport) => {
      log('info', `device found after start-up: ${found.id} (${found.kind}) at ${found.endpoint}: ${found.detail}\n${formatDiscoveryReport(gateway.report)}`);
      watchdog.status(`device ${found.id} found; controlling ${gateway.report.filter((r) => r.found).length} devices`);
    };
    const gateway: Gateway = await assembleGateway(board, { clock, onFound });
    closers.push(() => gateway.close());
    log('info', `devices:\n${formatDiscoveryReport(gateway.report)}`);

    const opened = openStoreOrKeepInMemory(config.storage.dir, log);
    closers.push(() => opened.close());
    const store = keepControllingOnStoreErrors(opened, log);
    const userControl = new UserControl({ battery: config.site.battery, guardBandKwh: config.control.socGuardBandKwh, stateFile: join(config.storage.dir, 'user-control.json') });
    const energy = new EnergyCounters(join(config.storage.dir, 'energy-totals.json'), store.hours(), log);

    let market: Awaited<ReturnType<typeof createMarketLoop>> | null = null;
    // The market bids from the planner's latest plan; the planner, created below, needs the market.
    let latestPlan: ActivePlan | null = null;
    if (config.market) {
      market = createMarketLoop({ config, clock, dataDir: store.marketDir, brokerUrl: await brokers.resolve(config.market.brokerUrl, embeddedMarketBroker(config.market)), plan: () => latestPlan, log });
      closers.push(() => market!.close());
      await market.start();
    }

    const solver = createSolverClient({ solver: config.control.solver, timeBudgetMs: config.control.solveBudgetMs });
    closers.push(() => solver.close());
    const planner = createPlanner({ config, clock, store, tariff, market, solver, log, reserveEnergyKwh: () => userControl.reserveEnergyKwh() });
    const noLoss = market ? noLossSettlement(config, clock, market, planner, solver, store.marketDir, log, (settlement) => telemetry?.publishSettlement(settlement)) : null;
    if (noLoss) closers.push(() => noLoss.close());
    // Loading the solver is the heaviest part of a start: done before the loops, so the first
    // solves are not charged for it (on a shared machine they would overrun their budget).
    await solver.ready();

    // Home Assistant's commands: checked and applied by userControl, recorded as safety events; set once the loops run.
    let replanNow: (() => void) | null = null;
    let takingCommands = false;
    const onCommand = (command: UserCommand) => {
      if (!takingCommands) return log('warn', `telemetry: ${command.command} command ignored: the gateway is still starting`);
      const outcome = userControl.apply(command, clock.nowMs());
      store.appendSafetyEvent(outcome.event);
      reportSafetyEvent(outcome.event);
      telemetry?.publishControl(userControl.state());
      if (outcome.replan) replanNow?.();
    };
    const { minReservePercent, maxReservePercent } = userControl.state();
    const telemetry = config.telemetry.mqtt
      ? startMqttTelemetry({ ...config.telemetry.mqtt, brokerUrl: await brokers.resolve(config.telemetry.mqtt.brokerUrl), gatewayId: config.gatewayId, log, commands: { minReservePercent, maxReservePercent, onCommand }, settlement: noLoss !== null })
      : null;
    if (telemetry) closers.push(() => telemetry.close());
    telemetry?.publishControl(userControl.state());
    telemetry?.publishEnergy(energy.totals());

    // The status page starts with what the store kept, so a restart does not blank its history.
    const recent = createStatusSource();
    for (const record of store.hours().slice(-48)) recent.publishHour(record);
    for (const event of store.safetyEvents().slice(-50)) recent.publishSafetyEvent(event);
    const page = config.telemetry.statusPage ? await startStatusPage({ ...config.telemetry.statusPage, source: recent }) : null;
    if (page) {
      closers.push(() => page.close());
      log('info', `status page on ${page.url}`);
    }

    let safetyEvents = 0;
    function reportSafetyEvent(event: SafetyEvent): void {
      safetyEvents++;
      recent.publishSafetyEvent(event);
      telemetry?.publishSafetyEvent(event);
      log(event.action === 'clip' ? 'info' : 'warn', `safety ${event.action} ${event.reason}: ${event.detail}`);
      if (event.action !== 'clip') watchdog.status(`safety ${event.action} ${event.reason}`);
    }
    const fastPeriodMs = config.control.fastPeriodS * 1000;
    const stepMs = config.control.stepMinutes * 60_000;
    const fast = createFastLoop({
      gateway,
      config,
      clock,
      store,
      tariff,
      plan: () => planner.active(),
      // The slow loop plans at every step boundary (below), from the iteration that measures for it.
      planDue: (atMs) => {
        const boundaryMs = Math.round(atMs / stepMs) * stepMs;
        return Math.abs(atMs - boundaryMs) <= fastPeriodMs / 4 && (planner.active()?.plan.startMs ?? -Infinity) < boundaryMs - 1_000;
      },
      market,
      demand: sim?.demand ?? null,
      log,
      onSnapshot: (snapshot: RuntimeSnapshot) => {
        recent.publishSnapshot(snapshot);
        telemetry?.publishSnapshot(snapshot);
      },
      onSafetyEvent: reportSafetyEvent,
      onHour: (record: HourRecord) => {
        recent.publishHour(record);
        planner.observeHour(record);
        market?.observeHour(record);
        noLoss?.observeHour(record);
        telemetry?.publishHour(record);
        // Kept without telemetry too: Home Assistant's total_increasing sensors start from them once it is on.
        const totals = energy.add(record);
        telemetry?.publishEnergy(totals);
      },
      userControl,
    });
    closers.push(() => fast.safeStop());
    takingCommands = true;

    const endMs = config.simulator?.hours !== undefined ? Date.parse(config.simulator.startIso) + config.simulator.hours * 3_600_000 : Infinity;
    const simStartMs = config.simulator ? Date.parse(config.simulator.startIso) : -Infinity;
    // A shared wall anchor may lie in the future: nothing runs before simulated time reaches the start.
    if (clock.nowMs() < simStartMs) await clock.sleep(simStartMs - clock.nowMs(), stop.signal);
    watchdog.ready(`controlling ${gateway.report.filter((r) => r.found).length} devices`);
    log('info', `running: fast loop every ${config.control.fastPeriodS} s, plan every ${config.control.stepMinutes} min`);

    const fastIterationCpuMs = new BoundedSample();
    const fastIterationWallMs = new BoundedSample();
    const tickToSetpointMs = new BoundedSample();
    let fallbacks = 0;
    // One iteration at a time: the slow loop's immediate application of a new plan and the
    // periodic iteration share this chain, so they never interleave on the devices.
    let iterating: Promise<unknown> = Promise.resolve();
    const iterate = () => {
      const run = iterating.then(async () => {
        const cpu = process.cpuUsage();
        const wallStart = performance.now();
        await fast.iterate();
        const used = process.cpuUsage(cpu);
        fastIterationCpuMs.add((used.user + used.system) / 1000);
        fastIterationWallMs.add(performance.now() - wallStart);
      });
      iterating = run.catch(() => undefined);
      return run;
    };
    // The first plan is solved from a measured state, not from a guess.
    await iterate();
    const fastTask = periodic(clock, fastPeriodMs, endMs, stop.signal, iterate);
    const slowTick = async (atMs: number) => {
      const tickWallMs = performance.now();
      // Plan from this instant's state: when the fast loop's step due now has not run yet (both
      // loops wake at the hour), it runs first, so the plan starts from the battery as it is and
      // the forecaster has seen the hour that just ended, not one fast period or an hour behind.
      if ((fast.latest()?.atMs ?? -Infinity) < atMs) await iterate();
      const measured: Measurement | null = fast.latest();
      const state = {
        energyKwh: measured?.energyKwh ?? null,
        maxChargeKw: measured?.maxChargeKw ?? null,
        maxDischargeKw: measured?.maxDischargeKw ?? null,
        shiftable: fast.shiftableState(atMs),
      };
      const active = await planner.tick(atMs, state);
      latestPlan = active;
      if (active.fallback) fallbacks++;
      // A new plan is applied at once rather than at the next fast-loop instant.
      await iterate();
      tickToSetpointMs.add(performance.now() - tickWallMs);
      // The shadow plans whole hours only (a start or a plan-now between two hours is not one).
      const hourMs = Math.round(atMs / HOUR_MS) * HOUR_MS;
      if (noLoss && Math.abs(atMs - hourMs) <= SHADOW_HOUR_SLACK_MS) noLoss.decide(hourMs, state);
      watchdog.status(`plan ${active.status}${active.fallback ? ' (fallback)' : ''} at ${new Date(atMs).toISOString()}`);
      if (market) await market.tick(clock.nowMs());
    };
    // Ticks never overlap: a plan-now press waits for a tick that is running, and the other way round.
    let planning: Promise<unknown> = Promise.resolve();
    const planAt = (atMs: number): Promise<void> => {
      const run = planning.then(() => slowTick(atMs));
      planning = run.catch(() => undefined);
      return run;
    };
    replanNow = () => void planAt(clock.nowMs()).catch((e: unknown) => log('error', `plan now: ${(e as Error).message}`));
    const slowTask = periodic(clock, stepMs, endMs, stop.signal, planAt, true);
    // Lock-step time may move once both loops are on it (the slow loop's first tick holds it still).
    if (clock instanceof LockstepClock) clock.started();
    const [fastRun, slowRun] = await Promise.all([fastTask, slowTask]);
    // No plan-now may start once the loops are done, and one under way ends before anything closes.
    takingCommands = false;
    await planning;
    await noLoss?.settled();
    watchdog.stopping();
    log('info', `stopped: ${fastRun.runs} fast iterations (${fastRun.skipped} skipped), ${slowRun.runs} plans, ${safetyEvents} safety events`);
    return {
      fastIterations: fastRun.runs,
      skippedFastIterations: fastRun.skipped,
      slowTicks: slowRun.runs,
      safetyEvents,
      fastIterationCpuMs: fastIterationCpuMs.values(),
      fastIterationWallMs: fastIterationWallMs.values(),
      tickToSetpointMs: tickToSetpointMs.values(),
      fallbacks,
    };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await closeAll();
  }
}

const HOUR_MS = 3_600_000;
/** A plan step this close to a whole hour plans that hour in the shadow (a real clock's tick comes a little late). */
const SHADOW_HOUR_SLACK_MS = 5 * 60_000;

/** The no-loss settlement of a community gateway (no-loss.ts); null when off or when the plan step is not an hour (the shadow steps hours). */
function noLossSettlement(config: GatewayConfig, clock: Clock, market: Pick<MarketLoop, 'settleDay'>, planner: Planner, solver: ReturnType<typeof createSolverClient>, dataDir: string, log: ReturnType<typeof createRuntimeLog>, onSettled: (settlement: DaySettlement) => void): NoLossSettlement | null {
  if (config.market?.coordination !== 'community' || config.market.noLossSettlement === false) return null;
  if (config.control.stepMinutes !== 60) {
    log('warn', `no-loss settlement off: it needs hourly plan steps (control.stepMinutes: 60), got ${config.control.stepMinutes}`);
    return null;
  }
  const shadow = new NoLossShadow({ site: config.site, aloneInput: planner.aloneInput, solver, log });
  return new NoLossSettlement({
    shadow,
    settle: (report) => market.settleDay(report),
    batteryWearEurPerKw2h: config.control.batteryWearEurPerKw2h,
    demandChargeEurPerKwDay: config.tariff.demandChargeEurPerKwDay,
    clock,
    dataDir,
    log,
    onSettled,
  });
}

/**
 * A store that cannot be opened for an I/O reason (a full or read-only card) must not keep the
 * gateway from controlling its battery: it runs with the recent records in memory and says so.
 * One that another live gateway holds is no such case: two processes must never control one
 * battery, so that still ends the start.
 */
function openStoreOrKeepInMemory(dir: string, log: ReturnType<typeof createRuntimeLog>): RuntimeStore {
  try {
    return openRuntimeStore(dir, { log });
  } catch (error) {
    if (error instanceof StoreLockedError) throw error;
    log('error', `store: cannot open ${dir} (${(error as Error).message}); controlling with the recent records in memory only: nothing is kept on disk until a restart opens the store`);
    return volatileStore(join(dir, 'market'));
  }
}

/**
 * A full disk or an I/O error must not stop the battery being controlled: a failed append is
 * logged (once per outage, not per record) and the loops go on; the record is lost.
 */
function keepControllingOnStoreErrors(store: RuntimeStore, log: ReturnType<typeof createRuntimeLog>): RuntimeStore {
  let failing = false;
  const guard = <A extends unknown[]>(name: string, append: (...args: A) => void) => (...args: A) => {
    try {
      append(...args);
      if (failing) log('info', 'store: appends succeed again');
      failing = false;
    } catch (e) {
      if (!failing) log('error', `store: ${name} failed, records are being lost until it recovers: ${(e as Error).message}`);
      failing = true;
    }
  };
  return {
    appendPlan: guard('appendPlan', (plan) => store.appendPlan(plan)),
    appendMeasurement: guard('appendMeasurement', (m) => store.appendMeasurement(m)),
    appendHour: guard('appendHour', (r) => store.appendHour(r)),
    appendErrorSample: guard('appendErrorSample', (e) => store.appendErrorSample(e)),
    appendSafetyEvent: guard('appendSafetyEvent', (e) => store.appendSafetyEvent(e)),
    plans: () => store.plans(),
    measurements: () => store.measurements(),
    hours: () => store.hours(),
    errorSamples: () => store.errorSamples(),
    safetyEvents: () => store.safetyEvents(),
    marketDir: store.marketDir,
    close: () => store.close(),
  };
}

/**
 * The replayed household asks for shiftable energy from the simulated start on, never for the
 * hours before it, even when a shared wall anchor makes the simulator start earlier.
 */
function simulatedHousehold(config: GatewayConfig) {
  const simulator = config.simulator!;
  const shiftable = config.site.shiftable.find((load) => load.demand.source === 'simulator');
  return {
    id: simulator.household!,
    requestsFromMs: Date.parse(simulator.startIso),
    ...(simulator.dataDir ? { dataDir: simulator.dataDir } : {}),
    ...(shiftable ? { shiftableRelay: shiftable.relay } : {}),
  };
}

/**
 * On lock-step time a device that answers late costs no simulated time, but a reply timed out on the
 * wall clock changes what the loops see: the machine's load would change the run's figures. So the
 * simulated buses wait ten times the board's timeouts; a device that does not answer is still
 * reported, later.
 */
const LOCKSTEP_TIMEOUT_FACTOR = 10;

function withLockstepTimeouts(board: BoardProfile): BoardProfile {
  const buses = Object.fromEntries(Object.entries(board.buses).map(([name, bus]) => [name, bus.timeoutMs === undefined ? bus : { ...bus, timeoutMs: LOCKSTEP_TIMEOUT_FACTOR * bus.timeoutMs }]));
  return { ...board, buses };
}

function gatewayClock(config: GatewayConfig, lockstep: LockstepLink | undefined): Clock {
  if (config.simulator?.speed === 'lockstep') return new LockstepClock(Date.parse(config.simulator.startIso), lockstep ?? parentLink());
  if (!config.simulator) return systemClock;
  return new ScaledClock(Date.parse(config.simulator.startIso), config.simulator.speed, config.simulator.wallAnchorMs ?? Date.now());
}

/**
 * Runs `task` at every whole multiple of `periodMs` of the clock until `endMs` or abort. An
 * instant that passes while the task still runs is skipped. A task that throws is a bug in a
 * loop, not a device problem (those are typed readings): it is rethrown so the process exits
 * and systemd restarts it, rather than controlling with a broken loop.
 */
async function periodic(clock: Clock, periodMs: number, endMs: number, signal: AbortSignal, task: (atMs: number) => Promise<void>, runAtStart = false): Promise<{ runs: number; skipped: number }> {
  let runs = 0;
  let skipped = 0;
  let atMs = runAtStart ? clock.nowMs() : nextMultiple(clock.nowMs(), periodMs);
  while (!signal.aborted && atMs < endMs) {
    // A timer may wake a little early on an accelerated clock (1 ms of wall time is seconds of
    // simulated time): a task never runs before its instant, or a plan solved "at" the hour
    // would not yet cover the iteration that follows it.
    let slept = true;
    while (slept && clock.nowMs() < atMs) slept = await clock.sleep(atMs - clock.nowMs(), signal);
    if (!slept) break;
    await holdWhile(clock, task(atMs));
    runs++;
    const next = nextMultiple(Math.max(atMs + 1, clock.nowMs()), periodMs);
    skipped += Math.max(0, Math.round((next - atMs) / periodMs) - 1);
    atMs = next;
  }
  return { runs, skipped };
}

function nextMultiple(tMs: number, periodMs: number): number {
  return Math.ceil(tMs / periodMs) * periodMs;
}

/** `embedded:<port>` URLs start one in-process broker per port; mqtt:// URLs pass through. */
class EmbeddedBrokers {
  private readonly started = new Map<number, Promise<EmbeddedBroker>>();

  /** `options`: how an embedded broker is started (the market's admits its community only, on its listen host). */
  async resolve(url: string, options: EmbeddedBrokerOptions = {}): Promise<string> {
    const match = /^embedded:(\d+)$/.exec(url);
    if (!match) return url;
    const port = Number(match[1]);
    if (!this.started.has(port)) this.started.set(port, startEmbeddedBroker({ ...options, port }));
    return (await this.started.get(port)!).url;
  }

  async close(): Promise<void> {
    for (const broker of this.started.values()) await (await broker).close();
  }
}
