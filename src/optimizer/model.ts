/**
 * ProblemInput → solver-neutral QP (../shared/docs/formulation.md, §2–§5):
 *
 *   minimise ½ xᵀ diag(P) x + qᵀ x + offset   s.t.   rowLower ≤ A x ≤ rowUpper,  colLower ≤ x ≤ colUpper
 *
 * P is diagonal on purpose: `(c_t + d_t)²` is carried by an auxiliary w_t = c_t + d_t and
 * `(g⁺_t − g⁻_t − ĝ_t)²` by the net exchange n_t = g⁺_t − g⁻_t, so every quadratic term sits on one
 * column. Variables and rows come in named blocks so the Plan, the tests and the warm start find
 * g⁺, β, the balance rows, each family's CVaR rows, ... without index arithmetic elsewhere.
 *
 * The sparsity pattern (which entries of A, P exist, and in which order) is a function of T, I, the
 * peers and the options only; data changes numbers, never structure. Entries whose value happens to
 * be 0 for some data (a zero real-time price) stay in the pattern as explicit zeros.
 */
import type { ChanceFamily, PeerTrade, Plan, ProblemInput } from './types.ts';

const CHANCE_FAMILIES: readonly ChanceFamily[] = ['import', 'export', 'discharge', 'charge', 'socMin', 'socMax'];

/** Objective terms the Plan splits the cost into (`Plan.costEur`), plus the model-only 'coordination'. */
export type PlanCostTerm = keyof Plan['costEur'];
export type CostTerm = PlanCostTerm | 'coordination';

export const COST_TERMS: readonly PlanCostTerm[] = [
  'energy',
  'p2p',
  'realtime',
  'batteryWear',
  'deferral',
  'scheduleDeviation',
  'demandCharge',
  'terminalValue',
  'socRecovery',
];

/**
 * COST_TERMS are what the Plan reports and sums into `objectiveEur`; 'coordination' (the price and
 * proximal terms of a community sharing step, `ProblemInput.community`) is in the model's objective
 * but is nobody's cost, so the Plan leaves it out.
 */
export const MODEL_TERMS: readonly CostTerm[] = [...COST_TERMS, 'coordination'];

/**
 * A contiguous range of columns or rows. `timeAxis` tells the warm start how to shift the block by
 * one step: the block is a row-major array of `outer × inner` and the time index is the outer
 * (`'outer'`) or inner (`'inner'`) one; `'none'` blocks are not shifted.
 */
export interface Block {
  start: number;
  length: number;
  outer: number;
  inner: number;
  timeAxis: 'outer' | 'inner' | 'none';
}

/** One chance-constraint family's CVaR block (joint: one group; bonferroni: one group per row). */
export interface CvarBlocks {
  groups: number;
  epsilonPerGroup: number;
  /** τ, λ per group; σ as groups × I. */
  tau: Block;
  lambda: Block;
  sigma: Block;
  /** The CVaR budget row per group, the λ ≥ |a| rows, the sample rows (groups' rows × I). */
  budgetRows: Block;
  lambdaRows: Block;
  sampleRows: Block;
}

export interface ModelOptions {
  /** Penalty on the SoC bound relaxation that lets an out-of-range start steer back (EUR per kWh·h). */
  socRecoveryEurPerKwhH: number;
  /** Samples smaller than this (kW) are floored, keeping their sign, so no coefficient vanishes. */
  sampleFloorKw: number;
}

export const DEFAULT_MODEL_OPTIONS: ModelOptions = { socRecoveryEurPerKwhH: 10, sampleFloorKw: 1e-3 };

export interface QpModel {
  numCols: number;
  numRows: number;
  colLower: Float64Array;
  colUpper: Float64Array;
  /** Linear cost q. */
  cost: Float64Array;
  /** Diagonal of P (½ xᵀPx). */
  hessianDiag: Float64Array;
  offset: number;
  rowLower: Float64Array;
  rowUpper: Float64Array;
  /** A in compressed sparse column form. */
  colStarts: Int32Array;
  rowIndex: Int32Array;
  values: Float64Array;
  /** Which objective term each column's linear and quadratic cost belongs to. */
  linearTerm: CostTerm[];
  quadraticTerm: CostTerm[];
  offsetByTerm: Record<CostTerm, number>;
  cols: Record<string, Block>;
  rows: Record<string, Block>;
  cvar: Partial<Record<ChanceFamily, CvarBlocks>>;
  /** Samples as used in the model (floored), I × T. */
  samplesKw: number[][];
}

