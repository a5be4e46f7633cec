/**
 * Child process of account-movements.test.ts: a household's side of the rental (its market node,
 * rental ledger and `HouseholdRentalParty` on test/ces/household-day.ts's day) whose meter is the
 * test: each stdin line is a metered hour (JSON `MeterHour`), observed once the household's commit of
 * its bookings' account trades has ended, then acknowledged on stdout (`hour <hourStartMs>`). The
 * test kills it with SIGKILL part-way and starts it again on the same folder.
 *
 *   household-process.ts <dataDir> <brokerUrl> <community.json> <identity.json> <dayMs> [nowMs] [freeze]
 *
 * `nowMs`: the time of its slot clock (default `dayMs`); once on the broker it resumes the commits a
 * restart left open (`resume`, as the market loop does on connecting). `freeze`: a commit of trades
 * is not started — it prints `committing <n>` and waits forever — so the test can kill it right after
 * it recorded a booking and before any of its account trades were committed; `freeze-booked`: its
 * decision on a booking is not sent (`holding ces-booked`), the booking being in its ledger already.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { MeterHour } from '../../src/ces/account-movements.ts';
import { HouseholdRentalParty } from '../../src/ces/household-rental.ts';
import { RentalLedger } from '../../src/ces/rental-ledger.ts';
import { rentalChannel, RENTAL_ROUND_SCHEMAS } from '../../src/ces/rental-protocol.ts';
import { CesSolver } from '../../src/ces/solve.ts';
import { loadIdentity } from '../../src/market/identity.ts';
import { MarketNode } from '../../src/market/node.ts';
import { ManualClock } from '../../src/time/clock.ts';
import { householdDay } from './household-day.ts';

const [dataDir, brokerUrl, communityFile, identityFile, dayArg, nowArg, mode] = process.argv.slice(2) as [string, string, string, string, string, string?, string?];
const householdDayMs = Number(dayArg);
const identity = loadIdentity(identityFile);
// The slots are on the test's day (2016), as a gateway's are on its clock: the wall clock would forget its trades at once.
const slotClock = new ManualClock(nowArg !== undefined ? Number(nowArg) : householdDayMs);
const node = new MarketNode({ identity, community: JSON.parse(readFileSync(communityFile, 'utf8')), brokerUrl, dataDir: join(dataDir, 'market'), protocolVersion: 4, roundSchemas: RENTAL_ROUND_SCHEMAS, slotClock, credentials: { username: identity.peerId }, log: () => undefined });
const ledger = RentalLedger.open(dataDir, identity.peerId);
const solver = new CesSolver();
const channel = rentalChannel(node);
if (mode === 'freeze') {
  channel.commitTrades = (trades) => {
    process.stdout.write(`committing ${trades.length}\n`);
    return new Promise(() => undefined);
  };
}
if (mode === 'freeze-booked') {
  const send = channel.send.bind(channel);
  channel.send = (name, payload) => {
    if (name !== 'ces-booked') return send(name, payload);
    process.stdout.write('holding ces-booked\n');
    return new Promise(() => undefined);
  };
}
const party = new HouseholdRentalParty({ channel, cesId: 'ces', ledger, solver, feedInEurPerKwh: 0.08, clock: slotClock, dayInput: () => householdDay(1), commitTimeoutMs: 5_000, log: (line) => process.stderr.write(`${line}\n`) });
await node.start();
party.resume();
process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  const meter = JSON.parse(line) as MeterHour;
  await Promise.all(ledger.allBookings().map((b) => party.committed(b.bookingId)));
  party.observeHour(meter);
  process.stdout.write(`hour ${meter.hourStartMs}\n`);
}
await node.stop();
ledger.close();
solver.dispose();
