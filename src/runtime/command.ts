/**
 * `prosumer-edge run --config gateway.yaml`: the gateway process. A malformed config is
 * reported with its file and field, before any device is touched; SIGTERM (systemd) and
 * SIGINT stop it cleanly, battery commanded to 0 kW first.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadGatewayConfig } from '../config/gateway.ts';
import { runGateway } from './gateway-runtime.ts';

const usage = 'usage: prosumer-edge run --config gateway.yaml [--stats run-stats.json]   (examples: config/gateway.sim.yaml, config/gateway.raspberry-pi.yaml)';

export async function run(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, stats: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${usage}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (!values.config) {
    process.stderr.write(`--config is required\n${usage}\n`);
    return 2;
  }
  let config;
  try {
    config = loadGatewayConfig(values.config);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
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
    process.stderr.write(`${config.gatewayId}: stopped on an error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
