/**
 * The compiled build (issue 12 item 8, issue 13 item 7) as it is installed: the build of `npm run
 * build` (made in a folder of its own, so dist/ is never pulled from under a running process),
 * then `node <build>/src/cli/bin.js …` with no TypeScript loader. A loader hook (module-log.mjs) records
 * every file module a process loads, so what a command loads is checked, not inferred.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { freePort } from '../../src/bench/free-ports.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
/** The build's folder, relative to the package root (dist/ once installed). */
const build = `out/test-build-${process.pid}`;
const bin = join(root, build, 'src', 'cli', 'bin.js');
const moduleLog = fileURLToPath(new URL('./module-log.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'compiled-test-'));
let runs = 0;

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  /** The file modules loaded so far: paths in the build as `dist/…`, else package-relative (`node_modules/…`). */
  modules: () => string[];
}

function start(args: string[]): Run {
  const log = join(dir, `modules-${runs++}.txt`);
  writeFileSync(log, '');
  const child = spawn(process.execPath, ['--import', moduleLog, bin, ...args], { cwd: dir, env: { ...process.env, PE_MODULE_LOG: log }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited: new Promise((resolve) => child.once('exit', resolve)),
    modules: () => readFileSync(log, 'utf8').split('\n').filter(Boolean).map((url) => fileURLToPath(url).slice(root.length).replace(`${build}/`, 'dist/')),
  };
}

async function until(what: string, condition: () => boolean, timeoutMs: number, show: () => string): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !condition(); ) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms; output:\n${show()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A process that exited but was not reaped yet (a zombie) counts as gone. */
const alive = (pid: number) => {
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'deploy', 'build.mjs'), '--out-dir', build], { cwd: root, stdio: 'pipe' });
}, 120_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(join(root, build), { recursive: true, force: true });
});

