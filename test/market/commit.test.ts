import { afterEach, describe, expect, it } from 'vitest';
import { ChaosScene } from './chaos-scene.ts';
import { tradesMandate } from './day-fixture.ts';
import { BROKERS, FAST_TIMING, eventually } from './fixtures.ts';
import type { ClearedTrade } from '../../src/market/index.ts';
import { ManualClock } from '../../src/time/clock.ts';

const SLOT_MS = 1_800_000_000_000;

const scene = new ChaosScene();
afterEach(() => scene.cleanup());

describe.each(BROKERS)('the offer → acceptance → confirmation commit over $name', ({ start }) => {
  it('commits a trade in both ledgers with opposite signs', async () => {
    const { broker, community } = await scene.setUp(start, ['alice', 'bob']);
    const alice = await community.startNode('alice', broker.url);
    const bob = await community.startNode('bob', broker.url);
    await eventually(() => alice.isOnline('bob') && bob.isOnline('alice'), 'both see each other online');

    alice.offer({ slotStartMs: SLOT_MS, slotMinutes: 60, maxKw: 2, priceEurPerKwh: 0.2, lifetimeMs: 10_000 });
    await eventually(() => bob.openOffers().length === 1, 'bob hears the offer');
    const entry = await bob.accept(bob.openOffers()[0]!, 1.5, 10_000);

    expect(entry.state).toBe('committed');
    await eventually(() => alice.ledger.committed().length === 1, 'alice has the trade');
    expect(bob.ledger.committedKw('alice', [SLOT_MS])).toEqual([1.5]);
    expect(alice.ledger.committedKw('bob', [SLOT_MS])).toEqual([-1.5]);
  });

  it('a gateway on simulated days keeps its committed trades: the ledger forgets by the slots’ clock, not the wall clock', async () => {
    const { broker, community } = await scene.setUp(start, ['alice', 'bob']);
    // A simulated household trades slots of 2016 while its messages are stamped in wall time.
    const simulatedSlotMs = Date.UTC(2016, 10, 1, 18);
    const days = new ManualClock(simulatedSlotMs - 3_600_000);
    const alice = await community.startNode('alice', broker.url, { slotClock: days });
    const bob = await community.startNode('bob', broker.url, { slotClock: days });
    await eventually(() => alice.isOnline('bob') && bob.isOnline('alice'), 'both see each other online');
    alice.offer({ slotStartMs: simulatedSlotMs, slotMinutes: 60, maxKw: 2, priceEurPerKwh: 0.2, lifetimeMs: 10_000 });
    await eventually(() => bob.openOffers().length === 1, 'bob hears the offer');
    expect((await bob.accept(bob.openOffers()[0]!, 1.5, 10_000)).state).toBe('committed');
    await eventually(() => alice.ledger.committed().length === 1, 'alice has the trade');

    // Many re-send periods later, with the simulated day an hour on, both still hold it.
    days.advance(3_600_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(bob.ledger.committedKw('alice', [simulatedSlotMs])).toEqual([1.5]);
    expect(alice.ledger.committedKw('bob', [simulatedSlotMs])).toEqual([-1.5]);

    // 35 days after the slot (the retention) on the simulated clock, it is forgotten.
    days.advance(36 * 24 * 3_600_000);
    await eventually(() => alice.ledger.committed().length === 0 && bob.ledger.committed().length === 0, 'both forget it');
  });

  it('the seller commits acceptances in arrival order while capacity lasts and aborts the rest', async () => {
    const { broker, community } = await scene.setUp(start, ['alice', 'bob', 'carol']);
    const alice = await community.startNode('alice', broker.url);
    const bob = await community.startNode('bob', broker.url);
    const carol = await community.startNode('carol', broker.url);
    await eventually(() => alice.isOnline('bob') && alice.isOnline('carol'), 'alice sees both buyers');

    alice.offer({ slotStartMs: SLOT_MS, slotMinutes: 60, maxKw: 2, priceEurPerKwh: 0.2, lifetimeMs: 10_000 });
    await eventually(() => bob.openOffers().length === 1 && carol.openOffers().length === 1, 'both hear the offer');
    const first = await bob.accept(bob.openOffers()[0]!, 1.5, 10_000);
    const second = await carol.accept(carol.openOffers()[0]!, 1, 10_000);

    expect(first.state).toBe('committed');
    expect(second).toMatchObject({ state: 'aborted', reason: 'only 0.5 kW left' });
    expect(alice.ledger.committedKw('bob', [SLOT_MS])).toEqual([-1.5]);
    expect(alice.ledger.committedKw('carol', [SLOT_MS])).toEqual([null]);
    // A refusal is not journaled (it can only be given again): the seller's ledger holds the commit alone.
    expect(alice.ledger.entriesList().map((e) => e.trade.tradeId)).toEqual([first.trade.tradeId]);
    expect(carol.ledger.get(second.trade.tradeId)?.state).toBe('aborted');
  });

  it('a gateway that joins late still hears the open offers, and an expired offer cannot be bought', async () => {
    const { broker, community } = await scene.setUp(start, ['alice', 'bob']);
    const alice = await community.startNode('alice', broker.url);
    alice.offer({ slotStartMs: SLOT_MS, slotMinutes: 60, maxKw: 2, priceEurPerKwh: 0.2, lifetimeMs: 3_000 });
    const bob = await community.startNode('bob', broker.url);
    await eventually(() => bob.openOffers().length === 1, 'bob hears the offer made before he joined');
    const offer = bob.openOffers()[0]!;

    await new Promise((resolve) => setTimeout(resolve, offer.expiresMs - Date.now() + 100));
    expect(bob.openOffers()).toEqual([]);
    const late = await bob.accept(offer, 1, 10_000);
    expect(late).toMatchObject({ state: 'aborted' });
    expect(alice.ledger.committed()).toEqual([]);
  });

  it('a buyer answers its cleared trade with the seller’s live offer, never with an expired one still in its book', async () => {
    const { broker, community } = await scene.setUp(start, ['sam', 'bea']);
    const sam = await community.startNode('sam', broker.url);
    // bea sweeps her book of expired offers rarely, so the first commit's offer is still in it.
    const bea = await community.startNode('bea', broker.url, { timing: { ...FAST_TIMING, resendMs: 600_000 } });
    await eventually(() => sam.isOnline('bea') && bea.isOnline('sam'), 'both see each other online');
    const trade: ClearedTrade = { seller: 'sam', buyer: 'bea', slotStartMs: SLOT_MS, slotMinutes: 60, powerKw: 1.5, priceEurPerKwh: 0.2 };

    // A first commit of the same terms that bea does not answer (she is not committing yet) leaves sam's directed offer expired in her book.
    const [unanswered] = await sam.commitTrades([trade], { mandate: tradesMandate('sam', [trade]), timeoutMs: 1_000 });
    expect(unanswered!.state).toBe('no-acceptance');
    await new Promise((resolve) => setTimeout(resolve, 200));

    const [sold, bought] = await Promise.all([sam.commitTrades([trade], { mandate: tradesMandate('sam', [trade]), timeoutMs: 5_000 }), bea.commitTrades([trade], { mandate: tradesMandate('bea', [trade]), timeoutMs: 5_000 })]);
    expect(bought![0]!.state).toBe('committed');
    expect(sold![0]).toMatchObject({ state: 'committed', tradeId: bought![0]!.tradeId });
    expect(bea.ledger.committedKw('sam', [SLOT_MS])).toEqual([1.5]);
    expect(sam.ledger.committedKw('bea', [SLOT_MS])).toEqual([-1.5]);
  });
});
