/**
 * Choosing the Wasserstein radius ρ on validation days (before the split), never on test days.
 * Rule: the smallest ρ of the sweep whose one-sided Clopper–Pearson upper confidence bound on
 * the joint violation probability is ≤ ε; the largest ρ of the sweep if none qualifies.
 * The bound is taken over household-days (each household is one gateway with its own chance
 * constraint). Households share the weather, so those days are not independent and the bound is
 * optimistic; the confidence level is the stated margin, not a guarantee.
 */
import type { ControllerSummary } from './run.ts';

export interface ValidationRow {
  radiusKw: number;
  controller: string;
  /** Household-days with any violated row of the joint families. */
  violatedDays: number;
  householdDays: number;
  /** violatedDays / householdDays. */
  jointViolation: number;
  upperBound: number;
  qualifies: boolean;
}

export interface RhoSelection {
  epsilon: number;
  confidence: number;
  selectedRhoKw: number;
  controller: string;
  /** False when no ρ met the rule and the largest was taken. */
  qualified: boolean;
  rows: ValidationRow[];
}

function binomialCdf(k: number, n: number, p: number): number {
  if (p <= 0) return 1;
  if (p >= 1) return k >= n ? 1 : 0;
  // Term by term in log space: n is a few hundred household-days at most.
  let logTerm = n * Math.log1p(-p);
  let sum = Math.exp(logTerm);
  for (let i = 1; i <= k; i++) {
    logTerm += Math.log((n - i + 1) / i) + Math.log(p) - Math.log1p(-p);
    sum += Math.exp(logTerm);
  }
  return Math.min(sum, 1);
}

/** The p with P(X ≤ k | n, p) = 1 − confidence: a one-sided upper bound on p after k events in n trials. */
export function clopperPearsonUpper(k: number, n: number, confidence: number): number {
  if (!(n > 0) || k < 0 || k > n) throw new RangeError(`clopperPearsonUpper: need 0 ≤ k ≤ n, n > 0 (got k = ${k}, n = ${n})`);
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence must lie in (0, 1), got ${confidence}`);
  if (k === n) return 1;
  let lo = k / n;
  let hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (binomialCdf(k, n, mid) > 1 - confidence) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** The validation row of one SAA/DRO controller: violated household-days counted from the per-household rates. */
export function validationCounts(summary: ControllerSummary): { violatedDays: number; householdDays: number } {
  let violatedDays = 0;
  let householdDays = 0;
  for (const h of summary.households) {
    violatedDays += Math.round(h.violation.joint * h.violation.days);
    householdDays += h.violation.days;
  }
  return { violatedDays, householdDays };
}

export function selectRho(
  table: readonly { radiusKw: number; controller: string; violatedDays: number; householdDays: number }[],
  epsilon: number,
  confidence: number,
): RhoSelection {
  if (table.length === 0) throw new RangeError('selectRho: no SAA/DRO controller in the validation run');
  const rows = [...table]
    .sort((a, b) => a.radiusKw - b.radiusKw)
    .map((r) => {
      const upperBound = clopperPearsonUpper(r.violatedDays, r.householdDays, confidence);
      return { ...r, jointViolation: r.violatedDays / r.householdDays, upperBound, qualifies: upperBound <= epsilon };
    });
  const chosen = rows.find((r) => r.qualifies) ?? rows[rows.length - 1]!;
  return { epsilon, confidence, selectedRhoKw: chosen.radiusKw, controller: chosen.controller, qualified: chosen.qualifies, rows };
}
