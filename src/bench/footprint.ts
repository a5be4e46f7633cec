/**
 * Footprint: resident memory of a gateway process once it has discovered its devices. The
 * simulator runs here; the gateway runs in a child process (this file, run as a script with
 * `--gateway-child`) so the figure holds the gateway alone — node, the TypeScript loader the
 * CLI uses, the drivers, the open buses — and none of the simulator.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { report, type BenchOptions } from './report.ts';
import { ScaledClock, systemClock } from '../time/clock.ts';
import { loadBoardProfile } from '../config/board.ts';
import { assembleGateway } from '../gateway/assemble.ts';
import { simBoardFile, startSimulator } from '../../sim/simulator.ts';
import { defaultStartIso } from '../../sim/command.ts';

const CHILD_FLAG = '--gateway-child';
const thisFile = fileURLToPath(import.meta.url);

interface ChildResult {
  rssBytes: number;
  heapUsedBytes: number;
  devicesFound: number;
  devices: number;
}

export async function runBench(options: BenchOptions): Promise<void> {
  const runs = options.quick ? 1 : 3;
  const sim = await startSimulator({ clock: new ScaledClock(Date.parse(defaultStartIso), 1) });
  try {
    const results: ChildResult[] = [];
    for (let i = 0; i < runs; i++) results.push(await gatewayChild(sim.vars));
    const worst = results.reduce((a, b) => (b.rssBytes > a.rssBytes ? b : a));
    const params = { runs, devices: `${worst.devicesFound}/${worst.devices}`, board: 'sim', loader: 'tsx' };
    report(options, { suite: 'footprint', metric: 'gateway RSS after discovery', value: worst.rssBytes / 2 ** 20, unit: 'MiB', params, goal: { op: '<=', value: 150 } });
    report(options, { suite: 'footprint', metric: 'gateway heap used', value: worst.heapUsedBytes / 2 ** 20, unit: 'MiB', params });
  } finally {
    await sim.close();
  }
}

function gatewayChild(vars: Record<string, string>): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', thisFile, CHILD_FLAG], {
      env: { ...process.env, FOOTPRINT_VARS: JSON.stringify(vars) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      try {
        if (code !== 0) throw new Error(`exit code ${code}`);
        resolve(JSON.parse(line) as ChildResult);
      } catch (e) {
        reject(new Error(`footprint: the gateway child failed (${(e as Error).message}): ${err.trim() || out.trim()}`));
      }
    });
  });
}

/** The child: a gateway as `prosumer-edge` would start it, measured after discovery and one reading of everything. */
async function childMain(): Promise<void> {
  const vars = JSON.parse(process.env.FOOTPRINT_VARS ?? '{}') as Record<string, string>;
  const gateway = await assembleGateway(loadBoardProfile(simBoardFile, vars), { clock: systemClock });
  await Promise.all([gateway.meter?.read(), gateway.pv?.read(), gateway.battery?.read(), ...gateway.relays.map((r) => r.read())]);
  const { rss, heapUsed } = process.memoryUsage();
  const result: ChildResult = { rssBytes: rss, heapUsedBytes: heapUsed, devicesFound: gateway.report.filter((r) => r.found).length, devices: gateway.report.length };
  await gateway.close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[1] === thisFile && process.argv.includes(CHILD_FLAG)) await childMain();
