/**
 * `prosumer-edge sim [--speed N] [--start ISO] [--board FILE]`: simulates the devices of the
 * board profile FILE (boards/sim.yaml by default) until SIGINT/SIGTERM, and prints where each
 * device is as the `vars` map that fills the profile's `${name}` placeholders.
 */
import { parseArgs } from 'node:util';
import { ScaledClock } from '../src/time/clock.ts';

const usage = 'usage: prosumer-edge sim [--speed N] [--start ISO-8601] [--board FILE]';
export const defaultStartIso = '2016-06-22T00:00:00Z';

const help = `${usage}

Runs the hardware simulator alone until SIGINT or SIGTERM: the devices of a board profile on real
endpoints (SunSpec PV inverter, meter and battery on Modbus TCP, a relay board on Modbus RTU over
a pseudo-terminal, a Pylontech BMS and a Firmata relay board on pseudo-terminals; socat makes the
pseudo-terminals), driven by one simulated plant. It prints the \`vars\` map that fills the
profile's \${name} placeholders: give it to a gateway config (board.vars) or to mbpoll.

options:
  --speed N         simulated seconds per wall second (default 1)
  --start ISO-8601  simulated start instant (default ${defaultStartIso})
  --board FILE      the board profile whose devices to simulate (default boards/sim.yaml); every
                    bus endpoint must be a \${name} placeholder
  -h, --help        this help

exit status: 0 stopped on a signal; 1 the simulator could not start; 2 bad arguments.

examples:
  prosumer-edge sim
  prosumer-edge sim --speed 60 --start 2016-07-01T00:00:00Z
      then a gateway on it: a config with board: { file: boards/sim.yaml, vars: <the printed map> }
      and no simulator section (prosumer-edge run --help)
`;

export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { speed: { type: 'string', default: '1' }, start: { type: 'string', default: defaultStartIso }, board: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${usage}   (--help for more)\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(help);
    return 0;
  }
  const speed = Number(parsed.values.speed);
  const startMs = Date.parse(parsed.values.start);
  if (!(speed > 0) || !Number.isFinite(startMs)) {
    process.stderr.write(`--speed must be a number > 0 and --start an ISO-8601 instant (got "${parsed.values.speed}", "${parsed.values.start}")\n${usage}\n`);
    return 2;
  }
  // Loaded once the arguments are good: `sim --help` answers without loading the simulator.
  const { simBoardFile, startSimulator } = await import('./simulator.ts');
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
