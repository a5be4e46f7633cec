/**
 * Footprint of the installed gateway (issue 12 item 8): whole `prosumer-edge run` processes of the
 * compiled build (dist/, as `bin` and the systemd unit run it, with the unit's node flags),
 * measured from outside through /proc.
 *
 * 1. Real board, no simulator in the process: the gateway's config has no `simulator` section;
 *    its board profile is boards/sim.yaml with the endpoints of a simulator running in this
 *    (the benchmark's) process, so the gateway talks to devices over real TCP sockets and ptys
 *    exactly as on a real board and loads none of sim/. Peak RSS (VmHWM) over discovery, the
 *    first solve and a few fast-loop rounds; time from spawning `run` to the discovery report,
 *    which is printed once every device has been read.
 * 2. With the in-process simulator: config/gateway.sim.yaml (simulated household, embedded
 *    telemetry broker, status page) for one simulated hour: peak RSS.
 *
 * Sizes: runs per case 3 (`--quick` 1); PE_BENCH_FOOTPRINT_SECONDS wall seconds the real-board
 * gateway runs after its discovery report (12, above two fast-loop rounds and the first solve);
 * PE_BENCH_FOOTPRINT_NODE_FLAGS node's flags and PE_BENCH_FOOTPRINT_ENV its environment (default
 * the systemd unit's).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { freePort, freePorts } from './free-ports.ts';
import { report, type BenchOptions } from './report.ts';
import { ScaledClock } from '../time/clock.ts';
import { packageFile } from '../package/paths.ts';
import { simBoardFile, startSimulator } from '../../sim/simulator.ts';
import { defaultStartIso } from '../../sim/command.ts';

const MIB = 2 ** 20;
/** The compiled CLI: what is installed, whichever way this benchmark itself was started. */
const builtCli = packageFile('dist', 'src', 'cli', 'bin.js');
/**
 * The gateway is started as deploy/prosumer-edge.service starts it: the node flags of its
 * ExecStart and the variables of its Environment= lines, read from the unit file so the figures
 * always hold for what is installed. PE_BENCH_FOOTPRINT_NODE_FLAGS tries other flags,
 * PE_BENCH_FOOTPRINT_ENV other variables ("NAME=value …"; empty: none).
 */
function launchOptions(): Launch {
  const unit = unitLaunch(readFileSync(packageFile('deploy', 'prosumer-edge.service'), 'utf8'));
  return {
    nodeFlags: process.env.PE_BENCH_FOOTPRINT_NODE_FLAGS !== undefined ? process.env.PE_BENCH_FOOTPRINT_NODE_FLAGS.split(' ').filter(Boolean) : unit.nodeFlags,
    env: process.env.PE_BENCH_FOOTPRINT_ENV !== undefined ? envAssignments(process.env.PE_BENCH_FOOTPRINT_ENV.split(' ')) : unit.env,
  };
}

interface Launch {
  nodeFlags: string[];
  env: Record<string, string>;
}

/** A systemd unit's node flags (ExecStart's words between node and the script) and its Environment= variables. */
export function unitLaunch(unitFile: string): Launch {
  const lines = unitFile.split('\n').map((line) => line.trim());
  const exec = lines.find((line) => line.startsWith('ExecStart='));
  if (exec === undefined) throw new Error('deploy/prosumer-edge.service has no ExecStart');
  const words = exec.slice('ExecStart='.length).split(/\s+/);
  const script = words.findIndex((word) => word.endsWith('.js'));
  const env = envAssignments(lines.filter((line) => line.startsWith('Environment=')).flatMap((line) => line.slice('Environment='.length).split(/\s+/)));
  return { nodeFlags: words.slice(1, script), env };
}

function envAssignments(words: string[]): Record<string, string> {
  return Object.fromEntries(words.filter(Boolean).map((word) => [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)]));
}
const sampleEveryMs = 100;

interface Measured {
  hwmBytes: number;
  /** Wall ms from spawn to the discovery report (every device read), null if none came. */
  toDevicesReadMs: number | null;
  devicesFound: string;
}