describe('the compiled build', () => {
  it('prints the package version', async () => {
    const run = start(['--version']);
    expect(await run.exited).toBe(0);
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(run.stdout()).toBe(`prosumer-edge ${version}\n`);
    expect(run.modules().every((m) => !m.endsWith('.ts'))).toBe(true);
  });

  it('answers run --help with options, exit status and examples, without loading the config loader or the runtime', async () => {
    const run = start(['run', '--help']);
    expect(await run.exited).toBe(0);
    for (const text of ['--config FILE', '--stats FILE', 'exit status', 'examples:', 'config/gateway.sim.yaml', 'docs/configuration.md']) expect(run.stdout()).toContain(text);
    expect(run.modules()).toContain('dist/src/runtime/command.js');
    expect(run.modules().filter((m) => /gateway-runtime|config\/gateway\.js|node_modules/.test(m))).toEqual([]);
  });

  it('answers sim --help and bench --help with their options and examples, starting nothing', async () => {
    const sim = start(['sim', '--help']);
    const bench = start(['bench', '--help']);
    expect(await sim.exited).toBe(0);
    expect(await bench.exited).toBe(0);
    for (const text of ['--speed N', '--start ISO-8601', '--board FILE', 'default 1', 'examples:']) expect(sim.stdout()).toContain(text);
    for (const text of ['footprint', 'gateway', '--json', '--quick', 'examples:']) expect(bench.stdout()).toContain(text);
    expect(sim.modules().filter((m) => m.includes('sim/serial') || m.includes('sim/plant'))).toEqual([]);
  });

  it('runs a gateway on a real board profile without loading the simulator, the evaluation or the embedded broker, with the broker password kept out of the log', async () => {
    const closedPort = await freePort();
    const config = join(dir, 'pi.yaml');
    writeFileSync(config, stringify({
      gatewayId: 'pi-test',
      board: { file: join(root, 'boards', 'raspberry-pi-4.yaml') },
      site: { shiftable: [{ relay: 'dishwasher', maxDelayHours: 6, demand: { source: 'schedule', daily: [{ hour: 18, energyKwh: 1.2 }] } }] },
      tariff: { pricesFile: join(root, 'data', 'community', 'prices', 'day_ahead_DE_2015-2016.csv') },
      storage: { dir: join(dir, 'pi-var') },
      telemetry: { mqtt: { brokerUrl: `mqtt://pi-test:s3cret-pw@127.0.0.1:${closedPort}` } },
    }));
    const run = start(['run', '--config', config]);
    // No device of the Pi's board exists here: the gateway starts in safe mode and runs on.
    await until('the gateway running and its telemetry reported unreachable', () => /running:/.test(run.stderr()) && /telemetry: broker .* unreachable/.test(run.stderr()), 30_000, run.stderr);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toMatch(/devices: 0 of \d+ found/);
    expect(run.stderr()).toContain(`mqtt://pi-test:***@127.0.0.1:${closedPort}`);
    expect(run.stderr()).not.toContain('s3cret-pw');
    const modules = run.modules();
    expect(modules).toContain('dist/src/runtime/gateway-runtime.js');
    expect(modules).toContain('dist/src/runtime/solver-worker.js');
    // Nor the embedded broker: this gateway's telemetry broker is an external one.
    expect(modules.filter((m) => m.startsWith('dist/sim/') || m.startsWith('dist/src/eval/') || m.endsWith('.ts') || m.includes('node_modules/tsx/') || m.includes('node_modules/aedes/'))).toEqual([]);
  }, 60_000);

  it('runs the simulator example: the status page serves its script and the solver worker plans', async () => {
    const statusPort = await freePort();
    const config = join(dir, 'sim.yaml');
    const data = join(root, 'data', 'community');
    writeFileSync(config, stringify({
      gatewayId: 'sim-test',
      board: { file: join(root, 'boards', 'sim.yaml') },
      // Simulated time starts 8 s from now: a start-up on a busy machine does not eat the hour boundary.
      simulator: { household: 'residential1', startIso: '2016-07-01T00:00:00Z', speed: 600, hours: 2, wallAnchorMs: Date.now() + 8_000 },
      site: { shiftable: [{ relay: 'dishwasher', maxDelayHours: 6, demand: { source: 'simulator' } }] },
      tariff: { pricesFile: join(data, 'prices', 'day_ahead_DE_2015-2016.csv') },
      forecast: { historyFile: join(data, 'buildings', 'residential1_hourly.csv') },
      control: { fastPeriodS: 60, revertTimeoutS: 600, solveBudgetMs: 4000 },
      storage: { dir: join(dir, 'sim-var') },
      telemetry: { statusPage: { port: statusPort } },
    }));
    const stats = join(dir, 'sim-stats.json');
    const run = start(['run', '--config', config, '--stats', stats]);
    await until('the status page', () => run.stderr().includes('status page on'), 60_000, run.stderr);
    const page = await (await fetch(`http://127.0.0.1:${statusPort}/`)).text();
    expect(page).toContain(readFileSync(join(root, 'src', 'telemetry', 'status-page-client.js'), 'utf8').split('\n').find((l) => l.includes('SVG_NS'))!.trim());
    expect(await run.exited).toBe(0);
    const result = JSON.parse(readFileSync(stats, 'utf8')) as { slowTicks: number; fallbacks: number };
    expect(result.slowTicks).toBeGreaterThanOrEqual(2);
    expect(result.fallbacks).toBeLessThan(result.slowTicks);
    expect(run.stderr()).toMatch(/devices: 8 of 8 found/);
    expect(run.modules()).toContain('dist/sim/simulator.js');
  }, 120_000);

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`leaves no socat behind when the simulator gets ${signal}`, async () => {
      const run = start(['sim']);
      await until('the simulator printing its devices', () => run.stdout().includes('}'), 30_000, () => run.stdout() + run.stderr());
      const socats = execFileSync('pgrep', ['-P', String(run.child.pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
      expect(socats.length).toBe(3);
      for (const pid of socats) expect(readFileSync(`/proc/${pid}/comm`, 'utf8').trim()).toBe('socat');
      run.child.kill(signal);
      await run.exited;
      await until('every socat gone', () => socats.every((pid) => !alive(pid)), 5_000, () => socats.filter(alive).join(' '));
      const vars = JSON.parse(run.stdout().slice(run.stdout().indexOf('{'), run.stdout().lastIndexOf('}') + 1)) as Record<string, string>;
      expect(existsSync(vars.rs485Pty!)).toBe(false);
    }, 40_000);
  }
});
