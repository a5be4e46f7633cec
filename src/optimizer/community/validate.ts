/** Checks a CommunityProblem; throws a RangeError naming the field (solvers turn it into a typed failure). */
import type { CommunityProblem } from './types.ts';

export function validateCommunity(problem: CommunityProblem): void {
  const need = (ok: boolean, what: string): void => {
    if (!ok) throw new RangeError(`invalid CommunityProblem: ${what}`);
  };
  const { households, terms } = problem;
  need(households.length > 0, 'no households');
  const stepHours = households[0]!.stepHours;
  const T = stepHours.length;
  need(
    households.every((h) => h.stepHours.length === T && h.stepHours.every((v, t) => v === stepHours[t])),
    'households must share stepHours',
  );
  need(households.every((h) => h.community === undefined), 'a household input already carries a community coupling');
  need(Number.isFinite(terms.peakChargeEurPerKwDay) && terms.peakChargeEurPerKwDay >= 0, 'terms.peakChargeEurPerKwDay must be ≥ 0');
  need(terms.dayOfStep.length === T && terms.dayOfStep.every((d) => Number.isInteger(d) && d >= 0), `terms.dayOfStep needs ${T} day indices`);
  const days = 1 + Math.max(0, ...terms.dayOfStep);
  need(terms.peakSoFarKw.length >= days && terms.peakSoFarKw.every((v) => Number.isFinite(v) && v >= 0), `terms.peakSoFarKw needs ${days} entries ≥ 0`);
  const chance = terms.chance;
  if (chance) {
    need(chance.epsilon > 0 && chance.epsilon < 1, 'terms.chance.epsilon must be in (0, 1)');
    need(Number.isFinite(chance.radiusKw) && chance.radiusKw >= 0, 'terms.chance.radiusKw must be ≥ 0');
    need(chance.jointSamplesKw.length > 0, 'terms.chance.jointSamplesKw is empty');
    need(
      chance.jointSamplesKw.every((s) => s.length === households.length && s.every((h) => h.length === T && h.every(Number.isFinite))),
      `terms.chance.jointSamplesKw must be I × ${households.length} × ${T} finite numbers`,
    );
  }
}

/** Billing days of the community charge. */
export function communityDays(problem: CommunityProblem): number {
  return 1 + Math.max(0, ...problem.terms.dayOfStep);
}
