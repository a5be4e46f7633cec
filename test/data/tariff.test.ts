import { describe, expect, it } from 'vitest';
import { battery, grid, initialEnergyKwh } from '../../src/data/assets.ts';
import { HOUR_MS, parsePrices } from '../../src/data/households.ts';
import { hourTariff, p2pBuyerPriceEurPerKwh, tariffParams, tariffWindow } from '../../src/data/tariff.ts';

describe('the evaluation tariff', () => {
  it('prices a 50 €/MWh hour at (0.05 + 0.18) × 1.19 to buy and 0.08 to sell, with the real-time spread', () => {
    const t = hourTariff(50);
    expect(t.buyEurPerKwh).toBeCloseTo(0.2737, 12);
    expect(t.sellEurPerKwh).toBe(0.08);
    expect(t.realtimeBuyEurPerKwh).toBeCloseTo(0.3737, 12);
    expect(t.realtimeSellEurPerKwh).toBeCloseTo(0.04, 12);
  });

  it('keeps VAT on a negative day-ahead price (retail stays positive while fees dominate)', () => {
    expect(hourTariff(-100).buyEurPerKwh).toBeCloseTo(0.08 * 1.19, 12);
  });

  it('charges 0.50 €/kW per day of peak and makes the P2P buyer pay the 0.09 grid fee', () => {
    expect(tariffParams.demandChargeEurPerKwDay).toBe(0.5);
    expect(p2pBuyerPriceEurPerKwh(0.15)).toBeCloseTo(0.24, 12);
  });

  it('builds the optimizer tariff for a horizon and refuses hours without a price', () => {
    const prices = parsePrices('p.csv', 'timestamp,price_eur_per_mwh\n2016-07-01T00:00:00Z,0\n2016-07-01T01:00:00Z,100\n');
    const w = tariffWindow(prices, prices.startMs, 2);
    expect(w.buyEurPerKwh.map((v) => Number(v.toFixed(6)))).toEqual([0.2142, 0.3332]);
    expect(() => tariffWindow(prices, prices.startMs + HOUR_MS, 2)).toThrow(/no day-ahead price for 2016-07-01T02:00:00.000Z/);
  });

  it('equips every household with the same battery and grid connection', () => {
    expect(battery).toMatchObject({ capacityKwh: 10, minEnergyKwh: 1, maxEnergyKwh: 10, maxChargeKw: 5, maxDischargeKw: 5, chargeEfficiency: 0.95, dischargeEfficiency: 0.95 });
    expect(initialEnergyKwh).toBe(5);
    expect(grid).toEqual({ maxImportKw: 11, maxExportKw: 11 });
  });
});
