/**
 * `bench gateway`: the footprint of whole `prosumer-edge run` processes (issue 5), each a child
 * process measured from outside through /proc, with the loop figures it writes with `--stats`.
 *
 * 1. One gateway over a simulated day, with the settings of config/gateway.sim.yaml at a speed
 *    slow enough that no fast-loop iteration is skipped: resident memory (sampled, and the
 *    kernel's high-water mark) against the 150 MiB goal, CPU and wall time per fast-loop
 *    iteration, slow-loop latency from tick to the setpoint written from the new plan, and the
 *    process's total CPU time.
 * 2. Real-time capacity: N gateways at once at speed 1 with a fast loop every second and a solve
 *    every minute, for N = 1, 2, 4, 8, … until one skips a fast-loop iteration, a solve falls
 *    back on its time budget, or a process fails.
 *
 * Each gateway is configured as the simulator example is: its own simulated devices, embedded
 * broker and status page, so it carries everything a gateway process carries. The simulator
 * runs inside the gateway process, so its figures include the device side of every exchange.
 *
 * Sizes (the `--quick` defaults in brackets): PE_BENCH_GATEWAY_HOURS simulated hours of the day
 * run (24 [4]), PE_BENCH_GATEWAY_SPEED its speed (120), PE_BENCH_GATEWAY_PROCESSES the process
 * counts to try (1,2,4,8,16,32 [1,2]), PE_BENCH_GATEWAY_SECONDS wall seconds per count (80).
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { freePorts } from './free-ports.ts';
import { parse, stringify } from 'yaml';
import { loadGatewayConfig } from '../config/gateway.ts';
import type { RuntimeResult } from '../runtime/gateway-runtime.ts';
import { report, type BenchOptions, type BenchRecord } from './report.ts';
import { cliEntry, packageFile } from '../package/paths.ts';

const simConfigFile = packageFile('config', 'gateway.sim.yaml');
const suite = 'gateway';
const MIB = 2 ** 20;
const sampleEveryMs = 200;
/**
 * Wall time given to start-up (node and the TypeScript loader, the simulator, discovery, the
 * forecaster fit: about 3 s of CPU per process) before simulated time reaches the start, so the
 * loops are measured, not the start-up competing with them. A process not ready by then starts
 * late; that lag is reported.
 */
const startLeadMs = (processes: number) => 5_000 + 3_000 * processes;
/** How long past its last simulated instant a gateway may take to stop before it is stopped. */
const stopGraceMs = 30_000;
/** How long the machine's own load is sampled before the gateways start. */
const idleSampleMs = 2_000;