/** Throws a RangeError naming the offending field; the optimizer turns it into a typed failure. */
function validateInput(input: ProblemInput): void {
  const T = input.stepHours.length;
  const need = (ok: boolean, what: string): void => {
    if (!ok) throw new RangeError(`invalid ProblemInput: ${what}`);
  };
  need(T > 0, 'stepHours is empty');
  need(input.stepHours.every((h) => Number.isFinite(h) && h > 0), 'stepHours must be positive');
  const series: [string, number[] | undefined][] = [
    ['netLoadForecastKw', input.netLoadForecastKw],
    ['tariff.buyEurPerKwh', input.tariff.buyEurPerKwh],
    ['tariff.sellEurPerKwh', input.tariff.sellEurPerKwh],
    ['tariff.realtimeBuyEurPerKwh', input.tariff.realtimeBuyEurPerKwh],
    ['tariff.realtimeSellEurPerKwh', input.tariff.realtimeSellEurPerKwh],
    ['shiftable.desiredKw', input.shiftable?.desiredKw],
    ['shiftable.minKw', input.shiftable?.minKw],
    ['shiftable.maxKw', input.shiftable?.maxKw],
    ['shiftable.deferredCapKwh', input.shiftable?.deferredCapKwh],
    ['committedGridKw', input.committedGridKw],
    ['tariff.peakDayOfStep', input.tariff.peakDayOfStep],
    ['community.netPriceEurPerKwh', input.community?.netPriceEurPerKwh],
    ['community.netTargetKw', input.community?.netTargetKw],
  ];
  for (const [name, values] of series) {
    if (values === undefined) continue;
    need(values.length === T, `${name} has length ${values.length}, expected ${T}`);
    need(values.every(Number.isFinite), `${name} has a non-finite entry`);
  }
  need(input.errorSamplesKw.length > 0, 'errorSamplesKw is empty');
  for (const [i, s] of input.errorSamplesKw.entries()) {
    need(s.length === T && s.every(Number.isFinite), `errorSamplesKw[${i}] must be ${T} finite numbers`);
  }
  for (const peer of input.peers ?? []) {
    need(peer.priceEurPerKwh.length === T, `peer ${peer.peerId} price has the wrong length`);
    need(peer.maxKw >= 0, `peer ${peer.peerId} maxKw is negative`);
    need(peer.committedKw === undefined || peer.committedKw.length === T, `peer ${peer.peerId} committedKw has the wrong length`);
  }
  const b = input.battery;
  need(b.chargeEfficiency > 0 && b.chargeEfficiency <= 1 && b.dischargeEfficiency > 0 && b.dischargeEfficiency <= 1, 'battery efficiencies must be in (0, 1]');
  need(b.maxChargeKw >= 0 && b.maxDischargeKw >= 0, 'battery power limits must be ≥ 0');
  need(Number.isFinite(input.initial.energyKwh) && Number.isFinite(input.initial.deferredKwh), 'initial state must be finite');
  for (const [family, eps] of Object.entries(input.chance.epsilon)) {
    need(eps !== undefined && eps > 0 && eps < 1, `epsilon.${family} must be in (0, 1)`);
  }
  need(input.chance.radiusKw >= 0, 'chance.radiusKw must be ≥ 0');
  const days = input.tariff.peakDayOfStep;
  need(days === undefined || days.every((d) => Number.isInteger(d) && d >= 0), 'tariff.peakDayOfStep must hold day indices 0, 1, ..');
  const soFar = input.tariff.peakSoFarKw;
  need(soFar === undefined || (soFar.length >= peakDays(input) && soFar.every((v) => Number.isFinite(v) && v >= 0)), `tariff.peakSoFarKw needs ${peakDays(input)} finite entries ≥ 0`);
  const community = input.community;
  if (community) {
    need(Number.isFinite(community.proximalWeightEurPerKw2) && community.proximalWeightEurPerKw2 >= 0, 'community.proximalWeightEurPerKw2 must be ≥ 0');
    const share = community.deviationShare;
    const grid = (rows: number[][] | undefined): boolean => rows !== undefined && rows.length > 0 && rows.every((r) => r.length === T && r.every(Number.isFinite));
    need(!share || (grid(share.samplesKw) && grid(share.priceEurPerKw) && grid(share.targetKw) && share.priceEurPerKw.length === share.samplesKw.length && share.targetKw.length === share.samplesKw.length), `community.deviationShare needs I × ${T} finite samples, prices and targets`);
    need(!share || (Number.isFinite(share.proximalWeightEurPerKw2) && share.proximalWeightEurPerKw2 >= 0), 'community.deviationShare.proximalWeightEurPerKw2 must be ≥ 0');
    need(!share?.lipschitz || [share.lipschitz.priceEur, share.lipschitz.target, share.lipschitz.proximalWeightEur].every(Number.isFinite), 'community.deviationShare.lipschitz must be finite');
  }
}

/** Billing days of the demand charge: 1 + the largest `peakDayOfStep` (one day without it). */
export function peakDays(input: Pick<ProblemInput, 'tariff'>): number {
  return 1 + Math.max(0, ...(input.tariff.peakDayOfStep ?? [0]));
}

/** Day index of step t for the demand charge. */
export function peakDayOf(input: Pick<ProblemInput, 'tariff'>, t: number): number {
  return input.tariff.peakDayOfStep?.[t] ?? 0;
}

export function enabledFamilies(input: ProblemInput): ChanceFamily[] {
  return CHANCE_FAMILIES.filter((f) => input.chance.epsilon[f] !== undefined);
}

