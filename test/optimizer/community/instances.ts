/** Community instances shared by the community tests: synthetic households and the real day-ahead fixture. */
import { readFileSync } from 'node:fs';
import type { CommunityProblem, CommunityTerms } from '../../../src/optimizer/community/index.ts';
import { syntheticInput } from '../../../src/optimizer/synthetic.ts';
import type { ProblemInput } from '../../../src/optimizer/types.ts';

/** The households' own samples i, side by side, as joint sample i (I × N × T). */
export function jointSamples(households: ProblemInput[]): number[][][] {
  return households[0]!.errorSamplesKw.map((_, i) => households.map((h) => h.errorSamplesKw[i]!));
}

/** N synthetic households (different seeds: different samples), T hourly steps from `startHour`, two billing days. */
export function syntheticCommunity(options: { households: number; steps: number; samples: number; startHour: number; chance: boolean; peakSoFarKw: number[] }): CommunityProblem {
  const households = Array.from({ length: options.households }, (_, n) =>
    syntheticInput({ stepHours: new Array<number>(options.steps).fill(1), samples: options.samples, startHour: options.startHour, seed: n + 1, radiusKw: 0.05 }),
  );
  const terms: CommunityTerms = {
    peakChargeEurPerKwDay: 1,
    dayOfStep: Array.from({ length: options.steps }, (_, t) => (t < options.steps / 2 ? 0 : 1)),
    peakSoFarKw: options.peakSoFarKw,
    ...(options.chance ? { chance: { epsilon: 0.1, radiusKw: 0.05, jointSamplesKw: jointSamples(households) } } : {}),
  };
  return { households, terms };
}

/** The four real households' day-ahead inputs (test/optimizer/fixtures/community-day-ahead-2016-07-01.json), T = 24, I = 20. */
export function realCommunity(chance: boolean): CommunityProblem {
  const fixture = JSON.parse(readFileSync(new URL('../fixtures/community-day-ahead-2016-07-01.json', import.meta.url), 'utf8')) as { households: ProblemInput[] };
  const households = fixture.households;
  const T = households[0]!.stepHours.length;
  return {
    households,
    terms: {
      peakChargeEurPerKwDay: 1,
      dayOfStep: new Array<number>(T).fill(0),
      peakSoFarKw: [0],
      ...(chance ? { chance: { epsilon: 0.05, radiusKw: 0.03, jointSamplesKw: jointSamples(households) } } : {}),
    },
  };
}

/**
 * Households whose alone-optimal plans coincide: one cheap hour (step 2) in an expensive night and a
 * high terminal value, so each battery charges flat out in that hour when planning alone.
 */
export function coincidentCommunity(households: number): CommunityProblem {
  const T = 6;
  const inputs = Array.from({ length: households }, (_, n) => {
    const input = syntheticInput({ stepHours: new Array<number>(T).fill(1), samples: 3, startHour: 1, seed: n + 1, radiusKw: 0.02, shiftable: false, initialEnergyKwh: 2 });
    const buy = [0.3, 0.3, 0.1, 0.14, 0.16, 0.3];
    return {
      ...input,
      tariff: { ...input.tariff, buyEurPerKwh: buy, realtimeBuyEurPerKwh: buy.map((p) => p * 1.25) },
      weights: { ...input.weights, terminalEnergyEurPerKwh: 0.25 },
    };
  });
  return { households: inputs, terms: { peakChargeEurPerKwDay: 1, dayOfStep: new Array<number>(T).fill(0), peakSoFarKw: [0] } };
}