export async function runBench(options: BenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-gateway-'));
  try {
    await benchDay(options, join(dir, 'day'));
    await benchCapacity(options, join(dir, 'capacity'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchDay(options: BenchOptions, dir: string): Promise<void> {
  const hours = envNumber('PE_BENCH_GATEWAY_HOURS', options.quick ? 4 : 24);
  // At 120 a fast-loop round (60 simulated s in the example config) has 500 ms of wall time,
  // above the slowest iterations seen while a solve runs beside it; at the example's 600 (100 ms)
  // iterations are skipped.
  const speed = envNumber('PE_BENCH_GATEWAY_SPEED', 120);
  const setups = await writeConfigs(dir, 1, startLeadMs(1), (config) => {
    config.simulator = { ...config.simulator, speed, hours };
  });
  const run = await runGateways(setups, { speed, hours });
  const g = run.gateways[0]!;
  if (g.failure) throw new Error(`bench gateway: ${g.failure}`);
  // The figures' conditions as the gateway saw them, defaults filled in.
  const { control } = loadGatewayConfig(setups[0]!.file);
  const params = { speed, hours, fastPeriodS: control.fastPeriodS, stepMinutes: control.stepMinutes, solveBudgetMs: control.solveBudgetMs, wallS: round(run.wallS), machineBusyPercent: round(run.machineBusyPercent), busyBeforePercent: round(run.machineBusyBeforePercent) };
  const out = (metric: string, value: number, unit: string, extra: Partial<Pick<BenchRecord, 'goal' | 'params'>> = {}) =>
    report(options, { suite, metric, value, unit, params: { ...params, ...extra.params }, ...(extra.goal ? { goal: extra.goal } : {}) });

  out('day peak RSS (VmHWM)', g.hwmBytes / MIB, 'MiB', { goal: { op: '<=', value: 150 } });
  out('day peak RSS sampled', g.peakRssBytes / MIB, 'MiB', { params: { everyMs: sampleEveryMs } });
  out('day final RSS', g.finalRssBytes / MIB, 'MiB');
  out('day process CPU', g.cpuS, 's', { params: { meaning: 'user+system of the whole process, start-up included' } });
  out('day loops mean CPU load', (100 * g.loopCpuS) / run.loopWallS, '% of a core', { params: { meaning: 'from the start of simulated time on' } });
  const s = g.stats;
  out('fast iteration CPU median', quantile(s.fastIterationCpuMs, 0.5), 'ms', { params: { iterations: s.fastIterations } });
  out('fast iteration CPU p95', quantile(s.fastIterationCpuMs, 0.95), 'ms', { params: { iterations: s.fastIterations } });
  out('fast iteration wall median', quantile(s.fastIterationWallMs, 0.5), 'ms');
  out('fast iteration wall p95', quantile(s.fastIterationWallMs, 0.95), 'ms');
  out('tick to setpoint median', quantile(s.tickToSetpointMs, 0.5), 'ms', { params: { ticks: s.slowTicks } });
  out('tick to setpoint p95', quantile(s.tickToSetpointMs, 0.95), 'ms', { params: { ticks: s.slowTicks } });
  out('tick to setpoint max', maxOf(s.tickToSetpointMs), 'ms', { params: { ticks: s.slowTicks } });
  out('skipped fast iterations', s.skippedFastIterations, 'iterations', { params: { iterations: s.fastIterations } });
  out('fallback plans', s.fallbacks, 'plans', { params: { ticks: s.slowTicks } });
  out('safety events', s.safetyEvents, 'events');
  out('start lag', g.startLagS, 's', { params: { leadS: startLeadMs(1) / 1000 } });
}

async function benchCapacity(options: BenchOptions, dir: string): Promise<void> {
  const seconds = envNumber('PE_BENCH_GATEWAY_SECONDS', 80);
  const counts = processCounts(options);
  let sustained = 0;
  let limit = `not reached up to ${counts.at(-1)}`;
  for (const processes of counts) {
    const hours = seconds / 3600;
    const configs = await writeConfigs(join(dir, String(processes)), processes, startLeadMs(processes), (config) => {
      config.simulator = { ...config.simulator, speed: 1, hours };
      // Demanding but realistic: devices read and the decision rule applied every second, a new
      // plan every minute; the revert timeout covers ten rounds as in the example. The plan keeps
      // its 24 steps (a 24-min horizon), so each solve is the size of an hourly one, 60 times as
      // often; a shiftable load must then be served within that horizon.
      config.control = { ...config.control, fastPeriodS: 1, stepMinutes: 1, horizonSteps: 24, revertTimeoutS: 10 };
      config.site.shiftable = config.site.shiftable?.map((load) => ({ ...load, maxDelayHours: 0.3 }));
      config.storage = { ...config.storage, measurementEveryS: 60 };
    });
    const run = await runGateways(configs, { speed: 1, hours });
    const stats = run.gateways.map((g) => g.stats);
    const skipped = sum(stats.map((s) => s.skippedFastIterations));
    const fallbacks = sum(stats.map((s) => s.fallbacks));
    const failed = run.gateways.filter((g) => g.failure !== null);
    const params = { processes, seconds, fastPeriodS: 1, stepMinutes: 1, speed: 1 };
    const out = (metric: string, value: number, unit: string, extra: Record<string, string | number | boolean> = {}) =>
      report(options, { suite, metric, value, unit, params: { ...params, ...extra } });
    out('rt skipped fast iterations', skipped, 'iterations', { iterations: sum(stats.map((s) => s.fastIterations)) });
    out('rt fallback plans', fallbacks, 'plans', { ticks: sum(stats.map((s) => s.slowTicks)), minTicksPerProcess: Math.min(...stats.map((s) => s.slowTicks)) });
    out('rt tick to setpoint max', maxOf(stats.flatMap((s) => s.tickToSetpointMs)), 'ms');
    // Without each process's first plan, whose solve also starts the worker and compiles the solver.
    out('rt later ticks to setpoint max', maxOf(stats.flatMap((s) => s.tickToSetpointMs.slice(1))), 'ms');
    out('rt fast iteration wall p95', quantile(stats.flatMap((s) => s.fastIterationWallMs), 0.95), 'ms');
    out('rt total RSS (sum VmHWM)', sum(run.gateways.map((g) => g.hwmBytes)) / MIB, 'MiB', { perProcessMiB: round(sum(run.gateways.map((g) => g.hwmBytes)) / MIB / processes) });
    out('rt gateways CPU load', (100 * sum(run.gateways.map((g) => g.loopCpuS))) / run.loopWallS, '% of a core', { cores: run.cores });
    out('rt machine CPU busy', run.machineBusyPercent, '%', { cores: run.cores, loadAvg1m: round(run.loadAvg1m), busyBeforePercent: round(run.machineBusyBeforePercent) });
    out('rt start lag max', maxOf(run.gateways.map((g) => g.startLagS)), 's', { leadS: startLeadMs(processes) / 1000 });
    out('rt failed processes', failed.length, 'processes', failed.length > 0 ? { first: failed[0]!.failure! } : {});
    const reasons = [skipped > 0 ? `${skipped} skipped fast iterations` : '', fallbacks > 0 ? `${fallbacks} fallback plans` : '', failed.length > 0 ? `${failed.length} failed processes` : ''].filter(Boolean);
    if (reasons.length > 0) {
      limit = `${processes} processes: ${reasons.join(', ')}`;
      break;
    }
    sustained = processes;
  }
  report(options, { suite, metric: 'real-time gateways sustained', value: sustained, unit: 'processes', params: { tried: counts.join(','), limit, seconds } });
}

/** The fields of a gateway config file this suite reads or sets (docs/configuration.md); the rest pass through. */
interface ConfigDoc {
  gatewayId: string;
  board: { file: string };
  simulator: { startIso: string; speed: number; hours?: number; wallAnchorMs?: number; dataDir?: string };
  site: { shiftable?: { maxDelayHours?: number }[] };
  control: { fastPeriodS?: number; stepMinutes?: number; horizonSteps?: number; solveBudgetMs?: number; revertTimeoutS?: number };
  storage: { dir: string; measurementEveryS?: number };
  tariff?: { pricesFile?: string };
  forecast?: { historyFile?: string };
  telemetry?: object;
}

interface GatewaySetup {
  file: string;
  config: ConfigDoc;
}

/**
 * Writes `count` configs from config/gateway.sim.yaml: paths absolute (the copies live
 * elsewhere), storage in `dir`, free ports for each one's broker and status page, one shared
 * wall anchor `leadMs` from now, and `adjust` applied last.
 */
async function writeConfigs(dir: string, count: number, leadMs: number, adjust: (config: ConfigDoc) => void): Promise<GatewaySetup[]> {
  const example = parse(readFileSync(simConfigFile, 'utf8')) as ConfigDoc;
  const at = (p: string) => resolve(dirname(simConfigFile), p);
  const ports = await freePorts(2 * count);
  const wallAnchorMs = Date.now() + leadMs;
  return Array.from({ length: count }, (_, i) => {
    const gatewayDir = join(dir, `gw-${i + 1}`);
    mkdirSync(gatewayDir, { recursive: true });
    const config: ConfigDoc = structuredClone(example);
    config.gatewayId = `bench-${i + 1}`;
    config.board = { ...config.board, file: at(config.board.file) };
    if (config.simulator.dataDir) config.simulator.dataDir = at(config.simulator.dataDir);
    if (config.tariff?.pricesFile) config.tariff.pricesFile = at(config.tariff.pricesFile);
    if (config.forecast?.historyFile) config.forecast.historyFile = at(config.forecast.historyFile);
    config.simulator.wallAnchorMs = wallAnchorMs;
    config.storage = { ...config.storage, dir: join(gatewayDir, 'store') };
    config.telemetry = { mqtt: { brokerUrl: `embedded:${ports[2 * i]}` }, statusPage: { port: ports[2 * i + 1] } };
    config.control ??= {};
    adjust(config);
    const file = join(gatewayDir, 'gateway.yaml');
    writeFileSync(file, stringify(config));
    return { file, config };
  });
}

interface GatewayFigures {
  stats: RuntimeResult;
  /** VmHWM at the last sample: the process's peak resident memory. */
  hwmBytes: number;
  peakRssBytes: number;
  finalRssBytes: number;
  /** user + system over the whole process life (up to the last sample). */
  cpuS: number;
  /** user + system from the start of simulated time on: the loops without start-up. */
  loopCpuS: number;
  /** Wall seconds between the common start of simulated time and this gateway's loops starting. */
  startLagS: number;
  /** Why the process did not finish as it should, or null. */
  failure: string | null;
}

interface Run {
  gateways: GatewayFigures[];
  /** Wall seconds from spawning to the last exit. */
  wallS: number;
  /** Wall seconds of simulated time (from the anchor to the last exit). */
  loopWallS: number;
  cores: number;
  /** Busy share of all cores while the loops ran (/proc/stat). */
  machineBusyPercent: number;
  /** The same over a few seconds before the gateways started: other work on the machine. */
  machineBusyBeforePercent: number;
  loadAvg1m: number;
}

/** Spawns one gateway per config, samples each through /proc until it exits, and reads its stats. */
async function runGateways(setups: GatewaySetup[], clock: { speed: number; hours: number }): Promise<Run> {
  const before = machineCpu();
  await new Promise((done) => setTimeout(done, idleSampleMs));
  const machineBusyBeforePercent = busyPercent(before, machineCpu());
  const started = performance.now();
  const anchorMs = setups[0]!.config.simulator.wallAnchorMs!;
  const simulatedWallMs = (clock.hours * 3_600_000) / clock.speed;
  const procs = setups.map((setup) => startGateway(setup, anchorMs + simulatedWallMs + stopGraceMs));
  const ticksPerS = clockTicksPerSecond();
  let machineAtAnchor: CpuTimes | null = null;
  const sampler = setInterval(() => {
    for (const p of procs) p.sample();
    if (machineAtAnchor === null && Date.now() >= anchorMs) {
      machineAtAnchor = machineCpu();
      for (const p of procs) p.markLoopsStart();
    }
  }, sampleEveryMs);
  try {
    await Promise.all(procs.map((p) => p.exited));
  } finally {
    clearInterval(sampler);
  }
  const machineEnd = machineCpu();
  const from = machineAtAnchor ?? machineEnd;
  const startIsoMs = Date.parse(setups[0]!.config.simulator.startIso);
  return {
    gateways: procs.map((p) => p.figures(ticksPerS, startIsoMs, clock.speed)),
    wallS: (performance.now() - started) / 1000,
    loopWallS: Math.max(1e-3, (Date.now() - anchorMs) / 1000),
    cores: machineEnd.cores,
    machineBusyPercent: busyPercent(from, machineEnd),
    machineBusyBeforePercent,
    loadAvg1m: loadavg()[0]!,
  };
}

function startGateway({ file, config }: GatewaySetup, deadlineMs: number) {
  const dir = dirname(file);
  const statsFile = join(dir, 'stats.json');
  const logFile = join(dir, 'gateway.log');
  const log = openSync(logFile, 'w');
  const child = spawn(process.execPath, [cliEntry, 'run', '--config', file, '--stats', statsFile], { stdio: ['ignore', log, log] });
  closeSync(log);
  const pid = child.pid!;
  let hwmBytes = 0;
  let peakRssBytes = 0;
  let finalRssBytes = 0;
  let cpuTicks = 0;
  let cpuTicksAtLoops: number | null = null;
  let overdue = false;
  const overdueTimer = setTimeout(() => {
    overdue = true;
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  }, Math.max(0, deadlineMs - Date.now()));
  const exited = new Promise<number | null>((resolveExit) => {
    child.once('exit', (code) => {
      clearTimeout(overdueTimer);
      resolveExit(code);
    });
    child.once('error', () => resolveExit(null));
  });
  let code: number | null | undefined;
  void exited.then((c) => (code = c));
  return {
    exited,
    /** Reads VmRSS, VmHWM and utime+stime; a process that has just exited has nothing to read. */
    sample() {
      if (code !== undefined) return;
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
        const rss = kib('VmRSS');
        if (rss === 0) return; // a zombie: memory already released
        finalRssBytes = rss;
        peakRssBytes = Math.max(peakRssBytes, rss);
        hwmBytes = Math.max(hwmBytes, kib('VmHWM'));
        // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        cpuTicks = Number(fields[11]) + Number(fields[12]);
      } catch {
        // exited between two samples
      }
    },
    markLoopsStart() {
      cpuTicksAtLoops = cpuTicks;
    },
    figures(ticksPerS: number, startIsoMs: number, speed: number): GatewayFigures {
      const logText = readFileSync(logFile, 'utf8');
      let stats: RuntimeResult | null = null;
      try {
        stats = JSON.parse(readFileSync(statsFile, 'utf8')) as RuntimeResult;
      } catch {
        // no stats: reported as a failure below
      }
      const failure = overdue ? `${config.gatewayId} did not stop ${stopGraceMs / 1000} s after its last simulated instant` : code !== 0 || stats === null ? `${config.gatewayId} exited with ${code}: ${tail(logText)}` : null;
      // The runtime logs "running: …" once its loops start, stamped with simulated time.
      const running = /^(\S+) \S+ info\s+running:/m.exec(logText);
      const startLagS = running ? Math.max(0, Date.parse(running[1]!) - startIsoMs) / 1000 / speed : NaN;
      return {
        stats: stats ?? emptyStats,
        hwmBytes,
        peakRssBytes,
        finalRssBytes,
        cpuS: cpuTicks / ticksPerS,
        loopCpuS: (cpuTicks - (cpuTicksAtLoops ?? cpuTicks)) / ticksPerS,
        startLagS,
        failure,
      };
    },
  };
}

const emptyStats: RuntimeResult = { fastIterations: 0, skippedFastIterations: 0, slowTicks: 0, safetyEvents: 0, fastIterationCpuMs: [], fastIterationWallMs: [], tickToSetpointMs: [], fallbacks: 0 };

interface CpuTimes {
  busy: number;
  total: number;
  cores: number;
}

/** All cores' jiffies from /proc/stat: busy is everything but idle and iowait. */
function machineCpu(): CpuTimes {
  const lines = readFileSync('/proc/stat', 'utf8').split('\n');
  const all = lines[0]!.split(/\s+/).slice(1).map(Number);
  const total = sum(all.slice(0, 8));
  return { busy: total - all[3]! - all[4]!, total, cores: lines.filter((l) => /^cpu\d/.test(l)).length };
}

function busyPercent(from: CpuTimes, to: CpuTimes): number {
  return (100 * (to.busy - from.busy)) / Math.max(1, to.total - from.total);
}

function clockTicksPerSecond(): number {
  return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
}

/** `PE_BENCH_GATEWAY_PROCESSES` (comma-separated) overrides the process counts tried. */
function processCounts(options: BenchOptions): number[] {
  const chosen = process.env['PE_BENCH_GATEWAY_PROCESSES'];
  if (chosen === undefined || chosen.trim() === '') return options.quick ? [1, 2] : [1, 2, 4, 8, 16, 32];
  const counts = chosen.split(',').map((n) => Number(n.trim()));
  if (counts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`PE_BENCH_GATEWAY_PROCESSES must list process counts of at least 1, got "${chosen}"`);
  return counts;
}

function envNumber(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return fallback;
  const value = Number(text);
  if (!(value > 0)) throw new Error(`${name} must be a positive number, got "${text}"`);
  return value;
}

/** Nearest-rank quantile; NaN for no values (JSON null). */
function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** NaN (JSON null) for no values rather than -Infinity. */
function maxOf(values: number[]): number {
  return values.length === 0 ? NaN : Math.max(...values);
}

function sum(values: number[]): number {
  return values.reduce((s, v) => s + v, 0);
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-5).join(' | ');
}
