import { afterAll, describe, expect, it } from 'vitest';
import { scheduleCes } from '../../src/ces/ces-model.ts';
import { planHouseholdDay, type HouseholdDayInput } from '../../src/ces/household-model.ts';
import { clearRentalDay } from '../../src/ces/rental-market.ts';
import { defaultCesSettings, type CesSettings } from '../../src/ces/settings.ts';
import { CesSolver } from '../../src/ces/solve.ts';
import { battery } from '../../src/data/assets.ts';
import { referenceObjective } from './reference.ts';
import { householdDay, T } from './household-day.ts';

const solvers = { ces: new CesSolver(), households: [new CesSolver(), new CesSolver()] };
afterAll(() => [solvers.ces, ...solvers.households].forEach((s) => s.dispose()));

const household = householdDay;
const rentOffer = (priceEurPerKwhDay: number) => ({ priceEurPerKwhDay, maxKwh: 8, kwPerKwh: 0.5, efficiency: Math.sqrt(0.9), throughputFeeEurPerKwh: 0.01, withdrawalFeeEurPerKwh: 0.09 });
/**
 * A small CES whose own arbitrage competes with the households for its 8 kWh; the second household
 * gets a better feed-in, so storing its surplus is worth less to it: at price 0 both book more than
 * 8 kWh, at the clearing price only the first does.
 */
const settings: CesSettings = { ...defaultCesSettings, capacityKwh: 10, minEnergyKwh: 2, powerKw: 5, gridKw: 10, degradationEurPerKwh: 0.01 };
const prices = [[0.02, 0.02, 0.02, 0.02, 0.03, 0.05, 0.05, 0.03], [0.02, 0.03, 0.02, 0.02, 0.03, 0.04, 0.06, 0.03]];
const households = [household(1), household(0.8, 0.12)];

describe('a household with what the CES offers', () => {
  it('matches an independent cvxopt build of its plan with its own battery, a rented one and P2P', async () => {
    const input: HouseholdDayInput = {
      ...household(1),
      battery: { params: { ...battery, capacityKwh: 3, maxEnergyKwh: 3, minEnergyKwh: 0.3, maxChargeKw: 1, maxDischargeKw: 1 }, initialEnergyKwh: 1, wearEurPerKw2h: 0.005, terminalEurPerKwh: 0.2 },
      ces: { rent: rentOffer(0.01), p2p: { priceEurPerKwh: [0.04, 0.04, 0.04, 0.04, 0.05, 0.08, 0.08, 0.05], maxKw: 1 } },
      p2pFees: { localGridFeeEurPerKwh: 0.09, vatFactor: 1.19 },
    };
    const plan = await planHouseholdDay(input, solvers.households[0]!);
    expect(plan.objectiveEur).toBeCloseTo(referenceObjective({ household: input }), 5);
  });

  it('rents the capacity that carries its noon surplus into the evening while renting pays, and none above', async () => {
    const none = await planHouseholdDay(household(1), solvers.households[0]!);
    const cheap = await planHouseholdDay({ ...household(1), ces: { rent: rentOffer(0.005) } }, solvers.households[0]!);
    expect(cheap.rentedKwh).toBeGreaterThan(3);
    expect(cheap.objectiveEur).toBeLessThan(none.objectiveEur - 0.1);
    expect(cheap.accountKwh[0]).toBe(0);
    expect(cheap.accountKwh[T]).toBeCloseTo(0, 9);
    for (const a of cheap.accountKwh) expect(a).toBeLessThanOrEqual(cheap.rentedKwh + 1e-7);
    // The account's energy crosses the meter: deposits lower it, withdrawals raise it.
    expect(cheap.meteredKw[2]).toBeCloseTo(cheap.retailerKw[2]! - cheap.accountChargeKw[2]!, 9);
    const dear = await planHouseholdDay({ ...household(1), ces: { rent: rentOffer(0.5) } }, solvers.households[0]!);
    expect(dear.rentedKwh).toBeCloseTo(0, 9);
    expect(dear.objectiveEur).toBeCloseTo(none.objectiveEur, 7);
  });
});

describe('the rental clearing', () => {
  const clear = (p2p: boolean) => clearRentalDay({ settings, priceScenariosEurPerKwh: prices, households, throughputFeeEurPerKwh: 0.01, withdrawalFeeEurPerKwh: 0.09, p2pBuyerFeeEurPerKwh: 0.09, vatFactor: 1.19, rental: true, p2p, toleranceEurPerKwhDay: 1e-4, solvers });

  it('finds the lowest price at which the CES serves every booking', async () => {
    const result = await clear(false);
    const booked = result.plans.reduce((s, p) => s + p.rentedKwh, 0);
    expect(result.priceEurPerKwhDay).toBeGreaterThan(0);
    expect(booked).toBeGreaterThan(0);
    const supplyAt = async (price: number) => (await scheduleCes({ settings, priceScenariosEurPerKwh: prices, rental: { kind: 'offer', priceEurPerKwhDay: price + 1e-6 } }, solvers.ces)).rentedKwh;
    expect(booked).toBeLessThanOrEqual((await supplyAt(result.priceEurPerKwhDay)) + 1e-6);
    // Just below the price the households would book more than the CES gives up.
    const below = result.priceEurPerKwhDay - 3e-4;
    let demandBelow = 0;
    for (const [n, h] of households.entries()) demandBelow += (await planHouseholdDay({ ...h, ces: { rent: rentOffer(below) } }, solvers.households[n]!)).rentedKwh;
    expect(demandBelow).toBeGreaterThan(await supplyAt(below));
  });

  it('the CES schedules the accounts in its battery and gains against trading alone; the households against no CES', async () => {
    const result = await clear(false);
    const alone = await scheduleCes({ settings, priceScenariosEurPerKwh: prices, rental: { kind: 'none' } }, solvers.ces);
    expect(-result.ces.objectiveEur).toBeGreaterThan(-alone.objectiveEur);
    const accounts = Array.from({ length: T + 1 }, (_, t) => result.plans.reduce((s, p) => s + p.accountKwh[t]!, 0));
    accounts.forEach((a, t) => expect(result.ces.physicalEnergyKwh[t]! - result.ces.ownEnergyKwh[t]!).toBeCloseTo(a, 7));
    const gains = [];
    for (const [n, h] of households.entries()) gains.push((await planHouseholdDay(h, solvers.households[n]!)).objectiveEur - result.plans[n]!.objectiveEur);
    for (const gain of gains) expect(gain).toBeGreaterThanOrEqual(-1e-9);
    expect(Math.max(...gains)).toBeGreaterThan(0.05);
  });

  it('P2P energy at the expected market price plus the markup: the CES expects to gain, the households buy below retail', async () => {
    const result = await clear(true);
    const alone = await scheduleCes({ settings, priceScenariosEurPerKwh: prices, rental: { kind: 'none' } }, solvers.ces);
    expect(result.plans.some((p) => p.p2pKw.some((kw) => kw > 0))).toBe(true);
    expect(result.ces.expectedProfitEur).toBeGreaterThan(alone.expectedProfitEur);
    for (const [n, h] of households.entries()) {
      const without = await planHouseholdDay(h, solvers.households[n]!);
      expect(result.plans[n]!.objectiveEur).toBeLessThan(without.objectiveEur);
    }
  });
});
