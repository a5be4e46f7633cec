/**
 * TEST FIXTURE: one gateway's market node in its own process, so a test can SIGSTOP and
 * SIGKILL it like a crashed gateway. Usage: node --import tsx peer-process.ts <spec.json> (the
 * tests run it compiled: test/child-bundle.ts).
 * Prints "started" once connected and "outcomes <json>" after committing the spec's trades;
 * stops cleanly on SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { MarketNode, loadIdentity, type ClearedTrade, type CommunityConfig, type MarketTiming } from '../../src/market/index.ts';
import { tradesMandate } from './day-fixture.ts';

export interface PeerProcessSpec {
  identityPath: string;
  community: CommunityConfig;
  brokerUrl: string;
  dataDir: string;
  timing: Partial<MarketTiming>;
  trades: ClearedTrade[];
  timeoutMs: number;
}

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as PeerProcessSpec;
const node = new MarketNode({
  identity: loadIdentity(spec.identityPath),
  community: spec.community,
  brokerUrl: spec.brokerUrl,
  dataDir: spec.dataDir,
  timing: spec.timing,
});
process.on('SIGTERM', () => {
  node.stop().then(() => process.exit(0), () => process.exit(1));
});
await node.start();
process.stdout.write('started\n');
if (spec.trades.length > 0) {
  const outcomes = await node.commitTrades(spec.trades, { mandate: tradesMandate(node.id, spec.trades), timeoutMs: spec.timeoutMs });
  process.stdout.write(`outcomes ${JSON.stringify(outcomes)}\n`);
}
