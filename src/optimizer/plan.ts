/** Solution vector → Plan, reading the model's named blocks. */
import { familyCvar } from './chance.ts';
import { COST_TERMS, enabledFamilies, type CostTerm, type QpModel } from './model.ts';
import type { ChanceFamily, Plan, ProblemInput } from './types.ts';

export interface SolverInfo {
  name: string;
  status: Plan['solver']['status'];
  solveMs: number;
  iterations?: number;
  warmStart: boolean;
}

function blockValues(model: QpModel, x: Float64Array, name: string): number[] {
  const block = model.cols[name];
  if (!block) throw new Error(`model has no column block ${name}`);
  return Array.from(x.subarray(block.start, block.start + block.length));
}

/** Each objective term evaluated on x; their sum is ½xᵀPx + qᵀx + offset exactly. */
function costByTerm(model: QpModel, x: Float64Array): Record<CostTerm, number> {
  const cost = { ...model.offsetByTerm };
  for (let j = 0; j < model.numCols; j++) {
    cost[model.linearTerm[j]!] += model.cost[j]! * x[j]!;
    cost[model.quadraticTerm[j]!] += 0.5 * model.hessianDiag[j]! * x[j]! * x[j]!;
  }
  return cost;
}

export function extractPlan(input: ProblemInput, model: QpModel, x: Float64Array, rowDual: Float64Array, startMs: number, solver: SolverInfo): Plan {
  const T = input.stepHours.length;
  const has = (name: string): boolean => model.cols[name] !== undefined;
  const allTerms = costByTerm(model, x);
  // The coordination terms of a community step are the ADMM's, not the household's cost.
  const cost = Object.fromEntries(COST_TERMS.map((t) => [t, allTerms[t]])) as Plan['costEur'];
  const peakByDay = has('peakImport') ? blockValues(model, x, 'peakImport') : undefined;
  const balance = model.rows['balance']!;
  const plan: Plan = {
    startMs,
    stepHours: [...input.stepHours],
    gridImportKw: blockValues(model, x, 'gridImport'),
    gridExportKw: blockValues(model, x, 'gridExport'),
    chargeKw: blockValues(model, x, 'charge'),
    dischargeKw: blockValues(model, x, 'discharge'),
    shiftableKw: has('shiftable') ? blockValues(model, x, 'shiftable') : new Array<number>(T).fill(0),
    decisionRule: blockValues(model, x, 'decisionRule'),
    energyKwh: [input.initial.energyKwh, ...blockValues(model, x, 'energy')],
    deferredKwh: [input.initial.deferredKwh, ...(has('deferred') ? blockValues(model, x, 'deferred') : new Array<number>(T).fill(input.initial.deferredKwh))],
    tradesKw: Object.fromEntries((input.peers ?? []).map((p) => [p.peerId, blockValues(model, x, `trade:${p.peerId}`)])),
    ...(peakByDay ? { peakImportKw: Math.max(...peakByDay), peakImportByDayKw: peakByDay } : {}),
    costEur: cost,
    objectiveEur: COST_TERMS.reduce((s, t) => s + cost[t], 0),
    worstCaseCvar: {},
    // A balance row says "net load at t = μ_t"; its dual is the objective's change per extra kW of
    // net load over the step, so dividing by Δt gives EUR per kWh delivered at t.
    marginalValueEurPerKwh: input.stepHours.map((h, t) => rowDual[balance.start + t]! / h),
    solver,
  };
  plan.worstCaseCvar = cvarOf(input, plan, model.samplesKw);
  return plan;
}

export function cvarOf(input: ProblemInput, plan: Plan, samples: number[][]): Partial<Record<ChanceFamily, number>> {
  return Object.fromEntries(enabledFamilies(input).map((f) => [f, familyCvar(input, plan, f, samples)]));
}
