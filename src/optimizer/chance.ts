/**
 * The chance-constraint rows of §4 evaluated on a plan, independently of the CVaR variables in the
 * model: what the Plan reports as worst-case CVaR, and what the closed loop checks for violations.
 */
import type { ChanceFamily, Plan, ProblemInput, Tariff } from './types.ts';

/** Row r of a family: `aᵀξ ≤ h`, with `a` given as (coordinate, coefficient) pairs. */
export interface ChanceRowValue {
  a: [number, number][];
  h: number;
}

/**
 * The import row bounds what the model bounded: the connection under `chance.importLimit`
 * 'connection', else the plan's peak (`tariff.peakDayOfStep` says which day's; one peak without it).
 */
export function chanceRows(
  input: Pick<ProblemInput, 'battery' | 'grid'> & { tariff?: Pick<Tariff, 'peakDayOfStep'>; chance?: Pick<ProblemInput['chance'], 'importLimit'> },
  plan: Plan,
  family: ChanceFamily,
): ChanceRowValue[] {
  const T = plan.stepHours.length;
  const bat = input.battery;
  const beta = plan.decisionRule;
  const rows: ChanceRowValue[] = [];
  const importLimit = (t: number): number =>
    input.chance?.importLimit === 'connection' ? input.grid.maxImportKw : plan.peakImportByDayKw?.[input.tariff?.peakDayOfStep?.[t] ?? 0] ?? plan.peakImportKw ?? input.grid.maxImportKw;
  for (let t = 0; t < T; t++) {
    const net = plan.gridImportKw[t]! - plan.gridExportKw[t]!;
    const battery = plan.dischargeKw[t]! - plan.chargeKw[t]!;
    switch (family) {
      case 'import':
        rows.push({ a: [[t, 1 - beta[t]!]], h: importLimit(t) - net });
        break;
      case 'export':
        rows.push({ a: [[t, -(1 - beta[t]!)]], h: input.grid.maxExportKw + net });
        break;
      case 'discharge':
        rows.push({ a: [[t, beta[t]!]], h: bat.maxDischargeKw - battery });
        break;
      case 'charge':
        rows.push({ a: [[t, -beta[t]!]], h: bat.maxChargeKw + battery });
        break;
      case 'socMin':
      case 'socMax': {
        const sign = family === 'socMin' ? 1 : -1;
        const a: [number, number][] = [];
        for (let s = 0; s <= t; s++) a.push([s, sign * plan.stepHours[s]! * beta[s]!]);
        const e = plan.energyKwh[t + 1]!;
        rows.push({ a, h: family === 'socMin' ? e - bat.minEnergyKwh : bat.maxEnergyKwh - e });
        break;
      }
    }
  }
  return rows;
}

/** aᵀξ − h per row for one realised error trajectory ξ: a row is violated when this is > 0. */
export function rowExcess(rows: ChanceRowValue[], xi: number[]): number[] {
  return rows.map((row) => row.a.reduce((s, [j, v]) => s + v * xi[j]!, 0) - row.h);
}

/**
 * sup over the 1-Wasserstein ball (‖·‖₁ transport, support R^T) of CVaR_ε of the loss
 * max_r (a_rᵀξ − h_r) = inf_τ τ + (ρ L + (1/I) Σ_i max(ℓ_i − τ, 0)) / ε with L = max_r ‖a_r‖∞
 * (Mohajerin Esfahani and Kuhn 2018). The function of τ is convex piecewise linear with breakpoints
 * at the sample losses ℓ_i, so the infimum is attained at one of them.
 */
export function worstCaseCvar(rows: ChanceRowValue[], samples: number[][], epsilon: number, radiusKw: number): number {
  const losses = samples.map((xi) => Math.max(...rowExcess(rows, xi)));
  const lipschitz = Math.max(0, ...rows.flatMap((r) => r.a.map(([, v]) => Math.abs(v))));
  let best = Infinity;
  for (const tau of losses) {
    const mean = losses.reduce((s, l) => s + Math.max(l - tau, 0), 0) / losses.length;
    best = Math.min(best, tau + (radiusKw * lipschitz + mean) / epsilon);
  }
  return best;
}

/** The Plan's figure: joint → CVaR of the family's max row; bonferroni → the worst row at ε/R. */
export function familyCvar(input: ProblemInput, plan: Plan, family: ChanceFamily, samples: number[][]): number {
  const rows = chanceRows(input, plan, family);
  const eps = input.chance.epsilon[family]!;
  if (input.chance.method === 'joint') return worstCaseCvar(rows, samples, eps, input.chance.radiusKw);
  return Math.max(...rows.map((row) => worstCaseCvar([row], samples, eps / rows.length, input.chance.radiusKw)));
}
