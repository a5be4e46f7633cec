/**
 * The community run (`prosumer-edge community`, `npm start`): four real households, each its
 * own gateway process (`prosumer-edge run`) on its own simulated devices, trading on one
 * embedded broker, over the test days of ../shared/docs/evaluation.md at accelerated time; then
 * the figures against no control on the same days and a report. docs/community.md.
 *
 * By default the processes share one **lock-step** simulated time (src/time/lockstep-clock.ts):
 * this runner is the barrier, each gateway reports over its IPC channel when it has finished its
 * step and what instant it waits for next, and time jumps to the earliest once all have. So a run
 * is deterministic (no solve ends on a wall-clock limit, no gateway starts late) and as fast as the
 * CPU allows. With `speed` the gateways instead share a scaled clock without talking to each other
 * (the same start, speed and wall-clock anchor, ScaledClock): a real-time-like demonstration, whose
 * results depend on how busy the machine is. The run starts six hours before the first test day,
 * so every gateway has a plan and its peers when the first scored hour begins, and ends an hour
 * after the last, so the last scored hour is closed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { connect } from 'mqtt';
import { shiftableRule } from '../data/assets.ts';
import { DAY_MS, HOUR_MS, householdIds, loadHousehold, loadPrices, type HouseholdSeries } from '../data/households.ts';
import { chooseSplit, isoDay, lastPricedDayMs, testDays } from '../data/split.ts';
import { startEmbeddedBroker } from '../market/broker.ts';
import type { HourRecord, SafetyEvent } from '../records/types.ts';
import { openRuntimeStore } from '../storage/store.ts';
import type { StateMessage } from '../telemetry/messages.ts';
import { communityDataDir } from '../../sim/plant/household.ts';
import { cesId, repoDir, writeRunLayout, type GatewayFiles } from './configs.ts';
import { summariseCes, type CesRunSummary } from './ces-summary.ts';
import { cliEntry } from '../package/paths.ts';
import { communityProgress, type ProgressStream } from './progress.ts';
import { LockstepBarrier, type LockstepReport } from '../time/lockstep-clock.ts';
import { writeReport } from './report.ts';
import { readSettlements } from '../runtime/no-loss.ts';
import { completeDays, noControlRecords, summariseRun, type HouseholdRecords, type RunSummary } from './summary.ts';

/**
 * Simulated time before the first test day on a scaled clock: the gateways plan, solve cold and
 * meet their peers (while four processes start on two cores) before the first scored hour. On
 * lock-step time none: time waits for them (each market waits until every member is online), so
 * the run starts at the first day's midnight from the evaluation's initial state — except with the
 * CES, whose rental market clears each day before it from the households' plans, which they make
 * only once they run.
 */
const warmUpMs = 6 * HOUR_MS;
/** Simulated time after the last test day: a gateway closes an hour's record once the next hour has begun. */
const coolDownMs = HOUR_MS;
/** Wall time the gateway processes get to start (compile, fit the forecaster, open the simulator) before simulated time begins. */
const startLeadMs = 15_000;
/** Wall time a gateway may take to stop by itself once the simulated period is over. */
const stopGraceMs = 60_000;
/**
 * Lock-step: wall time without any advance after which a gateway still running is stopped and
 * reported (a stalled run; the first solves at start-up take the longest). Time never passes the
 * period's end, so this is also how long a gateway may take to stop by itself after it.
 */
const stallMs = 180_000;
/** Wall time between SIGTERM and SIGKILL for a gateway that does not stop. */
const killAfterMs = 15_000;
const topicPrefix = 'prosumer-edge';
const stderrTailLines = 40;

