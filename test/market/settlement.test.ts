import { describe, expect, it } from 'vitest';
import { settle } from '../../src/market/settlement.ts';
import { tradeTerms } from './day-fixture.ts';

const prices = { gridFeeEurPerKwh: 0.09, realtimeBuyEurPerKwh: 0.4 };
// Half-hour slots: the energy is half the power.
const trade = (tradeId: string, seller: string, buyer: string, powerKw: number) => tradeTerms(tradeId, seller, buyer, powerKw, 30);

describe('settling a slot against the meters', () => {
  it('a trade delivered in full is paid in full: price to the seller, price plus grid fee from the buyer', () => {
    const [s] = settle([trade('t', 'sam', 'bea', 2)], { sam: 1.5, bea: -1 }, prices);
    expect(s).toMatchObject({ contractedKwh: 1, sellerShortfallKwh: 0, buyerShortfallKwh: 0, paidKwh: 1, sellerPenaltyEur: 0 });
    expect(s!.buyerPaysEur).toBeCloseTo(0.29, 12);
    expect(s!.sellerReceivesEur).toBeCloseTo(0.2, 12);
  });

  it('a seller that injects less than it sold carries the shortfall the buyer bought from the grid', () => {
    // Sold 1 kWh, exported 0.25 kWh: 0.75 kWh came from the grid at π⁺ = 0.40 instead of 0.29.
    const [s] = settle([trade('t', 'sam', 'bea', 2)], { sam: 0.25, bea: -1 }, prices);
    expect(s!.sellerShortfallKwh).toBeCloseTo(0.75, 12);
    expect(s!.buyerShortfallKwh).toBe(0);
    expect(s!.paidKwh).toBeCloseTo(0.25, 12);
    expect(s!.sellerPenaltyEur).toBeCloseTo(0.75 * (0.4 - 0.29), 12);
  });

  it('a buyer that draws less than it bought pays for what the seller injected and carries the rest', () => {
    const [s] = settle([trade('t', 'sam', 'bea', 2)], { sam: 1, bea: -0.4 }, prices);
    expect(s!.sellerShortfallKwh).toBe(0);
    expect(s!.buyerShortfallKwh).toBeCloseTo(0.6, 12);
    expect(s!.paidKwh).toBeCloseTo(1, 12);
    expect(s!.sellerPenaltyEur).toBe(0);
  });

  it('when both fall short, the seller carries its own gap and the buyer only the part beyond it', () => {
    const [s] = settle([trade('t', 'sam', 'bea', 2)], { sam: 0.5, bea: -0.2 }, prices);
    expect(s!.sellerShortfallKwh).toBeCloseTo(0.5, 12);
    expect(s!.buyerShortfallKwh).toBeCloseTo(0.3, 12);
    expect(s!.sellerShortfallKwh + s!.buyerShortfallKwh).toBeCloseTo(1 - 0.2, 12);
  });

  it('a seller short on several trades is scaled down pro rata over them', () => {
    const result = settle([trade('a', 'sam', 'bea', 2), trade('b', 'sam', 'cid', 1)], { sam: 0.75, bea: -5, cid: -5 }, prices);
    expect(result.map((r) => r.paidKwh)).toEqual([0.5, 0.25]);
  });

  it('refuses to settle without a meter reading for a party', () => {
    expect(() => settle([trade('t', 'sam', 'bea', 2)], { sam: 1 }, prices)).toThrow(/bea/);
  });
});
