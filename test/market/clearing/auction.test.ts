import { describe, expect, it } from 'vitest';
import { clearAuction, clearSlot, ordersFromPlan, ordersFromPriceSteps, planSlots, pricePoints, type OrderBook } from '../../../src/market/clearing/auction.ts';

describe('pay-as-clear double auction', () => {
  it('clears hand-made bids at the midpoint of the last matched bid and offer', () => {
    // Bids 3 kWh @ 0.20 (a), 2 kWh @ 0.15 (b); offers 4 kWh @ 0.08 (c), 2 kWh @ 0.12 (d), 1 kWh @ 0.18 (e).
    // By hand: a takes 3 of c; b takes c's last 1 and 1 of d; then b is full. e (0.18) is never
    // reached. Last matched bid 0.15, last matched offer 0.12: price 0.135 for everyone.
    const slot = clearSlot([
      { peerId: 'a', side: 'buy', energyKwh: 3, priceEurPerKwh: 0.2 },
      { peerId: 'b', side: 'buy', energyKwh: 2, priceEurPerKwh: 0.15 },
      { peerId: 'c', side: 'sell', energyKwh: 4, priceEurPerKwh: 0.08 },
      { peerId: 'd', side: 'sell', energyKwh: 2, priceEurPerKwh: 0.12 },
      { peerId: 'e', side: 'sell', energyKwh: 1, priceEurPerKwh: 0.18 },
    ]);
    expect(slot.priceEurPerKwh).toBeCloseTo(0.135, 12);
    expect(Object.fromEntries(slot.matchedKwh)).toEqual({ a: 3, b: 2, c: -4, d: -1 });
  });

  it('matches nothing when the best bid is below the cheapest offer', () => {
    const slot = clearSlot([
      { peerId: 'a', side: 'buy', energyKwh: 1, priceEurPerKwh: 0.07 },
      { peerId: 'c', side: 'sell', energyKwh: 1, priceEurPerKwh: 0.08 },
    ]);
    expect(slot.matchedKwh.size).toBe(0);
    expect(slot.priceEurPerKwh).toBeNaN();
  });

  it('rejects a malformed order with a clear error', () => {
    expect(() => clearSlot([{ peerId: 'x', side: 'buy', energyKwh: -1, priceEurPerKwh: 0.2 }])).toThrow(/bad order from x/);
  });

  it('prices bids from a plan: imports bid marginal value minus the fee, exports offer their marginal value', () => {
    const book = ordersFromPlan('p', { importKwh: [2, 0], exportKwh: [0, 1.5], marginalValueEurPerKwh: [0.3, 0.08] }, 0.09);
    expect(book).toEqual([
      [{ peerId: 'p', side: 'buy', energyKwh: 2, priceEurPerKwh: 0.3 - 0.09 }],
      [{ peerId: 'p', side: 'sell', energyKwh: 1.5, priceEurPerKwh: 0.08 }],
    ]);
  });

  it('reads the full optimizer\'s plan: kW over its own step lengths become kWh per slot', () => {
    // Move blocking: a 15-minute step importing 4 kW, then an hour exporting 1.5 kW.
    const slots = planSlots({ stepHours: [0.25, 1], gridImportKw: [4, 0], gridExportKw: [0, 1.5], marginalValueEurPerKwh: [0.3, 0.08] });
    expect(ordersFromPlan('p', slots, 0.09)).toEqual([
      [{ peerId: 'p', side: 'buy', energyKwh: 1, priceEurPerKwh: 0.3 - 0.09 }],
      [{ peerId: 'p', side: 'sell', energyKwh: 1.5, priceEurPerKwh: 0.08 }],
    ]);
  });

  it('turns re-solves at price points into price-quantity steps: demand falls and supply rises with the price', () => {
    // Slot 0: wants 3 kWh at 0.10, 1 kWh at 0.15, none at 0.20 → bids 2 @ 0.10 and 1 @ 0.15.
    // Slot 1: sells 1 kWh at 0.10, 4 at 0.15, 4 at 0.20 → offers 1 @ 0.10 and 3 @ 0.15.
    const book = ordersFromPriceSteps('p', [
      { priceEurPerKwh: 0.2, tradeKwh: [0, -4] },
      { priceEurPerKwh: 0.1, tradeKwh: [3, -1] },
      { priceEurPerKwh: 0.15, tradeKwh: [1, -4] },
    ]);
    expect(book).toEqual([
      [
        { peerId: 'p', side: 'buy', energyKwh: 2, priceEurPerKwh: 0.1 },
        { peerId: 'p', side: 'buy', energyKwh: 1, priceEurPerKwh: 0.15 },
      ],
      [
        { peerId: 'p', side: 'sell', energyKwh: 1, priceEurPerKwh: 0.1 },
        { peerId: 'p', side: 'sell', energyKwh: 3, priceEurPerKwh: 0.15 },
      ],
    ]);
    const points = pricePoints([0.3, 0.35], [0.08, 0.08], 0.09, 3);
    expect(points[0]).toBeCloseTo(0.0801, 12);
    expect(points[2]).toBeCloseTo(0.26, 12);
  });

  it('a peer that sent no order book trades nothing and the others still clear into bilateral trades', () => {
    const books = new Map<string, OrderBook>([
      ['buyer', [[{ peerId: 'buyer', side: 'buy', energyKwh: 2, priceEurPerKwh: 0.21 }]]],
      ['seller', [[{ peerId: 'seller', side: 'sell', energyKwh: 5, priceEurPerKwh: 0.08 }]]],
    ]);
    const clearing = clearAuction(['buyer', 'seller', 'silent'], books, 1);
    expect(clearing.priceEurPerKwh[0]).toBeCloseTo(0.145, 12);
    expect(clearing.trades).toEqual([{ slot: 0, buyer: 'buyer', seller: 'seller', energyKwh: 2, priceEurPerKwh: clearing.priceEurPerKwh[0] }]);
    expect(clearing.netKwh).toEqual({ buyer: [2], seller: [-2], silent: [0] });
  });
});