export interface CommunityOptions {
  /** Run the first N test days (default: all). */
  days?: number;
  /** Take test days from this UTC day on (YYYY-MM-DD). */
  startDay?: string;
  /** Simulated seconds per wall-clock second; absent: lock-step time. */
  speed?: number;
  /** Runs go to `<outDir>/<timestamp>/` (default out/community). */
  outDir?: string;
  /** Data in the layout of ../shared/data (default data/community, shipped). */
  dataDir?: string;
  /** Where the progress bar goes (default stdout). */
  progress?: ProgressStream;
  /** Aborting stops every gateway cleanly; the summary covers the days completed until then. */
  signal?: AbortSignal;
  /** Add the CES operator (`prosumer-edge ces-agent`, docs/ces.md §5) on the same broker and lock-step time. */
  ces?: boolean;
  /** ε^C of the community import chance family (market.communityImportChance); absent: the family is off. */
  communityImportEpsilon?: number;
  /** The live community guard (market.communityGuard); default on. */
  liveGuard?: boolean;
  /** Forecast-error trajectories per solve (control.samples); default the configuration's (20). */
  samples?: number;
}

export interface GatewayOutcome {
  household: string;
  /** 'ok': ran to the end; 'crashed': exited early or with an error; 'stopped': stopped by the user. */
  status: 'ok' | 'crashed' | 'stopped';
  exitCode: number | null;
  signal: string | null;
  /** The last lines the process wrote to stderr, unless it ran to the end ('' then). */
  stderrTail: string;
  logFile: string;
  configFile: string;
}

export interface CommunitySummary {
  runDir: string;
  reportFile: string;
  summaryFile: string;
  dataDir: string;
  households: string[];
  speed: number | 'lockstep';
  /** ε^C of the community import chance family the gateways planned with; null: off. */
  communityImportEpsilon: number | null;
  /** Whether the gateways ran the live community guard. */
  liveGuard: boolean;
  /** Forecast-error trajectories per solve, when set (`--samples`); null: the configuration's default. */
  samples: number | null;
  /** The evaluation's split: the gateways fitted their forecasters and took their error samples only before it (YYYY-MM-DD). */
  fittedBefore: string;
  /** Simulated period: the warm-up hours, then the days from the first to the last test day run. */
  startIso: string;
  endIso: string;
  /** Test days run (ISO dates), and those every finished gateway recorded whole: the summary's days. */
  requestedDays: string[];
  summarisedDays: string[];
  wallSeconds: number;
  interrupted: boolean;
  gateways: GatewayOutcome[];
  /** Households that finished, on the summarised days; null if there is nothing to summarise. */
  controlled: RunSummary | null;
  noControl: RunSummary | null;
  /** With `ces`: the CES process and the rental market (null: nothing to summarise). */
  ces?: { outcome: GatewayOutcome; market: CesRunSummary | null };
}

interface Telemetry {
  hours: Map<string, HourRecord[]>;
  energy: Map<string, { atMs: number; energyKwh: number }[]>;
  safety: Map<string, SafetyEvent[]>;
  latestMs: Map<string, number>;
}

