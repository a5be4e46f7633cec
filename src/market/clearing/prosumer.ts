/**
 * The "simple price model" of a prosumer: its own day as an LP (formulation.md §2 and §5 without
 * the uncertainty, shiftable load, wear and demand-charge terms), plus its net community trade
 * `q_t` (kWh, + = buys from the community). Its cost for a given trade profile is f_n(q), a convex
 * piecewise-linear function; the market only ever asks it for
 *   - f_n(q) at fixed q (welfare evaluation),
 *   - argmin f_n(q) + λᵀq + ρ/2 ‖q − target‖² (the ADMM local step),
 *   - its no-trade plan and marginal value of energy per slot (the auction's bids).
 * The full optimizer can later take this role: its plan's `marginalValueEurPerKwh` prices bids the
 * same way, and the ADMM local step is its QP with the same extra λ and ρ terms on `tradesKw`.
 */
import type { Highs, Model } from 'highs';
import type { ScsModule } from 'scs-solver';
import { ProximalQp, scsRuntime } from './proximal.ts';
import { LpBuilder, createQuietModel, highsRuntime, runToOptimum } from './lp.ts';
import type { MarketRules, PeerProfile } from './types.ts';

export interface PeerColumns {
  importKwh: number[];
  exportKwh: number[];
  chargeKwh: number[];
  dischargeKwh: number[];
  energyKwh: number[]; // SoC at the end of slot t
  tradeKwh: number[]; // q_t
  boughtKwh: number[]; // max(q_t, 0): what the fee is paid on
  balanceRows: number[];
}

/** Appends one peer's columns and rows; the central problem stacks these for every peer. */
export function addPeerRows(lp: LpBuilder, peer: PeerProfile, rules: MarketRules): PeerColumns {
  const T = peer.netLoadKw.length;
  const h = peer.stepHours;
  const b = peer.battery;
  const maxTradeKwh = rules.maxTradeKw * h;
  const slots = Array.from({ length: T }, (_, t) => t);
  const importKwh = slots.map((t) => lp.addCol(peer.buyEurPerKwh[t]!, 0, peer.grid.maxImportKw * h));
  const exportKwh = slots.map((t) => lp.addCol(-peer.sellEurPerKwh[t]!, 0, peer.grid.maxExportKw * h));
  const chargeKwh = slots.map(() => lp.addCol(0, 0, b.maxChargeKw * h));
  const dischargeKwh = slots.map(() => lp.addCol(0, 0, b.maxDischargeKw * h));
  const energyKwh = slots.map((t) => lp.addCol(t === T - 1 ? -b.terminalEurPerKwh : 0, b.minEnergyKwh, b.maxEnergyKwh));
  const tradeKwh = slots.map(() => lp.addCol(0, -maxTradeKwh, maxTradeKwh));
  const boughtKwh = slots.map(() => lp.addCol(rules.p2pFeeEurPerKwh, 0, maxTradeKwh));
  const balanceRows = slots.map((t) => {
    const needKwh = peer.netLoadKw[t]! * h;
    return lp.addRow(needKwh, needKwh, [
      [importKwh[t]!, 1],
      [exportKwh[t]!, -1],
      [dischargeKwh[t]!, 1],
      [chargeKwh[t]!, -1],
      [tradeKwh[t]!, 1],
    ]);
  });
  for (const t of slots) {
    // The fee is paid on purchases only; with a positive fee the optimum keeps bought = max(q, 0).
    lp.addRow(0, Infinity, [
      [boughtKwh[t]!, 1],
      [tradeKwh[t]!, -1],
    ]);
    const previous: Array<[number, number]> = t === 0 ? [] : [[energyKwh[t - 1]!, -1]];
    const start = t === 0 ? b.initialEnergyKwh : 0;
    lp.addRow(start, start, [
      [energyKwh[t]!, 1],
      ...previous,
      [chargeKwh[t]!, -b.chargeEfficiency],
      [dischargeKwh[t]!, 1 / b.dischargeEfficiency],
    ]);
  }
  return { importKwh, exportKwh, chargeKwh, dischargeKwh, energyKwh, tradeKwh, boughtKwh, balanceRows };
}

export interface AlonePlan {
  costEur: number;
  importKwh: number[];
  exportKwh: number[];
  /** Balance-row duals: what one more kWh of demand in slot t would cost this peer (EUR/kWh). */
  marginalValueEurPerKwh: number[];
}

/**
 * One prosumer: a persistent HiGHS LP for plans and fixed-trade costs, and an SCS QP (ρ on the
 * trade columns) for the ADMM local step, warm-started from its previous round.
 */
export class Prosumer {
  private constructor(
    readonly profile: PeerProfile,
    private readonly rules: MarketRules,
    private readonly highs: Highs,
    private readonly scs: ScsModule,
    private readonly lp: Model,
    private readonly cols: PeerColumns,
  ) {}

