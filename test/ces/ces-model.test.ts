import { afterAll, describe, expect, it } from 'vitest';
import { realisedProfitEur, scheduleCes, type CesDayInput } from '../../src/ces/ces-model.ts';
import { profitCvar } from '../../src/ces/cvar.ts';
import { defaultCesSettings, type CesSettings } from '../../src/ces/settings.ts';
import { CesSolver } from '../../src/ces/solve.ts';
import { seededRandom } from '../../src/random/seeded-random.ts';
import { referenceObjective } from './reference.ts';

const solver = new CesSolver();
afterAll(() => solver.dispose());

const T = 8;
/** Price scenarios with a cheap night, a dear evening and a day-to-day spread that can turn the spread round. */
function scenarios(count: number, seed: number): number[][] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const level = 0.02 + 0.02 * random();
    return Array.from({ length: T }, (_, t) => Math.max(0, level + 0.015 * Math.sin((2 * Math.PI * t) / T) + 0.02 * (random() - 0.5)));
  });
}
const settings = (over: Partial<CesSettings> = {}): CesSettings => ({ ...defaultCesSettings, capacityKwh: 20, minEnergyKwh: 2, powerKw: 10, gridKw: 10, degradationEurPerKwh: 0.002, ...over });

describe('the CES day-ahead schedule', () => {
  it('matches an independent cvxopt build of the same LP, with P2P sales and sold rental accounts', async () => {
    const input: CesDayInput = {
      settings: settings({ riskWeight: 0.7, confidence: 0.8 }),
      priceScenariosEurPerKwh: scenarios(7, 3),
      p2p: { salesKw: [0, 1, 2, 0, 0, 1.5, 0, 0], priceEurPerKwh: [0.05, 0.05, 0.06, 0.06, 0.07, 0.08, 0.06, 0.05] },
      rental: { kind: 'sold', rental: { capacityKwh: 6, accountChargeKw: [0, 0, 2, 3, 0, 0, 0, 0], accountDischargeKw: [0, 0, 0, 0, 0, 2, 2, 0.5], revenueEur: 0.4 } },
    };
    const schedule = await scheduleCes(input, solver);
    expect(schedule.objectiveEur).toBeCloseTo(referenceObjective({ ces: input }), 6);
    // The market position is the own part's flows less the P2P energy sold.
    schedule.marketKw.forEach((m, t) => expect(m).toBeCloseTo(schedule.dischargeKw[t]! - schedule.chargeKw[t]! - input.p2p!.salesKw[t]!, 9));
    // The own part fits beside the 6 rented kWh and 3 rented kW.
    for (const e of schedule.ownEnergyKwh.slice(1, -1)) expect(e).toBeLessThanOrEqual(20 - 6 + 1e-7);
    for (const kw of [...schedule.chargeKw, ...schedule.dischargeKw]) expect(kw).toBeLessThanOrEqual(10 - 3 + 1e-7);
    expect(schedule.ownEnergyKwh[T]).toBeCloseTo(2, 9);
  });

  it('its CVaR is the mean of the worst scenarios sorted directly, and the objective is E + λ·CVaR', async () => {
    for (const [riskWeight, confidence] of [[0.5, 0.8], [3, 0.9], [1, 0.85]] as const) {
      const input: CesDayInput = { settings: settings({ riskWeight, confidence }), priceScenariosEurPerKwh: scenarios(10, 11), rental: { kind: 'none' } };
      const schedule = await scheduleCes(input, solver);
      expect(schedule.cvarEur).toBeCloseTo(profitCvar(schedule.scenarioProfitEur, confidence), 7);
      expect(-schedule.objectiveEur).toBeCloseTo(schedule.expectedProfitEur + riskWeight * schedule.cvarEur, 7);
      expect(schedule.objectiveEur).toBeCloseTo(referenceObjective({ ces: input }), 6);
    }
  });

  it('a higher risk weight trades expected profit for a better worst case (the frontier)', async () => {
    const prices = scenarios(12, 5);
    const points = [];
    for (const riskWeight of [0, 0.5, 2, 8]) {
      const s = await scheduleCes({ settings: settings({ riskWeight, confidence: 0.8 }), priceScenariosEurPerKwh: prices, rental: { kind: 'none' } }, solver);
      points.push({ expected: s.expectedProfitEur, cvar: profitCvar(s.scenarioProfitEur, 0.8) });
    }
    for (let k = 1; k < points.length; k++) {
      expect(points[k]!.expected).toBeLessThanOrEqual(points[k - 1]!.expected + 1e-9);
      expect(points[k]!.cvar).toBeGreaterThanOrEqual(points[k - 1]!.cvar - 1e-9);
    }
    expect(points[0]!.expected).toBeGreaterThan(points[3]!.expected);
  });

  it('an account filling while the CES discharges its own part costs no throughput twice', async () => {
    // One scenario with a dear hour 5: the own part discharges there; an account fills in hour 5 too.
    const prices = [[0.01, 0.01, 0.03, 0.03, 0.03, 0.2, 0.03, 0.03]];
    const alone = await scheduleCes({ settings: settings(), priceScenariosEurPerKwh: prices, rental: { kind: 'none' } }, solver);
    const rental = { capacityKwh: 4, accountChargeKw: [0, 0, 0, 0, 0, 2, 0, 0], accountDischargeKw: [0, 0, 0, 0, 0, 0, 0, 2 * 0.9], revenueEur: 0 };
    const shared = await scheduleCes({ settings: settings(), priceScenariosEurPerKwh: prices, rental: { kind: 'sold', rental } }, solver);
    expect(shared.dischargeKw[5]).toBeGreaterThan(2);
    // Hour 5 moves the net only; the account's energy is in the battery until it is taken out.
    expect(shared.physicalDischargeKw[5]).toBeCloseTo(shared.dischargeKw[5]! - shared.chargeKw[5]! - 2, 7);
    expect(shared.physicalEnergyKwh[6]! - shared.ownEnergyKwh[6]!).toBeCloseTo(2 * Math.sqrt(0.9), 9);
    expect(shared.throughputKwh).toBeLessThan(alone.throughputKwh + 2 + 2 * 0.9 - 1e-6);
  });

  it('realised profit is the committed position at the prices that cleared', async () => {
    const prices = scenarios(6, 9);
    const s = await scheduleCes({ settings: settings(), priceScenariosEurPerKwh: prices, p2p: { salesKw: new Array(T).fill(1), priceEurPerKwh: new Array(T).fill(0.05) }, rental: { kind: 'none' } }, solver);
    expect(realisedProfitEur(s, prices[2]!)).toBeCloseTo(s.scenarioProfitEur[2]!, 9);
  });

  it('refuses settings no battery can have, naming the field', async () => {
    await expect(scheduleCes({ settings: settings({ confidence: 1 }), priceScenariosEurPerKwh: scenarios(2, 1), rental: { kind: 'none' } }, solver)).rejects.toThrow(/confidence/);
    await expect(scheduleCes({ settings: settings({ minEnergyKwh: 30 }), priceScenariosEurPerKwh: scenarios(2, 1), rental: { kind: 'none' } }, solver)).rejects.toThrow(/minEnergyKwh/);
  });
});
