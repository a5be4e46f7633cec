/**
 * The P2P trades of a community clearing (splitNetPositions): the households' cleared net positions
 * split pro rata, checked slot by slot against sums computed here from the positions alone.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitNetPositions, type Reservation } from '../../../src/market/clearing/community-trades.ts';

const ids = ['a', 'b', 'c', 'd'];
const hours = (slots: number) => new Array<number>(slots).fill(1);

describe('the P2P trades of a community clearing', () => {
  it('in a slot where one exports 3 kWh and two import 1 and 2, the exporter sells 1 and 2 at the midpoint of floor and ceiling', () => {
    const reservation: Reservation = { maxBuyEurPerKwh: [0.2], minSellEurPerKwh: [0.08], maxTradeKw: 10 };
    const { trades, priceEurPerKwh } = splitNetPositions(['a', 'b', 'c'], [[-3], [1], [2]], [reservation, reservation, reservation], hours(1));
    expect(priceEurPerKwh[0]).toBeCloseTo(0.14, 12);
    expect(trades.map((t) => [t.seller, t.buyer, t.energyKwh])).toEqual([
      ['a', 'b', 1],
      ['a', 'c', 2],
    ]);
  });

  it('clears nothing where the sellers’ floor is above the buyers’ ceiling, and leaves out a household that does not trade', () => {
    const cheap: Reservation = { maxBuyEurPerKwh: [0.05, 0.3], minSellEurPerKwh: [0.08, 0.08], maxTradeKw: 10 };
    const { trades, priceEurPerKwh } = splitNetPositions(['a', 'b', 'c'], [[-2, -2], [2, 2], [5, 5]], [cheap, cheap, null], hours(2));
    expect(Number.isNaN(priceEurPerKwh[0]!)).toBe(true);
    expect(trades.every((t) => t.slot === 1 && t.buyer === 'b')).toBe(true);
    expect(trades.reduce((s, t) => s + t.energyKwh, 0)).toBeCloseTo(2, 12);
  });

  it('never trades a household beyond its position or its limit, and matches min(offered exports, offered imports) in every slot', () => {
    const slots = 3;
    const position = fc.double({ min: -6, max: 6, noNaN: true });
    const limit = fc.double({ min: 0, max: 5, noNaN: true });
    fc.assert(
      fc.property(fc.array(fc.array(position, { minLength: slots, maxLength: slots }), { minLength: 4, maxLength: 4 }), fc.array(limit, { minLength: 4, maxLength: 4 }), (netKwh, limits) => {
        const reservations = limits.map((maxTradeKw): Reservation => ({ maxBuyEurPerKwh: [0.25, 0.25, 0.25], minSellEurPerKwh: [0.08, 0.08, 0.08], maxTradeKw }));
        const { trades } = splitNetPositions(ids, netKwh, reservations, hours(slots));
        for (let t = 0; t < slots; t++) {
          const offered = (sign: number) => netKwh.reduce((sum, net, n) => sum + (Math.sign(net[t]!) === sign && Math.abs(net[t]!) > 1e-6 ? Math.min(Math.abs(net[t]!), limits[n]!) : 0), 0);
          const matched = Math.min(offered(-1), offered(1));
          const inSlot = trades.filter((x) => x.slot === t);
          expect(inSlot.reduce((s, x) => s + x.energyKwh, 0)).toBeCloseTo(matched > 1e-6 ? matched : 0, 9);
          ids.forEach((id, n) => {
            const sold = inSlot.filter((x) => x.seller === id).reduce((s, x) => s + x.energyKwh, 0);
            const bought = inSlot.filter((x) => x.buyer === id).reduce((s, x) => s + x.energyKwh, 0);
            expect(sold === 0 || bought === 0).toBe(true);
            if (sold > 0) expect(netKwh[n]![t]!).toBeLessThan(0);
            if (bought > 0) expect(netKwh[n]![t]!).toBeGreaterThan(0);
            expect(sold + bought).toBeLessThanOrEqual(Math.min(Math.abs(netKwh[n]![t]!), limits[n]!) + 1e-9);
          });
          for (const x of inSlot) expect(x.priceEurPerKwh).toBeCloseTo((0.25 + 0.08) / 2, 12);
        }
      }),
    );
  });
});
