/**
 * `prosumer-edge run --config gateway.yaml`: the gateway process. A malformed config is
 * reported with its file and field, before any device is touched; SIGTERM (systemd) and
 * SIGINT stop it cleanly, battery commanded to 0 kW first. The config loader and the runtime
 * are loaded only once the arguments are good, so `run --help` and a usage error answer at once.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const usage = 'usage: prosumer-edge run --config <gateway.yaml> [--stats <file.json>]';

const help = `${usage}

Runs one gateway until SIGTERM or SIGINT: discovers the devices of the config's board profile
(Modbus TCP/RTU, serial BMS, relays), then runs the fast loop (read, decide, command every
control.fastPeriodS), the planner (one solve per plan step, in a worker thread), the market and
telemetry. On stop the battery is commanded to 0 kW and the store closed. With a \`simulator\`
section in the config the devices are simulated in this process, on an accelerated clock.

options:
  -c, --config FILE   the gateway config (required): board profile, site, tariff, control,
                      market, storage, telemetry; every field and default in docs/configuration.md.
                      Relative paths in it are resolved against its folder.
      --stats FILE    on exit, write the loop figures as JSON (iterations, skipped iterations,
                      solves, fallbacks, per-iteration CPU and wall times)
  -h, --help          this help

exit status: 0 stopped on a signal (or, simulated, at simulator.hours); 1 stopped on an error;
2 bad arguments, or a config or board profile that failed validation (each problem names the
file and the field), reported before any device is opened.

examples:
  prosumer-edge run --config config/gateway.sim.yaml
      the simulator: a real household replayed at 600x, status page on http://127.0.0.1:8080
  prosumer-edge run --config /etc/prosumer-edge/gateway.yaml
      a Raspberry Pi with real devices, as the systemd unit runs it (config/gateway.raspberry-pi.yaml,
      docs/install-raspberry-pi.md)
`;

export async function run(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, stats: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${usage}   (--help for more)\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  if (!values.config) {
    process.stderr.write(`--config is required\n${usage}   (--help for more)\n`);
    return 2;
  }
  const { loadGatewayConfig } = await import('../config/gateway.ts');
  let config;
  try {
    config = loadGatewayConfig(values.config);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  const [{ runGateway }, { redactPasswords }] = await Promise.all([import('./gateway-runtime.ts'), import('./log.ts')]);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    const result = await runGateway(config, { signal: stop.signal });
    // Loop figures for the footprint benchmark (src/bench/gateway.ts).
    if (values.stats) writeFileSync(values.stats, JSON.stringify(result));
    return 0;
  } catch (e) {
    process.stderr.write(`${config.gatewayId}: stopped on an error: ${redactPasswords(e instanceof Error ? (e.stack ?? e.message) : String(e))}\n`);
    return 1;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
