/**
 * TEST FIXTURE: one gateway's market loop in its own process, so a test can freeze (SIGSTOP) and
 * hard-kill (SIGKILL) it like a crashed gateway. Usage: node --import tsx market-loop-peer.ts <spec.json>.
 * Prints "started" once connected; on a "tick" line on stdin it ticks at the spec's instant and
 * prints "settled" when its clearing has ended. Closes cleanly on SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { GatewayConfig } from '../../src/config/gateway-config.ts';
import { createMarketLoop, type MarketLoopTiming } from '../../src/runtime/market-loop.ts';
import type { ActivePlan } from '../../src/runtime/types.ts';
import { ManualClock } from '../../src/time/clock.ts';

export interface MarketLoopPeerSpec {
  config: GatewayConfig;
  dataDir: string;
  brokerUrl: string;
  nowMs: number;
  plan: ActivePlan;
  timing: Partial<MarketLoopTiming>;
}

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as MarketLoopPeerSpec;
const clock = new ManualClock(spec.nowMs);
const loop = createMarketLoop({
  config: spec.config,
  clock,
  dataDir: spec.dataDir,
  brokerUrl: spec.brokerUrl,
  plan: () => spec.plan,
  log: (level, message) => process.stderr.write(`${level} ${message}\n`),
  timing: spec.timing,
});
process.on('SIGTERM', () => {
  loop.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
await loop.start();
process.stdout.write('started\n');
for await (const line of createInterface({ input: process.stdin })) {
  if (line !== 'tick') continue;
  await loop.tick(clock.nowMs());
  await loop.settled();
  process.stdout.write('settled\n');
}
