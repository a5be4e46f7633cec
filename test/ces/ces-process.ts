/**
 * Child process of household-restart.test.ts: the CES agent (src/ces/agent.ts) of test/ces/rental-street.ts's
 * street on its own folder — its market node (market ledger in `<dataDir>/market`), its rental ledger
 * and solver — with h1 as its household and its clock at `nowMs`. The test kills it with SIGKILL and
 * starts it again on the same folder, as a restarted `prosumer-edge ces-agent` is: a new agent on the
 * ledgers it journaled, which does not clear a day again that it cleared.
 *
 *   ces-process.ts <dataDir> <brokerUrl> <community.json> <identity.json> <nowMs> <recommitLimit> <commitTimeoutMs>
 *
 * stdin `clear`: clears the street's day and prints `cleared <bookings, account trades, committed>`
 * (JSON). Every commit of trades it starts — the clearing's, or again at a household's word — prints
 * `commit <n>` when it starts and `committed <k>` (of those n) when it ends. stdin closed: it stops.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CesAgent } from '../../src/ces/agent.ts';
import { RentalLedger } from '../../src/ces/rental-ledger.ts';
import { rentalChannel, RENTAL_ROUND_SCHEMAS } from '../../src/ces/rental-protocol.ts';
import { CesSolver } from '../../src/ces/solve.ts';
import { loadIdentity } from '../../src/market/identity.ts';
import { MarketNode } from '../../src/market/node.ts';
import { ManualClock } from '../../src/time/clock.ts';
import { dayMs, feedInEurPerKwh, fees, prices, settings } from './rental-street.ts';

const [dataDir, brokerUrl, communityFile, identityFile, nowArg, limitArg, timeoutArg] = process.argv.slice(2) as [string, string, string, string, string, string, string];
const identity = loadIdentity(identityFile);
// Its days and slots on the test's day (2016), as the lock-step clock of a community run has them.
const clock = new ManualClock(Number(nowArg));
const node = new MarketNode({ identity, community: JSON.parse(readFileSync(communityFile, 'utf8')), brokerUrl, dataDir: join(dataDir, 'market'), protocolVersion: 4, roundSchemas: RENTAL_ROUND_SCHEMAS, slotClock: clock, credentials: { username: identity.peerId }, log: () => undefined });
const ledger = RentalLedger.open(dataDir, identity.peerId);
const solver = new CesSolver();
const channel = rentalChannel(node);
const commit = channel.commitTrades.bind(channel);
channel.commitTrades = async (trades, mandate, timeoutMs) => {
  process.stdout.write(`commit ${trades.length}\n`);
  const outcomes = await commit(trades, mandate, timeoutMs);
  process.stdout.write(`committed ${outcomes.filter((o) => o.state === 'committed').length}\n`);
  return outcomes;
};
const agent = new CesAgent({ channel, ledger, solver, settings, households: ['h1'], ...fees, residueCreditEurPerKwh: feedInEurPerKwh, clock, toleranceEurPerKwhDay: 1e-4, commitTimeoutMs: Number(timeoutArg), recommitLimit: Number(limitArg), log: (line) => process.stderr.write(`${line}\n`) });
await node.start();
process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  if (line !== 'clear') continue;
  const { bookings, accountTrades, committedTrades } = await agent.clearDay(dayMs, prices);
  process.stdout.write(`cleared ${JSON.stringify({ bookings, accountTrades, committedTrades })}\n`);
}
await node.stop();
ledger.close();
solver.dispose();