  static async create(profile: PeerProfile, rules: MarketRules): Promise<Prosumer> {
    validateProfile(profile);
    const [highs, scs] = await Promise.all([highsRuntime(), scsRuntime()]);
    const builder = new LpBuilder();
    const cols = addPeerRows(builder, profile, rules);
    const lp = createQuietModel(highs, builder.build());
    return new Prosumer(profile, rules, highs, scs, lp, cols);
  }

  get slots(): number {
    return this.cols.tradeKwh.length;
  }

  /** The day without trading: bids and offers are priced from it. */
  planAlone(): AlonePlan {
    const costEur = this.costWithTrades(new Array<number>(this.slots).fill(0));
    const solution = this.lp.getSolution();
    return {
      costEur,
      importKwh: this.cols.importKwh.map((c) => solution.colValue[c]!),
      exportKwh: this.cols.exportKwh.map((c) => solution.colValue[c]!),
      marginalValueEurPerKwh: this.cols.balanceRows.map((r) => solution.rowDual[r]!),
    };
  }

  /** f_n(q): the peer's own cost (grid, fee, minus terminal value) when its trades are fixed to q. */
  costWithTrades(tradeKwh: readonly number[]): number {
    const cols = this.cols.tradeKwh;
    this.lp.changeColsBounds({ kind: 'range', from: cols[0]!, to: cols[cols.length - 1]! }, tradeKwh, tradeKwh);
    runToOptimum(this.highs, this.lp, `peer ${this.profile.id}: own dispatch for fixed trades`);
    return this.lp.getObjectiveValue();
  }

  /**
   * argmin f_n(q) + λᵀq: what the peer would trade if it could buy (paying λ + fee) and sell
   * (receiving λ) any amount at these prices. Re-solved at a few price points it gives the peer's
   * price-quantity steps for the auction, battery re-dispatch included.
   */
  tradesAtPrice(priceEurPerKwh: readonly number[]): number[] {
    const cols = this.cols.tradeKwh;
    const range = { kind: 'range', from: cols[0]!, to: cols[cols.length - 1]! } as const;
    const maxKwh = this.rules.maxTradeKw * this.profile.stepHours;
    this.lp.changeColsBounds(range, cols.map(() => -maxKwh), cols.map(() => maxKwh));
    this.lp.changeColsCost(range, priceEurPerKwh);
    try {
      runToOptimum(this.highs, this.lp, `peer ${this.profile.id}: trades at given prices`);
      const x = this.lp.getSolution().colValue;
      return cols.map((c) => x[c]!);
    } finally {
      // f_n itself has no cost on q: the price belongs to this question only.
      this.lp.changeColsCost(range, cols.map(() => 0));
    }
  }

  /**
   * The ADMM local step for one clearing: respond(λ, target) = argmin f_n(q) + λᵀq + ρ/2 ‖q − target‖².
   * Each clearing gets its own step, so its warm starts never leak from an earlier clearing and
   * the same inputs give the same answers.
   */
  localStep(rho: number): (priceEurPerKwh: readonly number[], targetKwh: readonly number[]) => number[] {
    const builder = new LpBuilder();
    addPeerRows(builder, this.profile, this.rules);
    const cols = this.cols.tradeKwh;
    const qp = new ProximalQp(this.scs, builder.build(), new Map(cols.map((c) => [c, rho])), proximalTolerance);
    const what = `peer ${this.profile.id}: ADMM local step`;
    return (priceEurPerKwh, targetKwh) => {
      const x = qp.solve(cols, cols.map((_, t) => priceEurPerKwh[t]! - rho * targetKwh[t]!), what);
      return cols.map((c) => x[c]!);
    };
  }

  dispose(): void {
    this.lp.dispose();
  }
}

/**
 * SCS tolerance of the local step. 1e-3 measured about twice as fast as 1e-4 with welfare gaps
 * still well under 1 % (an inexact local step only adds a little noise to the proposals).
 */
const proximalTolerance = 1e-3;

function validateProfile(p: PeerProfile): void {
  const T = p.netLoadKw.length;
  const problems: string[] = [];
  if (T === 0) problems.push('no slots');
  if (!(p.stepHours > 0)) problems.push(`stepHours ${p.stepHours} is not positive`);
  if (p.buyEurPerKwh.length !== T || p.sellEurPerKwh.length !== T) problems.push('price and net-load lengths differ');
  if ([...p.netLoadKw, ...p.buyEurPerKwh, ...p.sellEurPerKwh].some((v) => !Number.isFinite(v))) problems.push('a non-finite value');
  const b = p.battery;
  if (!(b.minEnergyKwh <= b.initialEnergyKwh && b.initialEnergyKwh <= b.maxEnergyKwh)) problems.push('initial energy outside [min, max]');
  if (!(b.chargeEfficiency > 0 && b.chargeEfficiency <= 1 && b.dischargeEfficiency > 0 && b.dischargeEfficiency <= 1)) problems.push('efficiency outside (0, 1]');
  if (problems.length > 0) throw new RangeError(`peer ${p.id}: ${problems.join('; ')}`);
}
