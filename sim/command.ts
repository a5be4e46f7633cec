/**
 * `prosumer-edge sim [--speed N] [--start ISO] [--board FILE]`: simulates the devices of the
 * board profile FILE (boards/sim.yaml by default) until SIGINT/SIGTERM, and prints where each
 * device is as the `vars` map that fills the profile's `${name}` placeholders.
 */
import { parseArgs } from 'node:util';
import { ScaledClock } from '../src/time/clock.ts';
import { simBoardFile, startSimulator } from './simulator.ts';

const usage = 'usage: prosumer-edge sim [--speed N] [--start ISO-8601] [--board boards/sim.yaml]';
export const defaultStartIso = '2016-06-22T00:00:00Z';

export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { speed: { type: 'string', default: '1' }, start: { type: 'string', default: defaultStartIso }, board: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${usage}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const speed = Number(parsed.values.speed);
  const startMs = Date.parse(parsed.values.start);
  if (!(speed > 0) || !Number.isFinite(startMs)) {
    process.stderr.write(`--speed must be a number > 0 and --start an ISO-8601 instant (got "${parsed.values.speed}", "${parsed.values.start}")\n${usage}\n`);
    return 2;
  }
  const boardFile = parsed.values.board ?? simBoardFile;
  let sim;
  try {
    sim = await startSimulator({ clock: new ScaledClock(startMs, speed), boardFile });
  } catch (e) {
    process.stderr.write(`cannot start the simulator: ${(e as Error).message}\n`);
    return 1;
  }
  // Listen before printing: whoever reads the vars may signal at once.
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stdout.write(`simulator running at ${speed}× from ${new Date(startMs).toISOString()}; devices (vars for ${boardFile}):\n`);
  process.stdout.write(`${JSON.stringify(sim.vars, null, 2)}\n`);
  await stopped;
  await sim.close();
  process.stdout.write('simulator stopped\n');
  return 0;
}
