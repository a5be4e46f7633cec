/**
 * Gateways killed mid-negotiation (a real SIGKILL of a gateway process, frozen first so the
 * kill lands exactly between the acceptance and its confirmation): no half-trade, ever.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Ledger, type ClearedTrade } from '../../src/market/index.ts';
import { ChaosScene, DAY_MS, ledgerOnDisk } from './chaos-scene.ts';
import { auditLedgers, tradesMandate } from './day-fixture.ts';
import { BROKERS, eventually } from './fixtures.ts';
import { PeerProcess } from './peer-process-handle.ts';

const ONE_TRADE: ClearedTrade = { seller: 'sam', buyer: 'bea', slotStartMs: DAY_MS + 12 * 3_600_000, slotMinutes: 60, powerKw: 2.5, priceEurPerKwh: 0.15 };
const scene = new ChaosScene();
afterEach(() => scene.cleanup());

describe.each(BROKERS)('gateways killed mid-negotiation over $name', ({ start }) => {
  it('a seller that journaled its commit and died before announcing it tells the buyer when both are back', async () => {
    const { broker, community: c } = await scene.setUp(start, ['sam', 'bea']);
    // The two journals as the crash left them: bea accepted, sam committed and sent nothing.
    const trade = { tradeId: 'trade-1', offerId: 'offer-1', ...ONE_TRADE };
    const samJournal = Ledger.open(c.dataDir('sam'), 'sam');
    samJournal.recordDecision(trade, 'committed');
    samJournal.close();
    const beaJournal = Ledger.open(c.dataDir('bea'), 'bea');
    beaJournal.recordAccepted(trade);
    beaJournal.close();

    const sam = await c.startNode('sam', broker.url);
    const bea = await c.startNode('bea', broker.url);
    expect((await bea.waitForDecision('trade-1', 15_000)).state).toBe('committed');
    expect(auditLedgers([sam.ledger, bea.ledger], [ONE_TRADE])).toMatchObject({ halfTrades: [], lostTrades: [] });
  });

  it('a seller killed between the acceptance and its confirmation leaves no half-trade: the buyer learns the abort', async () => {
    const { broker, community: c } = await scene.setUp(start, ['sam', 'bea']);
    const bea = await c.startNode('bea', broker.url);
    let offerSeen = false;
    await scene.rawClient((topic) => {
      if (topic.includes('/offer/') && topic.endsWith('/sam')) offerSeen = true;
    });
    let sam = await PeerProcess.start(c, 'sam', broker.url, [ONE_TRADE]);
    scene.processes.push(sam);
    await eventually(() => offerSeen && bea.openOffers().length > 0, 'sam’s offer reaches bea');
    sam.freeze();

    const [whileFrozen] = await bea.commitTrades([ONE_TRADE], { mandate: tradesMandate('bea', [ONE_TRADE]), timeoutMs: 1_500 });
    expect(whileFrozen!.state).toBe('in-doubt');
    expect(bea.ledger.committedKw('sam', [ONE_TRADE.slotStartMs])).toEqual([null]);
    await sam.kill();
    await eventually(() => !bea.isOnline('sam'), 'sam’s will announces it offline');
    expect(bea.openOffers()).toEqual([]);
    expect(ledgerOnDisk(c, 'sam').entriesList()).toEqual([]);

    sam = await PeerProcess.start(c, 'sam', broker.url);
    scene.processes.push(sam);
    const decided = await bea.waitForDecision(whileFrozen!.tradeId!, 15_000);
    expect(decided).toMatchObject({ state: 'aborted', reason: 'unknown or withdrawn offer' });
    await sam.stop();
    const audit = auditLedgers([bea.ledger, ledgerOnDisk(c, 'sam')], []);
    expect(audit.halfTrades).toEqual([]);
    // The restarted seller refused an offer it does not hold without journaling anything (an acceptance costs it no disk).
    expect(ledgerOnDisk(c, 'sam').entriesList()).toEqual([]);
    expect(bea.ledger.get(whileFrozen!.tradeId!)?.state).toBe('aborted');
  });

  it('a buyer killed after accepting learns the commit when it comes back, and both ledgers hold the trade', async () => {
    const { broker, community: c } = await scene.setUp(start, ['sam', 'bea']);
    const sam = await c.startNode('sam', broker.url);
    let bea: PeerProcess | undefined;
    await scene.rawClient((topic) => {
      if (topic.endsWith('/accept/bea')) bea?.freeze();
    });
    bea = await PeerProcess.start(c, 'bea', broker.url, [ONE_TRADE]);
    scene.processes.push(bea);
    const [sold] = await sam.commitTrades([ONE_TRADE], { mandate: tradesMandate('sam', [ONE_TRADE]), timeoutMs: 10_000 });
    expect(sold!.state).toBe('committed');
    await bea.kill();

    const restarted = await PeerProcess.start(c, 'bea', broker.url);
    scene.processes.push(restarted);
    await eventually(() => ledgerOnDisk(c, 'bea').get(sold!.tradeId!)?.state === 'committed', 'bea learns the commit');
    await restarted.stop();
    const audit = auditLedgers([sam.ledger, ledgerOnDisk(c, 'bea')], [ONE_TRADE]);
    expect(audit).toMatchObject({ halfTrades: [], lostTrades: [] });
    expect(sam.ledger.committedKw('bea', [ONE_TRADE.slotStartMs])).toEqual([-2.5]);
    expect(ledgerOnDisk(c, 'bea').committedKw('sam', [ONE_TRADE.slotStartMs])).toEqual([2.5]);
  });
});
