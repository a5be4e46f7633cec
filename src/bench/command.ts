/**
 * `prosumer-edge bench [suite ...] [--json] [--quick]`: runs the named suites (all by default),
 * one after the other so they do not compete for the two cores.
 */
import type { BenchOptions } from './report.ts';

type Suite = (options: BenchOptions) => Promise<void>;

const suites: Record<string, () => Promise<{ runBench: Suite }>> = {
  modbus: () => import('./modbus.ts'),
  footprint: () => import('./footprint.ts'),
  optimizer: () => import('./optimizer.ts'),
  community: () => import('./community.ts'),
  market: () => import('./market.ts'),
  gateway: () => import('./gateway.ts'),
};

const usage = `usage: prosumer-edge bench [${Object.keys(suites).join('|')} ...] [--json] [--quick]`;

const help = `${usage}

Runs the named benchmark suites one after the other (all of them when none is named) and prints
one line per figure, with the goal it is held to where the issues name one (met / NOT met).
Measured on this machine as it is: run them on an otherwise idle machine.

suites:
  modbus      RTU and TCP round trips and full device reads against the simulator, vs wire time
  footprint   the compiled gateway (dist/): peak RSS on a real board and with the simulator,
              time from run to every device read (about 1 min; needs npm run build)
  optimizer   per-step solve time of HiGHS and SCS, cold and warm over a receding horizon;
              WebAssembly memory
  community   the community coordination's clearing: rounds and time, distributed vs central,
              in process and over MQTT
  market      a day of P2P clearing (ADMM, auction) over signed MQTT messages, 10 to 200
              peers; one member's flood of offers
  gateway     whole gateway processes over a simulated day, and how many run in real time

options:
  --json      JSON lines instead of the table: {suite, metric, value, unit, params, goal}
  --quick     fewer repetitions and shorter runs: a smoke test, not figures to quote
  -h, --help  this help
  Sizes of some suites are set by PE_BENCH_* environment variables (docs/benchmarks.md).

examples:
  npm run bench -- footprint --json
  prosumer-edge bench modbus optimizer --quick
`;

export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(help);
    return 0;
  }
  const unknownOptions = args.filter((a) => a.startsWith('-') && a !== '--json' && a !== '--quick');
  if (unknownOptions.length > 0) {
    process.stderr.write(`unknown option(s): ${unknownOptions.join(', ')}\n${usage}   (--help for more)\n`);
    return 2;
  }
  const options: BenchOptions = { json: args.includes('--json'), quick: args.includes('--quick') };
  const names = args.filter((a) => !a.startsWith('--'));
  const unknown = names.filter((n) => !(n in suites));
  if (unknown.length > 0) {
    process.stderr.write(`unknown bench suite(s): ${unknown.join(', ')}; known: ${Object.keys(suites).join(', ')}\n${usage}\n`);
    return 2;
  }
  for (const name of names.length > 0 ? names : Object.keys(suites)) {
    const { runBench } = await suites[name]!();
    await runBench(options);
  }
  return 0;
}