export async function runCommunity(options: CommunityOptions = {}): Promise<CommunitySummary> {
  const startedWallMs = Date.now();
  const dataDir = resolve(options.dataDir ?? communityDataDir);
  const speed = options.speed ?? 'lockstep';
  if (speed !== 'lockstep' && !(speed > 0)) throw new RangeError(`speed must be > 0, got ${speed}`);
  const ids = [...householdIds];
  const [prices, ...series] = await Promise.all([loadPrices(dataDir), ...ids.map((id) => loadHousehold(dataDir, id))]);
  // The evaluation's split (../shared/docs/evaluation.md): test days after it; the gateways fit and sample only before it.
  const split = chooseSplit(series);
  const days = selectDays(series, lastPricedDayMs(prices!), split.splitMs, options);
  const startMs = days[0]! - (speed === 'lockstep' && !options.ces ? 0 : warmUpMs);
  const endMs = days.at(-1)! + DAY_MS + coolDownMs;

  const runDir = join(resolve(options.outDir ?? join(repoDir, 'out', 'community')), new Date(startedWallMs).toISOString().replace(/[:.]/g, '-'));
  const telemetry: Telemetry = { hours: new Map(), energy: new Map(), safety: new Map(), latestMs: new Map() };
  const broker = await startEmbeddedBroker();
  let layout: ReturnType<typeof writeRunLayout>;
  let outcomes: GatewayOutcome[];
  try {
    const subscriber = connect(broker.url, { protocolVersion: broker.mqttVersion, clientId: `community-runner-${process.pid}`, reconnectPeriod: 500 });
    subscriber.on('message', (topic, payload) => collect(telemetry, topic, payload));
    subscriber.on('error', () => undefined);
    const progress = communityProgress(options.progress ?? process.stdout, startMs, endMs, speed);
    try {
      await subscriber.subscribeAsync(['state', 'hour', 'safety'].map((kind) => `${topicPrefix}/+/${kind}`), { qos: 1 });
      const wallAnchorMs = speed === 'lockstep' ? undefined : Date.now() + startLeadMs;
      layout = writeRunLayout({
        runDir,
        dataDir,
        households: series.map((s) => ({ household: s.id, maxDelayHours: shiftableRule(s).maxDelayHours })),
        brokerUrl: broker.url,
        startIso: new Date(startMs).toISOString(),
        speed,
        ...(wallAnchorMs !== undefined ? { wallAnchorMs } : {}),
        hours: (endMs - startMs) / HOUR_MS,
        ...(options.ces ? { ces: { days: days.map(isoDay), endIso: new Date(endMs).toISOString() } } : {}),
        ...(options.communityImportEpsilon !== undefined ? { communityImportChance: { epsilon: options.communityImportEpsilon } } : {}),
        liveGuard: options.liveGuard !== false,
        ...(options.samples !== undefined ? { samples: options.samples } : {}),
        freezeIso: new Date(split.splitMs).toISOString(),
      });
      const barrier = speed === 'lockstep' ? new LockstepBarrier(startMs, endMs) : null;
      let advancedAt = { ms: startMs, wallMs: Date.now() };
      outcomes = await runGateways(layout.ces ? [...layout.gateways, layout.ces] : layout.gateways, {
        overdue: () => {
          if (!barrier) return Date.now() > wallAnchorMs! + (endMs - startMs) / (speed as number) + stopGraceMs;
          if (barrier.currentMs !== advancedAt.ms) advancedAt = { ms: barrier.currentMs, wallMs: Date.now() };
          return Date.now() - advancedAt.wallMs > stallMs;
        },
        barrier,
        signal: options.signal,
        tick: (live) => {
          const reported = live.map((id) => telemetry.latestMs.get(id)).filter((t): t is number => t !== undefined);
          if (barrier) progress.update(barrier.currentMs, reported.length, live.length);
          else progress.update(reported.length > 0 ? Math.min(...reported) : null, reported.length, live.length);
        },
      });
    } finally {
      progress.done();
      await subscriber.endAsync().catch(() => undefined);
    }
  } finally {
    await broker.close();
  }

  const interrupted = options.signal?.aborted ?? false;
  const cesOutcome = outcomes.find((o) => o.household === cesId);
  outcomes = outcomes.filter((o) => o.household !== cesId);
  const finished = outcomes.filter((o) => o.status !== 'crashed');
  const records = finished.map((o) => householdRecords(o.household, layout.gateways.find((g) => g.household === o.household)!, telemetry));
  const summarised = records.length > 0 ? completeDays(records, days) : [];
  const finishedSeries = series.filter((s) => finished.some((o) => o.household === s.id));
  const controlled = summarised.length > 0 ? summariseRun(records, summarised) : null;
  const noControl = summarised.length > 0 ? summariseRun(await noControlRecords(finishedSeries, prices!, summarised), summarised) : null;

  const summary: CommunitySummary = {
    runDir,
    reportFile: join(runDir, 'report.html'),
    summaryFile: join(runDir, 'summary.json'),
    dataDir,
    households: ids,
    speed,
    communityImportEpsilon: options.communityImportEpsilon ?? null,
    liveGuard: options.liveGuard !== false,
    samples: options.samples ?? null,
    fittedBefore: isoDay(split.splitMs),
    startIso: new Date(startMs).toISOString(),
    endIso: new Date(endMs).toISOString(),
    requestedDays: days.map(isoDay),
    summarisedDays: summarised.map(isoDay),
    wallSeconds: (Date.now() - startedWallMs) / 1000,
    interrupted,
    gateways: outcomes,
    controlled,
    noControl,
    ...(layout.ces && cesOutcome
      ? { ces: { outcome: cesOutcome, market: summariseCes(cesId, layout.ces.storageDir, Object.fromEntries(layout.gateways.filter((g) => finished.some((o) => o.household === g.household)).map((g) => [g.household, join(g.storageDir, 'market')])), prices!, summarised.map(isoDay)) } }
      : {}),
  };
  await writeReport(summary);
  return summary;
}