/** w^term default (formulation §5): median buy price of the horizon × η^d. */
export function terminalValueEurPerKwh(input: ProblemInput): number {
  if (input.weights.terminalEnergyEurPerKwh !== undefined) return input.weights.terminalEnergyEurPerKwh;
  const sorted = [...input.tariff.buyEurPerKwh].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return median * input.battery.dischargeEfficiency;
}

/** Floors |ξ̂| at `floorKw` keeping the sign (0 → +floor), so sample coefficients never vanish. */
export function floorSamples(samples: number[][], floorKw: number): number[][] {
  return samples.map((s) => s.map((v) => (Math.abs(v) >= floorKw ? v : v < 0 ? -floorKw : floorKw)));
}

/** Collects columns, rows and objective terms in named blocks; also used by the community model. */
export class Builder {
  readonly colLower: number[] = [];
  readonly colUpper: number[] = [];
  readonly cost: number[] = [];
  readonly hess: number[] = [];
  readonly linearTerm: CostTerm[] = [];
  readonly quadraticTerm: CostTerm[] = [];
  readonly rowLower: number[] = [];
  readonly rowUpper: number[] = [];
  readonly entryRow: number[] = [];
  readonly entryCol: number[] = [];
  readonly entryVal: number[] = [];
  readonly cols: Record<string, Block> = {};
  readonly rows: Record<string, Block> = {};
  readonly offsetByTerm = Object.fromEntries(MODEL_TERMS.map((t) => [t, 0])) as Record<CostTerm, number>;

  vars(name: string, outer: number, inner: number, timeAxis: Block['timeAxis'], lower: (k: number) => number, upper: (k: number) => number): Block {
    const block: Block = { start: this.colLower.length, length: outer * inner, outer, inner, timeAxis };
    for (let k = 0; k < block.length; k++) {
      this.colLower.push(lower(k));
      this.colUpper.push(upper(k));
      this.cost.push(0);
      this.hess.push(0);
      this.linearTerm.push('energy');
      this.quadraticTerm.push('energy');
    }
    this.cols[name] = block;
    return block;
  }

  linear(col: number, term: CostTerm, value: number): void {
    this.cost[col] = value;
    this.linearTerm[col] = term;
  }

  quadratic(col: number, term: CostTerm, value: number): void {
    this.hess[col] = value;
    this.quadraticTerm[col] = term;
  }

  /** Rows of a block are added one at a time with `row`; call `beginRows`/`endRows` around them. */
  beginRows(): number {
    return this.rowLower.length;
  }

  endRows(name: string, start: number, outer: number, inner: number, timeAxis: Block['timeAxis']): Block {
    const block: Block = { start, length: this.rowLower.length - start, outer, inner, timeAxis };
    if (block.length !== outer * inner) throw new Error(`row block ${name}: ${block.length} rows, expected ${outer}×${inner}`);
    this.rows[name] = block;
    return block;
  }

  /** Starts a row; `add` then fills it. A row must not name a column twice. */
  openRow(lower: number, upper: number): void {
    this.rowLower.push(lower);
    this.rowUpper.push(upper);
  }

  add(col: number, value: number): void {
    this.entryRow.push(this.rowLower.length - 1);
    this.entryCol.push(col);
    this.entryVal.push(value);
  }

  row(lower: number, upper: number, terms: [number, number][]): void {
    this.openRow(lower, upper);
    for (const [c, v] of terms) this.add(c, v);
  }

  /**
   * Copies a finished model in as a diagonal block (its blocks renamed `prefix + name`), so a
   * community model is its households' models side by side plus rows that couple them.
   */
  append(model: QpModel, prefix: string): { colOffset: number; rowOffset: number } {
    const colOffset = this.colLower.length;
    const rowOffset = this.rowLower.length;
    for (let j = 0; j < model.numCols; j++) {
      this.colLower.push(model.colLower[j]!);
      this.colUpper.push(model.colUpper[j]!);
      this.cost.push(model.cost[j]!);
      this.hess.push(model.hessianDiag[j]!);
      this.linearTerm.push(model.linearTerm[j]!);
      this.quadraticTerm.push(model.quadraticTerm[j]!);
      // Column by column in increasing row order: finish()'s counting sort keeps columns sorted.
      for (let k = model.colStarts[j]!; k < model.colStarts[j + 1]!; k++) {
        this.entryRow.push(rowOffset + model.rowIndex[k]!);
        this.entryCol.push(colOffset + j);
        this.entryVal.push(model.values[k]!);
      }
    }
    for (let r = 0; r < model.numRows; r++) {
      this.rowLower.push(model.rowLower[r]!);
      this.rowUpper.push(model.rowUpper[r]!);
    }
    for (const [name, block] of Object.entries(model.cols)) this.cols[prefix + name] = { ...block, start: block.start + colOffset };
    for (const [name, block] of Object.entries(model.rows)) this.rows[prefix + name] = { ...block, start: block.start + rowOffset };
    for (const term of MODEL_TERMS) this.offsetByTerm[term] += model.offsetByTerm[term];
    return { colOffset, rowOffset };
  }

