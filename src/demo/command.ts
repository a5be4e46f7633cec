/**
 * `prosumer-edge demo [--hours H] [--speed N] [--start ISO]` (= `npm start`): the simulator and
 * a gateway on it in one process, at accelerated time; see run.ts.
 */
import { parseArgs } from 'node:util';
import { runDemo } from './run.ts';
import { defaultStartIso } from '../../sim/command.ts';

const usage = 'usage: prosumer-edge demo [--hours 24] [--speed 2400] [--start 2016-06-22T00:00:00Z]';

export async function run(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, options: { hours: { type: 'string', default: '24' }, speed: { type: 'string', default: '2400' }, start: { type: 'string', default: defaultStartIso }, help: { type: 'boolean', short: 'h' } } }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${usage}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const hours = Number(values.hours);
  const speed = Number(values.speed);
  const startMs = Date.parse(values.start);
  if (!(hours > 0) || !(speed > 0) || !Number.isFinite(startMs)) {
    process.stderr.write(`--hours and --speed must be numbers > 0 and --start an ISO-8601 instant\n${usage}\n`);
    return 2;
  }
  process.stdout.write(`demo: ${hours} simulated hours from ${new Date(startMs).toISOString()} at ${speed}× (about ${Math.ceil((hours * 3600) / speed)} s)\n`);
  try {
    await runDemo({ hours, speed, startMs });
    return 0;
  } catch (e) {
    process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
