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

export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`usage: prosumer-edge bench [${Object.keys(suites).join('|')} ...] [--json] [--quick]\n`);
    return 0;
  }
  const options: BenchOptions = { json: args.includes('--json'), quick: args.includes('--quick') };
  const names = args.filter((a) => !a.startsWith('--'));
  const unknown = names.filter((n) => !(n in suites));
  if (unknown.length > 0) {
    process.stderr.write(`unknown bench suite(s): ${unknown.join(', ')}; known: ${Object.keys(suites).join(', ')}\n`);
    return 2;
  }
  for (const name of names.length > 0 ? names : Object.keys(suites)) {
    const { runBench } = await suites[name]!();
    await runBench(options);
  }
  return 0;
}
