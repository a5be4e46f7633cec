import { describe, expect, it } from 'vitest';
import { mandateFromBook } from '../../src/market/clearing/mandate.ts';
import { outsideMandate, type ClearedTrade } from '../../src/market/index.ts';

const SLOT_MS = 1_800_000_000_000;
const trade = (seller: string, buyer: string, powerKw: number, priceEurPerKwh: number, slotStartMs = SLOT_MS): ClearedTrade => ({ seller, buyer, slotStartMs, slotMinutes: 60, powerKw, priceEurPerKwh });

/** bob's book for one hourly slot: buys 1 kWh at up to 0.30 and 2 kWh more at up to 0.20; sells nothing. */
const bobBook = mandateFromBook(
  [
    [
      { peerId: 'bob', side: 'buy', energyKwh: 1, priceEurPerKwh: 0.3 },
      { peerId: 'bob', side: 'buy', energyKwh: 2, priceEurPerKwh: 0.2 },
    ],
  ],
  SLOT_MS,
  1,
  2.5,
);

describe('a gateway’s mandate: only what it offered', () => {
  it('covers purchases up to the bids at or above the price', () => {
    expect(outsideMandate('bob', [trade('carol', 'bob', 1, 0.3)], bobBook)).toEqual(new Map());
    expect(outsideMandate('bob', [trade('carol', 'bob', 0.5, 0.2), trade('dan', 'bob', 1.5, 0.2)], bobBook)).toEqual(new Map());
  });

  it('refuses buying more than was bid at that price, above every limit, or beyond maxTradeKw', () => {
    const tooMuchAtHighPrice = trade('carol', 'bob', 1.5, 0.25); // only 1 kWh was bid at ≥ 0.25
    const aboveLimit = trade('carol', 'bob', 0.1, 0.31);
    const beyondMax = [trade('carol', 'bob', 1.5, 0.2), trade('dan', 'bob', 1.5, 0.2)]; // 3 kW bid, 2.5 kW allowed
    expect([...outsideMandate('bob', [tooMuchAtHighPrice], bobBook).values()]).toEqual([expect.stringMatching(/only 1 kW was bid/)]);
    expect(outsideMandate('bob', [aboveLimit], bobBook).size).toBe(1);
    expect([...outsideMandate('bob', beyondMax, bobBook).values()]).toEqual([expect.stringMatching(/maxTradeKw 2.5/), expect.stringMatching(/maxTradeKw 2.5/)]);
  });

  it('refuses a side, a slot or a counterpart it never offered, and ignores trades of others', () => {
    expect(outsideMandate('bob', [trade('bob', 'carol', 0.1, 0.3)], bobBook).size).toBe(1);
    expect(outsideMandate('bob', [trade('carol', 'bob', 0.1, 0.3, SLOT_MS + 3_600_000)], bobBook).size).toBe(1);
    expect(outsideMandate('bob', [trade('bob', 'bob', 0.1, 0.3)], bobBook).size).toBe(1);
    expect(outsideMandate('bob', [trade('carol', 'dan', 9_000, 9)], bobBook)).toEqual(new Map());
  });

  it('covers sales at or above the offer’s limit only', () => {
    const carol = mandateFromBook([[{ peerId: 'carol', side: 'sell', energyKwh: 2, priceEurPerKwh: 0.1 }]], SLOT_MS, 1, 10);
    expect(outsideMandate('carol', [trade('carol', 'bob', 2, 0.1)], carol)).toEqual(new Map());
    expect(outsideMandate('carol', [trade('carol', 'bob', 2, 0.09)], carol).size).toBe(1);
    expect(outsideMandate('carol', [trade('carol', 'bob', 2.1, 0.2)], carol).size).toBe(1);
  });
});