/** The test days of the data (every household clean; the last one's 24-h horizon still priced), from --start, the first --days. */
function selectDays(series: HouseholdSeries[], lastDayMs: number, splitMs: number, options: CommunityOptions): number[] {
  let days = testDays(series, lastDayMs, splitMs).daysMs;
  if (options.startDay !== undefined) {
    const fromMs = Date.parse(`${options.startDay.slice(0, 10)}T00:00:00Z`);
    if (Number.isNaN(fromMs)) throw new RangeError(`start day must be YYYY-MM-DD, got "${options.startDay}"`);
    days = days.filter((d) => d >= fromMs);
  }
  if (options.days !== undefined) {
    if (!(Number.isInteger(options.days) && options.days > 0)) throw new RangeError(`days must be a positive integer, got ${options.days}`);
    days = days.slice(0, options.days);
  }
  if (days.length === 0) throw new RangeError(`no test day${options.startDay ? ` on or after ${options.startDay}` : ''} in the data`);
  return days;
}

function collect(telemetry: Telemetry, topic: string, payload: Buffer): void {
  const [, gatewayId, kind] = topic.split('/');
  if (!gatewayId || payload.length === 0) return;
  const push = <T>(map: Map<string, T[]>, value: T) => {
    const list = map.get(gatewayId);
    if (list) list.push(value);
    else map.set(gatewayId, [value]);
  };
  try {
    const message = JSON.parse(payload.toString('utf8'));
    if (kind === 'state') {
      const state = message as StateMessage;
      telemetry.latestMs.set(gatewayId, state.atMs);
      if (state.energyKwh !== null) push(telemetry.energy, { atMs: state.atMs, energyKwh: state.energyKwh });
    } else if (kind === 'hour') {
      push(telemetry.hours, message as HourRecord);
    } else if (kind === 'safety') {
      push(telemetry.safety, message as SafetyEvent);
    }
  } catch {
    // A malformed message is not the runner's to judge; the gateway's own log has its side.
  }
}

/**
 * What a gateway recorded: its hours and its stored energy from its store (durable, and taken on
 * the gateway's clock, so a lock-step run gives the same figures every time) merged over what its
 * telemetry delivered (the store keeps only the latest month of measurements), and its safety
 * events from telemetry (the store keeps three months of them).
 */
function householdRecords(household: string, files: GatewayFiles, telemetry: Telemetry): HouseholdRecords {
  const hours = new Map((telemetry.hours.get(household) ?? []).map((h) => [h.hourStartMs, h]));
  const energy = new Map((telemetry.energy.get(household) ?? []).map((e) => [e.atMs, e]));
  try {
    const store = openRuntimeStore(files.storageDir, { log: () => undefined });
    try {
      for (const h of store.hours()) hours.set(h.hourStartMs, h);
      const measured = store.measurements();
      // Telemetry samples inside the span the store still holds are replaced by the store's.
      if (measured.length > 0) for (const atMs of energy.keys()) if (atMs >= measured[0]!.atMs) energy.delete(atMs);
      for (const m of measured) if (m.energyKwh !== null) energy.set(m.atMs, { atMs: m.atMs, energyKwh: m.energyKwh });
    } finally {
      store.close();
    }
  } catch {
    // A store that cannot be opened leaves what telemetry delivered.
  }
  return {
    household,
    // In time order, not in the order telemetry happened to deliver them: sums come out the same every run.
    hours: [...hours.values()].sort((a, b) => a.hourStartMs - b.hourStartMs),
    energy: [...energy.values()].sort((a, b) => a.atMs - b.atMs),
    safetyEvents: telemetry.safety.get(household) ?? [],
    settlements: readSettlements(join(files.storageDir, 'market')),
  };
}