  finish(): Omit<QpModel, 'cvar' | 'samplesKw'> {
    const numCols = this.colLower.length;
    const numRows = this.rowLower.length;
    const nnz = this.entryVal.length;
    // Counting sort by column; rows were appended in increasing order, so each column stays sorted.
    const colStarts = new Int32Array(numCols + 1);
    for (const c of this.entryCol) colStarts[c + 1]!++;
    for (let c = 0; c < numCols; c++) colStarts[c + 1]! += colStarts[c]!;
    const next = colStarts.slice(0, numCols);
    const rowIndex = new Int32Array(nnz);
    const values = new Float64Array(nnz);
    for (let k = 0; k < nnz; k++) {
      const at = next[this.entryCol[k]!]!++;
      rowIndex[at] = this.entryRow[k]!;
      values[at] = this.entryVal[k]!;
    }
    return {
      numCols,
      numRows,
      colLower: Float64Array.from(this.colLower),
      colUpper: Float64Array.from(this.colUpper),
      cost: Float64Array.from(this.cost),
      hessianDiag: Float64Array.from(this.hess),
      offset: MODEL_TERMS.reduce((s, t) => s + this.offsetByTerm[t], 0),
      rowLower: Float64Array.from(this.rowLower),
      rowUpper: Float64Array.from(this.rowUpper),
      colStarts,
      rowIndex,
      values,
      linearTerm: this.linearTerm,
      quadraticTerm: this.quadraticTerm,
      offsetByTerm: this.offsetByTerm,
      cols: this.cols,
      rows: this.rows,
    };
  }
}

/**
 * One chance row of a family: `aᵀξ ≤ h(x)` written as `aᵀξ̂ⁱ = sampleTerm(i)` (a value plus terms on
 * decision columns) and `h(x) = constant + Σ hTerms`.
 */
interface ChanceRow {
  /** aᵀξ̂ⁱ = sampleCoef(i)·x[sampleCol] + sampleConstant(i): the random part touches one column. */
  sampleCol: number;
  sampleCoef: (i: number) => number;
  sampleConstant: (i: number) => number;
  /** Column offset between consecutive samples (the SoC rows' Z_{i,t}); 0 when all share one. */
  sampleStride?: number;
  hConstant: number;
  hTerms: [number, number][];
  /** λ ≥ |a_j| for this row, as rows `λ − coef·col ≥ constant` (λ column added by the caller). */
  lambdaTerms: { constant: number; terms: [number, number][] }[];
}

