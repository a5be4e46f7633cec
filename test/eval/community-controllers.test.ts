/**
 * The community controllers on a real day of two shipped households: the distributed clearing
 * lands where the central one does, the transfers are exactly reciprocal and leave each household
 * at its bill alone less an equal share of the saving, and coordinating does not raise the
 * community's peak above planning alone.
 */
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHousehold, loadPrices } from '../../src/data/households.ts';
import { communityController } from '../../src/eval/controllers/community.ts';
import { defaultOptimizerSettings, optimizerController } from '../../src/eval/controllers/optimizer.ts';
import { runController, summarise, type ControllerRun } from '../../src/eval/run.ts';
import type { DecisionContext } from '../../src/eval/controller.ts';
import { buildHouseholdCase, type HouseholdCase } from '../../src/eval/scenario.ts';
import { createOptimizer } from '../../src/optimizer/index.ts';

const dataDir = resolve(import.meta.dirname, '../../data/community');
const radiusKw = 0.1;
const settings = { peakChargeEurPerKwDay: 1, importEpsilon: 0.05, radiusKw, sampleCount: 5, timeBudgetMs: 10_000, reclearEveryHours: 24 };
const runSettings = { batteryWearEurPerKw2h: defaultOptimizerSettings.weights.batteryWearEurPerKw2h, communityChargeEurPerKwDay: 1 };
let cases: HouseholdCase[];
const runs: Record<string, ControllerRun> = {};

beforeAll(async () => {
  const prices = await loadPrices(dataDir);
  const series = await Promise.all(['residential1', 'residential4'].map((id) => loadHousehold(dataDir, id)));
  // An autumn day: both households import in the evening.
  cases = series.map((s) => buildHouseholdCase(s, prices, [Date.UTC(2016, 9, 12)], { steps: 24, sampleCount: settings.sampleCount }));
  for (const mode of ['distributed', 'central'] as const) {
    runs[mode] = await runController({
      name: mode,
      createFleet: (h) => communityController(mode, h, settings, defaultOptimizerSettings, () => createOptimizer()),
      standAlone: () => optimizerController({ kind: 'dro', radiusKw }, createOptimizer()),
    }, cases, runSettings, () => undefined);
  }
  runs.alone = await runController({ name: 'alone', create: () => optimizerController({ kind: 'dro', radiusKw }, createOptimizer()) }, cases, runSettings, () => undefined);
}, 300_000);

describe('the community controllers on a real day', () => {
  it('solve every hour without a fallback or an unhandled failure', () => {
    for (const mode of ['distributed', 'central']) {
      const solves = runs[mode]!.households.flatMap((h) => h.solves);
      expect(solves.length).toBe(2 * 24);
      expect(solves.filter((s) => s.fallback !== null || s.unhandled)).toEqual([]);
    }
  });

  it('the distributed clearing gives the community the bill of the central one within 2 %', () => {
    const bill = (mode: string) => summarise(runs[mode]!, ['import']).community.bill.total;
    expect(Math.abs(bill('distributed') - bill('central'))).toBeLessThanOrEqual(0.02 * Math.abs(bill('central')));
  });

  it('the transfers are exactly reciprocal: what one household pays the other receives', () => {
    for (const mode of ['distributed', 'central']) {
      const [a, b] = runs[mode]!.households;
      expect(a!.bill.communityTransfer + b!.bill.communityTransfer).toBeCloseTo(0, 9);
    }
  });

  it('every household ends the period at its bill alone (run separately) less an equal share of the community\'s saving', () => {
    const billEur = (run: ControllerRun, n: number) => run.households[n]!.bill.total;
    for (const mode of ['distributed', 'central']) {
      const run = runs[mode]!;
      const savingEur = [0, 1].reduce((s, n) => s + billEur(runs.alone!, n) - billEur(run, n), 0);
      for (const n of [0, 1]) expect(billEur(run, n)).toBeCloseTo(billEur(runs.alone!, n) - savingEur / 2, 9);
    }
  });

  it('with the live guard, holds the community to the peak its midnight clearing planned, or to the day\'s billed one once that is higher', async () => {
    const contexts = (communityPeakSoFarKw: number): DecisionContext[] => cases.map((household) => ({
      household, hour: household.days[0]!.hours[0]!, hourOfDay: 0, energyKwh: household.initialEnergyKwh, deferredKwh: 0,
      deadlinesKwh: new Array<number>(24).fill(0), peakSoFarKw: 0, communityPeakSoFarKw,
    }));
    const live = communityController('central', cases, { ...settings, liveGuard: true }, defaultOptimizerSettings, () => createOptimizer());
    const plain = communityController('central', cases, settings, defaultOptimizerSettings, () => createOptimizer());
    try {
      expect(live.communityGuardKw!(contexts(0))).toBeUndefined(); // no clearing yet
      const decisions = await live.decide(contexts(0));
      await plain.decide(contexts(0));
      const plannedKw = live.communityGuardKw!(contexts(0))!;
      expect(plannedKw).toBeGreaterThan(0.5); // an autumn day: the community imports
      // The clearing's planned peak covers what it scheduled for the first hour, together.
      expect(plannedKw).toBeGreaterThanOrEqual(decisions.reduce((sum, d) => sum + d.command.scheduledGridKw, 0) - 1e-6);
      expect(live.communityGuardKw!(contexts(plannedKw + 2))).toBe(plannedKw + 2);
      expect(plain.communityGuardKw!(contexts(0))).toBeUndefined();
    } finally {
      live.dispose?.();
      plain.dispose?.();
    }
  });

  it('coordinating does not raise the community peak above planning alone', () => {
    const peak = (mode: string) => summarise(runs[mode]!, ['import']).community.kpis.avgDailyPeakKw;
    expect(peak('distributed')).toBeLessThanOrEqual(peak('alone') + 0.05);
  });
});