interface GatewayRunOptions {
  /** True once a gateway that still runs is overdue (scaled: past the period's end; lock-step: no advance for long): it is stopped and counted as crashed. */
  overdue: () => boolean;
  /** Lock-step time: every gateway reports to it over its IPC channel. */
  barrier: LockstepBarrier | null;
  signal: AbortSignal | undefined;
  /** Called about every 200 ms with the households whose process still runs. */
  tick: (live: string[]) => void;
}

/** Starts one `prosumer-edge run` per gateway and waits until all have exited. */
async function runGateways(gateways: GatewayFiles[], options: GatewayRunOptions): Promise<GatewayOutcome[]> {
  const running = new Map<string, ChildProcess>();
  const stoppedByUs = new Set<string>();
  const overdue = new Set<string>();
  const termSentAtMs = new Map<string, number>();
  // SIGTERM first (the gateway zeroes its battery and closes its store), SIGKILL if it does not exit.
  const stop = (household: string, why: Set<string>) => {
    why.add(household);
    const child = running.get(household)!;
    const sentAtMs = termSentAtMs.get(household);
    if (sentAtMs === undefined) {
      termSentAtMs.set(household, Date.now());
      child.kill('SIGTERM');
    } else if (Date.now() - sentAtMs > killAfterMs) {
      child.kill('SIGKILL');
    }
  };
  const onAbort = () => {
    for (const household of running.keys()) stop(household, stoppedByUs);
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const ticker = setInterval(() => {
    options.tick([...running.keys()]);
    const late = options.overdue();
    for (const household of running.keys()) {
      if (late) stop(household, overdue);
      else if (stoppedByUs.has(household)) stop(household, stoppedByUs);
    }
  }, 200);
  try {
    const outcomes = Promise.all(
      gateways.map(async (g): Promise<GatewayOutcome> => {
        const log = createWriteStream(g.logFile, { flags: 'a' });
        const child = spawn(process.execPath, [cliEntry, ...(g.command ?? ['run', '--config', g.configFile])], { cwd: repoDir, stdio: ['ignore', 'pipe', 'pipe', ...(options.barrier ? ['ipc' as const] : [])] });
        running.set(g.household, child);
        const { barrier } = options;
        if (barrier) {
          barrier.join(g.household, (advance) => {
            if (child.connected) child.send(advance);
          });
          child.on('message', (report) => barrier.report(g.household, report as LockstepReport));
          child.once('exit', () => barrier.leave(g.household));
        }
        const tail: string[] = [];
        child.stdout!.pipe(log, { end: false });
        child.stderr!.on('data', (chunk: Buffer) => {
          log.write(chunk);
          tail.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
          tail.splice(0, Math.max(0, tail.length - stderrTailLines));
        });
        const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done) => {
          child.once('error', (error) => {
            tail.push(`cannot start: ${error.message}`);
            done([null, null]);
          });
          // 'close' also waits for the output to be read; a process the gateway left behind could hold its pipes open.
          child.once('exit', (code, sig) => {
            const timer = setTimeout(() => done([code, sig]), 2000);
            child.once('close', () => {
              clearTimeout(timer);
              done([code, sig]);
            });
          });
        });
        running.delete(g.household);
        await new Promise<void>((done) => log.end(done));
        const status = overdue.has(g.household) || (exitCode !== 0 && !stoppedByUs.has(g.household)) ? 'crashed' : stoppedByUs.has(g.household) ? 'stopped' : 'ok';
        if (overdue.has(g.household)) tail.push(options.barrier ? `lock-step time did not advance for ${stallMs / 1000} s: stopped` : `did not exit within ${stopGraceMs / 1000} s after the simulated period ended: stopped`);
        return { household: g.household, status, exitCode, signal, stderrTail: status === 'ok' ? '' : tail.join('\n'), logFile: g.logFile, configFile: g.configFile };
      }),
    );
    // Every child is spawned by now (synchronously above): an abort that came before reaches them too.
    if (options.signal?.aborted) onAbort();
    return await outcomes;
  } finally {
    clearInterval(ticker);
    options.signal?.removeEventListener('abort', onAbort);
  }
}