export function buildModel(input: ProblemInput, options: ModelOptions = DEFAULT_MODEL_OPTIONS): QpModel {
  validateInput(input);
  const T = input.stepHours.length;
  const dt = input.stepHours;
  const samples = floorSamples(input.errorSamplesKw, options.sampleFloorKw);
  const I = samples.length;
  const bat = input.battery;
  const tariff = input.tariff;
  const peers: PeerTrade[] = input.peers ?? [];
  const shift = input.shiftable;
  const rho = input.chance.radiusKw;
  const families = enabledFamilies(input);
  const needZ = families.includes('socMin') || families.includes('socMax');
  const inf = Infinity;
  const b = new Builder();
  const e0 = input.initial.energyKwh;

  // ---- columns -------------------------------------------------------------------------------
  const gImp = b.vars('gridImport', T, 1, 'outer', () => 0, () => input.grid.maxImportKw);
  const gExp = b.vars('gridExport', T, 1, 'outer', () => 0, () => input.grid.maxExportKw);
  const net = b.vars('netGrid', T, 1, 'outer', () => -input.grid.maxExportKw, () => input.grid.maxImportKw);
  const ch = b.vars('charge', T, 1, 'outer', () => 0, () => bat.maxChargeKw);
  const dis = b.vars('discharge', T, 1, 'outer', () => 0, () => bat.maxDischargeKw);
  const thr = b.vars('throughput', T, 1, 'outer', () => 0, () => bat.maxChargeKw + bat.maxDischargeKw);
  const beta = b.vars('decisionRule', T, 1, 'outer', () => 0, () => 1);
  // e_t, t = 1..T. The hard bounds are rows (socLower/socUpper) with a slack so an out-of-range e₀
  // still has a feasible plan; the column bounds only keep e physical.
  const energy = b.vars('energy', T, 1, 'outer', () => Math.min(bat.minEnergyKwh, e0, 0), () => Math.max(bat.capacityKwh, bat.maxEnergyKwh, e0));
  // The slack may cover at most the violation e₀ already has, so with e₀ in range the bounds are hard.
  const shortfallKwh = Math.max(0, bat.minEnergyKwh - e0);
  const excessKwh = Math.max(0, e0 - bat.maxEnergyKwh);
  const socShort = b.vars('socShortfall', T, 1, 'outer', () => 0, () => shortfallKwh);
  const socExcess = b.vars('socExcess', T, 1, 'outer', () => 0, () => excessKwh);
  const served = shift ? b.vars('shiftable', T, 1, 'outer', (t) => shift.minKw[t]!, (t) => shift.maxKw[t]!) : undefined;
  const deferred = shift
    ? b.vars('deferred', T, 1, 'outer', () => 0, (k) => (k === T - 1 ? 0 : Math.min(shift.maxDeferredKwh, shift.deferredCapKwh?.[k] ?? Infinity)))
    : undefined;
  const trades = peers.map((p) =>
    b.vars(`trade:${p.peerId}`, T, 1, 'outer', (t) => p.committedKw?.[t] ?? -p.maxKw, (t) => p.committedKw?.[t] ?? p.maxKw),
  );
  // P̄_d per billing day. The peak already reached that day is a lower bound: π P̄_d then equals the
  // bill π·max(P̄_d, peakSoFar_d), and importing up to the sunk peak is free, as it is on the meter.
  const peakSoFar = (d: number): number => tariff.peakSoFarKw?.[d] ?? 0;
  const peak =
    tariff.peakEurPerKw !== undefined
      ? b.vars('peakImport', peakDays(input), 1, 'none', peakSoFar, (d) => Math.max(input.grid.maxImportKw, peakSoFar(d)))
      : undefined;
  const peakCol = (t: number): number => peak!.start + peakDayOf(input, t);
  // Z_{i,t} = Σ_{s<t} Δt_s β_s ξ̂ⁱ_s for t = 1..T (I × T); Z_{i,0} = 0 is substituted.
  const cum = needZ ? b.vars('cumulative', I, T, 'inner', () => -inf, () => inf) : undefined;
  // Community sharing step: copies of the contributions the coordinator sees, n_t and 1 − β_t, so
  // the price and proximal terms sit on columns of their own ('coordination', not in the Plan's
  // cost) and P stays diagonal.
  const community = input.community;
  const coupling = community?.deviationShare;
  const couplingSamples = coupling ? floorSamples(coupling.samplesKw, options.sampleFloorKw) : [];
  const tradeLimitKw = peers.reduce((sum, p) => sum + p.maxKw, 0);
  const cNet = community ? b.vars('communityNet', T, 1, 'outer', () => -input.grid.maxExportKw - tradeLimitKw, () => input.grid.maxImportKw + tradeLimitKw) : undefined;
  const cShare = coupling ? b.vars('communityShare', T, 1, 'outer', () => 0, () => 1) : undefined;
  const kappa = coupling?.lipschitz ? b.vars('communityLipschitz', 1, 1, 'none', () => 0, () => 1) : undefined;

  // ---- objective ---------------------------------------------------------------------------
  const wTerm = terminalValueEurPerKwh(input);
  for (let t = 0; t < T; t++) {
    b.linear(gImp.start + t, 'energy', dt[t]! * tariff.buyEurPerKwh[t]!);
    b.linear(gExp.start + t, 'energy', -dt[t]! * tariff.sellEurPerKwh[t]!);
    peers.forEach((p, m) => b.linear(trades[m]!.start + t, 'p2p', dt[t]! * p.priceEurPerKwh[t]!));
    // Worst-case expected real-time cost Δt[(1/I) Σ_i z_{t,i} + ρ π⁺ (1 − β)] with
    // z_{t,i} = max(π⁺ (1−β) ξ̂, π⁻ (1−β) ξ̂) at the optimum. Since 1 − β_t ≥ 0 it factors out of
    // the max whatever β is, so z_{t,i} = (1 − β_t) max(π⁺ ξ̂, π⁻ ξ̂) exactly and the T·I
    // variables and 2·T·I rows of the epigraph are substituted out: the cost is affine in β,
    // (1 − β_t) Δt (m1_t + ρ π⁺_t). Summing these per-step worst cases is a conservative bound
    // of the worst case of the sum over the horizon (formulation §5). The cvxopt reference keeps
    // the z rows, so the tests check this substitution too.
    const m1 = samples.reduce((s, xi) => s + Math.max(tariff.realtimeBuyEurPerKwh[t]! * xi[t]!, tariff.realtimeSellEurPerKwh[t]! * xi[t]!), 0) / I;
    const realtimeEurPerH = m1 + rho * tariff.realtimeBuyEurPerKwh[t]!;
    b.linear(beta.start + t, 'realtime', -dt[t]! * realtimeEurPerH);
    b.offsetByTerm.realtime += dt[t]! * realtimeEurPerH;
    // Wear: γ_b Δt [(c + d)² + m2_t β²], m2_t = (1/I) Σ (ξ̂ⁱ_t)².
    const m2 = samples.reduce((s, xi) => s + xi[t]! * xi[t]!, 0) / I;
    b.quadratic(thr.start + t, 'batteryWear', 2 * input.weights.batteryWearEurPerKw2h * dt[t]!);
    b.quadratic(beta.start + t, 'batteryWear', 2 * input.weights.batteryWearEurPerKw2h * dt[t]! * m2);
    if (deferred) b.quadratic(deferred.start + t, 'deferral', 2 * input.weights.deferralEurPerKwh2);
    // γ_g (n − ĝ)² = γ_g n² − 2 γ_g ĝ n + γ_g ĝ²; without a committed schedule the term is absent.
    const gammaG = input.committedGridKw ? input.weights.scheduleDeviationEurPerKw2 : 0;
    const gHat = input.committedGridKw?.[t] ?? 0;
    b.quadratic(net.start + t, 'scheduleDeviation', 2 * gammaG);
    b.linear(net.start + t, 'scheduleDeviation', -2 * gammaG * gHat);
    b.offsetByTerm.scheduleDeviation += gammaG * gHat * gHat;
    b.linear(socShort.start + t, 'socRecovery', options.socRecoveryEurPerKwhH * dt[t]!);
    b.linear(socExcess.start + t, 'socRecovery', options.socRecoveryEurPerKwhH * dt[t]!);
  }
  b.linear(energy.start + T - 1, 'terminalValue', -wTerm);
  if (community && cNet) {
    // Σ_t Δt p_t n_t + (w/2)Σ_t (n_t − ň_t)², expanded; the constant goes to the offset.
    const w = community.proximalWeightEurPerKw2;
    const proximal = (col: number, curvature: number, slope: number, constant: number): void => {
      b.quadratic(col, 'coordination', curvature);
      b.linear(col, 'coordination', slope);
      b.offsetByTerm.coordination += constant;
    };
    for (let t = 0; t < T; t++) {
      const target = community.netTargetKw[t]!;
      proximal(cNet.start + t, w, dt[t]! * community.netPriceEurPerKwh[t]! - w * target, 0.5 * w * target * target);
    }
    if (coupling && cShare) {
      const wy = coupling.proximalWeightEurPerKw2;
      // y_{t,i} = v_t ξ̂ⁱ_t with v_t = 1 − β_t: Σ_i p_{t,i} y_{t,i} + (w_y/2)Σ_i (y_{t,i} − y̌_{t,i})² is a
      // diagonal quadratic in v_t: (w_y/2)(Σ ξ̂²) v² + Σ_i (p − w_y y̌) ξ̂ v + (w_y/2)Σ y̌².
      for (let t = 0; t < T; t++) {
        let curvature = 0;
        let slope = 0;
        let constant = 0;
        couplingSamples.forEach((xi, i) => {
          const target = coupling.targetKw[i]![t]!;
          curvature += wy * xi[t]! * xi[t]!;
          slope += (coupling.priceEurPerKw[i]![t]! - wy * target) * xi[t]!;
          constant += 0.5 * wy * target * target;
        });
        proximal(cShare.start + t, curvature, slope, constant);
      }
    }
    if (coupling?.lipschitz && kappa) {
      const { priceEur, target, proximalWeightEur: wk } = coupling.lipschitz;
      proximal(kappa.start, wk, priceEur - wk * target, 0.5 * wk * target * target);
    }
  }
  if (peak) for (let d = 0; d < peak.length; d++) b.linear(peak.start + d, 'demandCharge', tariff.peakEurPerKw!);

  // ---- deterministic rows --------------------------------------------------------------------
  let r = b.beginRows();
  for (let t = 0; t < T; t++) {
    const terms: [number, number][] = [
      [gImp.start + t, 1],
      [gExp.start + t, -1],
      [ch.start + t, -1],
      [dis.start + t, 1],
    ];
    if (served) terms.push([served.start + t, -1]);
    for (const tr of trades) terms.push([tr.start + t, 1]);
    b.row(input.netLoadForecastKw[t]!, input.netLoadForecastKw[t]!, terms);
  }
  b.endRows('balance', r, T, 1, 'outer');

  r = b.beginRows();
  for (let t = 0; t < T; t++) b.row(0, 0, [[gImp.start + t, -1], [gExp.start + t, 1], [net.start + t, 1]]);
  b.endRows('netGrid', r, T, 1, 'outer');

  r = b.beginRows();
  for (let t = 0; t < T; t++) b.row(0, 0, [[ch.start + t, -1], [dis.start + t, -1], [thr.start + t, 1]]);
  b.endRows('throughput', r, T, 1, 'outer');

  // e_{t+1} − e_t − Δt η^c c_t + Δt d_t / η^d = 0   (t = 0: e₀ moves to the right-hand side)
  r = b.beginRows();
  for (let t = 0; t < T; t++) {
    const terms: [number, number][] = [
      [ch.start + t, -dt[t]! * bat.chargeEfficiency],
      [dis.start + t, dt[t]! / bat.dischargeEfficiency],
    ];
    if (t > 0) terms.push([energy.start + t - 1, -1]);
    terms.push([energy.start + t, 1]);
    const rhs = t === 0 ? e0 : 0;
    b.row(rhs, rhs, terms);
  }
  b.endRows('energyDynamics', r, T, 1, 'outer');

  r = b.beginRows();
  for (let t = 0; t < T; t++) b.row(bat.minEnergyKwh, inf, [[energy.start + t, 1], [socShort.start + t, 1]]);
  b.endRows('socLower', r, T, 1, 'outer');
  r = b.beginRows();
  for (let t = 0; t < T; t++) b.row(-inf, bat.maxEnergyKwh, [[energy.start + t, 1], [socExcess.start + t, -1]]);
  b.endRows('socUpper', r, T, 1, 'outer');

  if (shift && served && deferred) {
    // s_{t+1} − s_t + Δt f_t = Δt f̂_t   (t = 0: + s₀)
    r = b.beginRows();
    for (let t = 0; t < T; t++) {
      const terms: [number, number][] = [[served.start + t, dt[t]!]];
      if (t > 0) terms.push([deferred.start + t - 1, -1]);
      terms.push([deferred.start + t, 1]);
      const rhs = dt[t]! * shift.desiredKw[t]! + (t === 0 ? input.initial.deferredKwh : 0);
      b.row(rhs, rhs, terms);
    }
    b.endRows('deferredDynamics', r, T, 1, 'outer');
  }

  if (peak) {
    // Nominal import never exceeds the billed peak, whether or not the import family is on.
    r = b.beginRows();
    for (let t = 0; t < T; t++) b.row(-inf, 0, [[gImp.start + t, 1], [peakCol(t), -1]]);
    b.endRows('peakImport', r, T, 1, 'outer');
    if (trades.length > 0) {
      // The bill charges the meter's import, and P2P energy bought crosses the meter: n_t + Σ_m x_{m,t} ≤ P̄.
      r = b.beginRows();
      for (let t = 0; t < T; t++) b.row(-inf, 0, [[net.start + t, 1], ...trades.map((tr): [number, number] => [tr.start + t, 1]), [peakCol(t), -1]]);
      b.endRows('peakMeter', r, T, 1, 'outer');
    }
  }

  if (cum) {
    // Z_{i,t+1} − Z_{i,t} − Δt_t ξ̂ⁱ_t β_t = 0
    r = b.beginRows();
    for (let i = 0; i < I; i++) {
      for (let t = 0; t < T; t++) {
        b.openRow(0, 0);
        b.add(beta.start + t, -dt[t]! * samples[i]![t]!);
        if (t > 0) b.add(cum.start + i * T + t - 1, -1);
        b.add(cum.start + i * T + t, 1);
      }
    }
    b.endRows('cumulative', r, I, T, 'inner');
  }

  if (cNet) {
    // The community sees the household's meter: grid exchange plus its P2P trades, which are
    // energy exchanged behind the shared connection point.
    r = b.beginRows();
    for (let t = 0; t < T; t++) b.row(0, 0, [[net.start + t, -1], [cNet.start + t, 1], ...trades.map((tr): [number, number] => [tr.start + t, -1])]);
    b.endRows('communityNet', r, T, 1, 'outer');
  }
  if (cShare) {
    r = b.beginRows();
    for (let t = 0; t < T; t++) b.row(1, 1, [[beta.start + t, 1], [cShare.start + t, 1]]);
    b.endRows('communityShare', r, T, 1, 'outer');
  }
  if (kappa && cShare) {
    // κ ≥ 1 − β_t: the household's copy of the community λ ≥ |a_{r,(n,t)}|.
    r = b.beginRows();
    for (let t = 0; t < T; t++) b.row(0, inf, [[cShare.start + t, -1], [kappa.start, 1]]);
    b.endRows('communityLipschitz', r, T, 1, 'outer');
  }

  // ---- chance constraints (§4) ---------------------------------------------------------------
  const peakOrLimit = (t: number): { constant: number; terms: [number, number][] } =>
    peak && input.chance.importLimit !== 'connection' ? { constant: 0, terms: [[peakCol(t), 1]] } : { constant: input.grid.maxImportKw, terms: [] };
  const familyRows = (family: ChanceFamily): ChanceRow[] => {
    const out: ChanceRow[] = [];
    for (let t = 0; t < T; t++) {
      const bt = beta.start + t;
      switch (family) {
        case 'import': {
          // (1 − β_t) ξ_t ≤ P̄ − n_t
          const h = peakOrLimit(t);
          out.push({
            sampleCol: bt,
            sampleCoef: (i) => -samples[i]![t]!,
            sampleConstant: (i) => samples[i]![t]!,
            hConstant: h.constant,
            hTerms: [...h.terms, [net.start + t, -1]],
            lambdaTerms: [{ constant: 1, terms: [[bt, -1]] }],
          });
          break;
        }
        case 'export':
          // −(1 − β_t) ξ_t ≤ G^exp + n_t
          out.push({
            sampleCol: bt,
            sampleCoef: (i) => samples[i]![t]!,
            sampleConstant: (i) => -samples[i]![t]!,
            hConstant: input.grid.maxExportKw,
            hTerms: [[net.start + t, 1]],
            lambdaTerms: [{ constant: 1, terms: [[bt, -1]] }],
          });
          break;
        case 'discharge':
          // β_t ξ_t ≤ P^dis − d_t + c_t
          out.push({
            sampleCol: bt,
            sampleCoef: (i) => samples[i]![t]!,
            sampleConstant: () => 0,
            hConstant: bat.maxDischargeKw,
            hTerms: [
              [ch.start + t, 1],
              [dis.start + t, -1],
            ],
            lambdaTerms: [{ constant: 0, terms: [[bt, 1]] }],
          });
          break;
        case 'charge':
          // −β_t ξ_t ≤ P^ch + d_t − c_t
          out.push({
            sampleCol: bt,
            sampleCoef: (i) => -samples[i]![t]!,
            sampleConstant: () => 0,
            hConstant: bat.maxChargeKw,
            hTerms: [
              [ch.start + t, -1],
              [dis.start + t, 1],
            ],
            lambdaTerms: [{ constant: 0, terms: [[bt, 1]] }],
          });
          break;
        case 'socMin':
        case 'socMax': {
          // socMin: Z_{i,t+1} ≤ e_{t+1} − E^min (+ the recovery slack); socMax: −Z ≤ E^max − e (+ slack).
          const sign = family === 'socMin' ? 1 : -1;
          out.push({
            // Z_{i,t+1} is a different column per sample: sampleCol is the i = 0 one, stride T.
            sampleCol: cum!.start + t,
            sampleStride: T,
            sampleCoef: () => sign,
            sampleConstant: () => 0,
            hConstant: family === 'socMin' ? -bat.minEnergyKwh : bat.maxEnergyKwh,
            hTerms: [
              [energy.start + t, sign],
              [(family === 'socMin' ? socShort : socExcess).start + t, 1],
            ],
            // |a_{r,s}| = Δt_s β_s for s ≤ t; the λ rows are added per family below.
            lambdaTerms: [{ constant: 0, terms: [[bt, dt[t]!]] }],
          });
          break;
        }
      }
    }
    return out;
  };

  const cvar: Partial<Record<ChanceFamily, CvarBlocks>> = {};
  for (const family of families) {
    const rowsOfFamily = familyRows(family);
    const R = rowsOfFamily.length;
    const joint = input.chance.method === 'joint';
    const groups = joint ? 1 : R;
    const eps = input.chance.epsilon[family]! / (joint ? 1 : R);
    const tau = b.vars(`${family}:tau`, groups, 1, 'none', () => -inf, () => inf);
    const lambda = b.vars(`${family}:lambda`, groups, 1, 'none', () => 0, () => inf);
    const sigma = b.vars(`${family}:sigma`, groups, I, 'none', () => 0, () => inf);
    const isSoc = family === 'socMin' || family === 'socMax';

    // ε τ + ρ λ + (1/I) Σ σ_i ≤ 0
    let r0 = b.beginRows();
    for (let g = 0; g < groups; g++) {
      const terms: [number, number][] = [
        [tau.start + g, eps],
        [lambda.start + g, rho],
      ];
      for (let i = 0; i < I; i++) terms.push([sigma.start + g * I + i, 1 / I]);
      b.row(-inf, 0, terms);
    }
    const budgetRows = b.endRows(`${family}:budget`, r0, groups, 1, 'none');

    // λ ≥ ‖a_r‖∞. Joint: one λ over every row's coefficients. Bonferroni on a SoC family: row t's
    // coefficients are those of row t−1 plus Δt_t β_t, so λ_t ≥ λ_{t−1} chains them in O(T) rows.
    r0 = b.beginRows();
    for (let k = 0; k < R; k++) {
      const g = joint ? 0 : k;
      for (const lt of rowsOfFamily[k]!.lambdaTerms) {
        b.row(lt.constant, inf, [...lt.terms.map(([c, v]) => [c, -v] as [number, number]), [lambda.start + g, 1]]);
      }
      if (!joint && isSoc && k > 0) b.row(0, inf, [[lambda.start + g - 1, -1], [lambda.start + g, 1]]);
    }
    const lambdaRows = b.endRows(`${family}:lambdaRows`, r0, b.rowLower.length - r0, 1, 'none');

    // σ_{g,i} + τ_g − aᵀξ̂ⁱ + h(x) ≥ 0   ⇔   σ + τ − (a-terms) + h-terms ≥ a-constant − h-constant
    r0 = b.beginRows();
    for (let k = 0; k < R; k++) {
      const g = joint ? 0 : k;
      const row = rowsOfFamily[k]!;
      for (let i = 0; i < I; i++) {
        b.openRow(row.sampleConstant(i) - row.hConstant, inf);
        b.add(sigma.start + g * I + i, 1);
        b.add(tau.start + g, 1);
        b.add(row.sampleCol + i * (row.sampleStride ?? 0), -row.sampleCoef(i));
        for (const [c, v] of row.hTerms) b.add(c, v);
      }
    }
    const sampleRows = b.endRows(`${family}:samples`, r0, R, I, 'outer');
    cvar[family] = { groups, epsilonPerGroup: eps, tau, lambda, sigma, budgetRows, lambdaRows, sampleRows };
  }

  return { ...b.finish(), cvar, samplesKw: samples };
}
