import { describe, expect, it } from 'vitest';
import type { HouseholdDayPlan } from '../../src/ces/household-model.ts';
import { accountStorage, replayDay } from '../../src/eval/ces/replay.ts';
import { battery } from '../../src/data/assets.ts';

const T = 4;
const zeros = () => new Array<number>(T).fill(0);
/** A plan that charges the account 2 kW in hour 1 from a forecast surplus and takes it out in hour 3. */
const plan = (over: Partial<HouseholdDayPlan> = {}): HouseholdDayPlan => ({
  retailerKw: zeros(), meteredKw: zeros(), chargeKw: zeros(), dischargeKw: zeros(), energyKwh: new Array(T + 1).fill(5),
  rentedKwh: 2, accountChargeKw: [0, 2, 0, 0], accountDischargeKw: [0, 0, 0, 2 * 0.9], accountKwh: [0, 0, 2 / Math.sqrt(0.9) * 0.9, 2 / Math.sqrt(0.9) * 0.9, 0],
  p2pKw: zeros(), rentalPaymentEur: 0, withdrawalFeeEur: 0, objectiveEur: 0, ...over,
});
const account = accountStorage(2 * Math.sqrt(0.9) + 1e-9, 2, Math.sqrt(0.9));

describe('a planned day replayed on the measured one', () => {
  it('on a perfect forecast the account moves as planned and ends empty', () => {
    const forecast = [0.5, -2, 0.5, 1.8];
    const day = replayDay(plan(), forecast, forecast, undefined, account);
    expect(day.accountChargeKw[1]).toBeCloseTo(2, 9);
    expect(day.accountDischargeKw[3]).toBeCloseTo(2 * 0.9, 9);
    expect(day.accountResidueKwh).toBeCloseTo(0, 9);
    expect(day.meteredKw).toEqual(forecast);
  });

  it('a smaller surplus than forecast fills the account less; the evening takes out what is there, nothing is bought to fill it', () => {
    const forecast = [0.5, -2, 0.5, 1.8];
    const realised = [0.5, -1, 0.5, 1.8];
    const day = replayDay(plan(), forecast, realised, undefined, account);
    expect(day.accountChargeKw[1]).toBeCloseTo(1, 9);
    expect(day.accountDischargeKw[3]).toBeCloseTo(0.9, 9);
    expect(day.accountResidueKwh).toBeCloseTo(0, 9);
  });

  it('the own battery covers the error first, the account the rest, the retailer what neither can', () => {
    const forecast = [0, 0, 0, 0];
    const realised = [1, 0, 0, 0];
    const own = { storage: { ...battery, maxDischargeKw: 0.4 }, startKwh: 5 };
    const day = replayDay(plan({ accountChargeKw: zeros(), accountDischargeKw: zeros(), accountKwh: new Array(T + 1).fill(0) }), forecast, realised, own, account);
    expect(day.batteryKw[0]).toBeCloseTo(0.4, 9);
    // The account is empty: it cannot give anything, so the meter imports the remaining 0.6 kW.
    expect(day.accountDischargeKw[0]).toBe(0);
    expect(day.meteredKw[0]).toBeCloseTo(0.6, 9);
    expect(day.ownEndKwh).toBeCloseTo(5 - 0.4 / battery.dischargeEfficiency, 9);
  });

  it('a larger surplus than forecast goes to the retailer, not into the account', () => {
    const forecast = [0.5, -2, 0.5, 1.8];
    const realised = [0.5, -3, -1, 1.8];
    const day = replayDay(plan(), forecast, realised, undefined, account);
    expect(day.accountChargeKw).toEqual([0, 2, 0, 0]);
    expect(day.meteredKw[2]).toBe(-1);
  });

  it('what the evening does not need stays in the account as a residue', () => {
    const forecast = [0.5, -2, 0.5, 1.8];
    const realised = [0.5, -2, 0.5, 0.3];
    const day = replayDay(plan(), forecast, realised, undefined, account);
    expect(day.accountDischargeKw[3]).toBeCloseTo(0.3, 9);
    expect(day.accountResidueKwh).toBeCloseTo(2 * Math.sqrt(0.9) - 0.3 / Math.sqrt(0.9), 9);
  });
});