export async function runBench(options: BenchOptions): Promise<void> {
  if (!existsSync(builtCli)) throw new Error(`bench footprint measures the compiled build: ${builtCli} is missing (npm run build)`);
  const runs = options.quick ? 1 : 3;
  const seconds = Number(process.env.PE_BENCH_FOOTPRINT_SECONDS ?? 12);
  const dir = mkdtempSync(join(tmpdir(), 'bench-footprint-'));
  // The machine's own load, for the conditions: start-up time in particular grows with it.
  const loadBefore = loadavg()[0]!;
  const launch = launchOptions();
  const sim = await startSimulator({ clock: new ScaledClock(Date.parse(defaultStartIso), 1) });
  try {
    const real: Measured[] = [];
    for (let i = 0; i < runs; i++) real.push(await measure(await realBoardConfig(join(dir, `real-${i}`), sim.vars), launch, { stopAfterReportMs: seconds * 1000 }));
    const withSim: Measured[] = [];
    for (let i = 0; i < runs; i++) withSim.push(await measure(await simulatorConfig(join(dir, `sim-${i}`)), launch, { stopAfterReportMs: null }));

    const params = { runs, build: 'dist', nodeFlags: launch.nodeFlags.join(' '), env: Object.entries(launch.env).map(([name, value]) => `${name}=${value}`).join(' '), node: process.version, loadAvgBefore: Math.round(loadBefore * 100) / 100 };
    const eachMiB = (ms: Measured[]) => ms.map((m) => (m.hwmBytes / MIB).toFixed(1)).join(' ');
    const worst = (ms: Measured[], pick: (m: Measured) => number) => Math.max(...ms.map(pick));
    report(options, { suite: 'footprint', metric: 'peak RSS, real board', value: worst(real, (m) => m.hwmBytes) / MIB, unit: 'MiB', params: { ...params, devices: real[0]!.devicesFound, seconds, eachMiB: eachMiB(real) }, goal: { op: '<=', value: 100 } });
    report(options, { suite: 'footprint', metric: 'peak RSS, in-process simulator', value: worst(withSim, (m) => m.hwmBytes) / MIB, unit: 'MiB', params: { ...params, devices: withSim[0]!.devicesFound, simulatedHours: 1, eachMiB: eachMiB(withSim) }, goal: { op: '<=', value: 150 } });
    const starts = real.map((m) => m.toDevicesReadMs);
    if (starts.some((ms) => ms === null)) throw new Error('bench footprint: a real-board gateway printed no discovery report');
    report(options, { suite: 'footprint', metric: 'run to devices read', value: Math.max(...(starts as number[])) / 1000, unit: 's', params: { ...params, devices: real[0]!.devicesFound, worstOf: runs, eachS: starts.map((ms) => (ms! / 1000).toFixed(2)).join(' ') }, goal: { op: '<=', value: 1.5 } });
  } finally {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

type ConfigDoc = Record<string, unknown> & { simulator?: Record<string, unknown> };

function exampleConfig(): ConfigDoc {
  const config = parse(readFileSync(packageFile('config', 'gateway.sim.yaml'), 'utf8')) as ConfigDoc;
  const data = packageFile('data', 'community');
  config.tariff = { pricesFile: join(data, 'prices', 'day_ahead_DE_2015-2016.csv') };
  config.forecast = { historyFile: join(data, 'buildings', 'residential1_hourly.csv') };
  return config;
}

/** The simulator's devices as a real board: no `simulator` section, system clock, telemetry to the machine's Mosquitto as to Home Assistant's. */
async function realBoardConfig(dir: string, vars: Record<string, string>): Promise<string> {
  const config = exampleConfig();
  delete config.simulator;
  config.board = { file: simBoardFile, vars };
  config.site = { shiftable: [{ relay: 'dishwasher', maxDelayHours: 6, demand: { source: 'schedule', daily: [{ hour: 18, energyKwh: 1.2 }] } }] };
  config.control = { fastPeriodS: 5, solveBudgetMs: 2000 };
  config.storage = { dir: join(dir, 'var') };
  config.gatewayId = 'footprint-bench';
  config.telemetry = { mqtt: { brokerUrl: 'mqtt://127.0.0.1:1883' }, statusPage: { port: await freePort() } };
  return writeConfig(dir, config);
}

/** config/gateway.sim.yaml as shipped, for one simulated hour on free ports. */
async function simulatorConfig(dir: string): Promise<string> {
  const config = exampleConfig();
  config.board = { file: simBoardFile };
  config.simulator = { ...config.simulator, hours: 1 };
  config.storage = { dir: join(dir, 'var') };
  const [brokerPort, statusPort] = await freePorts(2);
  config.telemetry = { mqtt: { brokerUrl: `embedded:${brokerPort}` }, statusPage: { port: statusPort! } };
  return writeConfig(dir, config);
}

function writeConfig(dir: string, config: ConfigDoc): string {
  const file = join(mkdtempSync(`${dir}-`), 'gateway.yaml');
  writeFileSync(file, stringify(config));
  return file;
}

/**
 * Runs one gateway and samples its VmHWM (the kernel's high-water mark of resident memory, the
 * solver worker's thread included). `stopAfterReportMs`: SIGTERM that long after the discovery
 * report; null: the gateway stops by itself (a simulated run's `hours`).
 */
function measure(configFile: string, launch: Launch, { stopAfterReportMs }: { stopAfterReportMs: number | null }): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const startedMs = performance.now();
    const child = spawn(process.execPath, [...launch.nodeFlags, builtCli, 'run', '--config', configFile], { env: { ...process.env, ...launch.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    let hwmBytes = 0;
    let toDevicesReadMs: number | null = null;
    let devicesFound = '?';
    const sample = () => {
      const kb = /VmHWM:\s+(\d+) kB/.exec(readStatus(child.pid!))?.[1];
      if (kb !== undefined) hwmBytes = Number(kb) * 1024;
    };
    const sampler = setInterval(sample, sampleEveryMs);
    // A gateway that never gets going is stopped: the figures would mean nothing.
    const deadline = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stderr.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      const found = /devices: (\d+ of \d+) found/.exec(log);
      if (found && toDevicesReadMs === null) {
        toDevicesReadMs = performance.now() - startedMs;
        devicesFound = found[1]!.replace(' of ', '/');
        if (stopAfterReportMs !== null) setTimeout(() => {
          sample();
          child.kill('SIGTERM');
        }, stopAfterReportMs);
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      clearInterval(sampler);
      clearTimeout(deadline);
      if (code !== 0) reject(new Error(`bench footprint: gateway exited with ${code}: ${log.trim().split('\n').slice(-5).join('\n')}`));
      else resolve({ hwmBytes, toDevicesReadMs, devicesFound });
    });
  });
}

function readStatus(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return '';
  }
}

