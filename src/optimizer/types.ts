/**
 * The optimizer's public contract (../shared/docs/formulation.md is the math). Pure data in,
 * plan out: no I/O, so the gateway, the evaluation and the tests run the same code.
 * Units: kW, kWh, hours, EUR/kWh. Arrays indexed by step t = 0..T-1 unless noted.
 */

export type ChanceFamily = 'import' | 'export' | 'discharge' | 'charge' | 'socMin' | 'socMax';
export type ChanceMethod = 'joint' | 'bonferroni';

export interface BatteryParams {
  capacityKwh: number;
  minEnergyKwh: number; // E^min
  maxEnergyKwh: number; // E^max
  maxChargeKw: number; // P^ch (the live BMS limit at solve time)
  maxDischargeKw: number; // P^dis
  chargeEfficiency: number; // η^c
  dischargeEfficiency: number; // η^d
}

export interface ShiftableParams {
  /** Desired shiftable profile f̂_t (kW). */
  desiredKw: number[];
  /** Bounds on the served shiftable load f_t (kW). */
  minKw: number[];
  maxKw: number[];
  /** S^max: most energy that may be deferred (kWh). */
  maxDeferredKwh: number;
  /**
   * Deadlines, cumulative: s_{t+1} may not exceed this (kWh), i.e. all known demand whose deadline
   * falls in step t or earlier is served by the end of step t, at any time before. Omit for none.
   */
  deferredCapKwh?: number[];
}

export interface PeerTrade {
  peerId: string;
  /** Per-step price of buying from this peer (EUR/kWh), including fees the buyer pays. */
  priceEurPerKwh: number[];
  /** X^max_m (kW). */
  maxKw: number;
  /** Committed trades (kW, + = buy from peer); a number fixes x_{m,t}, null leaves it free. */
  committedKw?: (number | null)[];
}

export interface Tariff {
  buyEurPerKwh: number[]; // c^buy
  sellEurPerKwh: number[]; // c^sell
  realtimeBuyEurPerKwh: number[]; // π⁺
  realtimeSellEurPerKwh: number[]; // π⁻
  /**
   * π^peak (EUR/kW); omit for no demand charge. Charged once per billing day of the horizon on
   * that day's import peak P̄_d (one day over the whole horizon when `peakDayOfStep` is omitted).
   */
  peakEurPerKw?: number;
  /** Billing day (0, 1, ..) of each step, length T; omit: the whole horizon is day 0. */
  peakDayOfStep?: number[];
  /**
   * Per day index: the import peak already reached earlier that day (kW). The bill is
   * π·max(P̄_d, peakSoFar_d), so importing up to it costs no demand charge. Omit for 0.
   */
  peakSoFarKw?: number[];
}

/**
 * The household's part of a community sharing step (ADMM, src/optimizer/community/): a price and
 * a proximal term on its contribution to the community aggregates. Added to the objective but not
 * to the Plan's cost (they are the coordination's terms, nobody pays them).
 */
export interface CommunityCoupling {
  /** Price on the scheduled net import n_t = g⁺_t − g⁻_t (EUR/kWh): Σ_t Δt_t price_t n_t. */
  netPriceEurPerKwh: number[];
  /** w in (w/2)Σ_t (n_t − target_t)² (EUR/kW²). */
  proximalWeightEurPerKw2: number;
  netTargetKw: number[];
  /**
   * The community import chance family's contributions y_{t,i} = (1 − β_t) ξ̂ⁱ_t, i over the
   * community's joint samples (this household's part of them, floored like errorSamplesKw).
   */
  deviationShare?: {
    samplesKw: number[][];
    /** w_y in (w_y/2)Σ_{t,i} (y_{t,i} − target_{t,i})² (EUR/kW²). */
    proximalWeightEurPerKw2: number;
    /** Per sample and step (I × T), EUR per kW of y. */
    priceEurPerKw: number[][];
    targetKw: number[][];
    /**
     * The household's copy κ of the community CVaR's λ ≥ max_{n,t}(1 − β_{n,t}) (present when the
     * community radius is > 0): rows κ ≥ 1 − β_t, price·κ + (w_κ/2)(κ − target)² (κ is dimensionless).
     */
    lipschitz?: { priceEur: number; target: number; proximalWeightEur: number };
  };
}

export interface ProblemInput {
  /** Δt_t, hours; length T (move blocking: steps may differ). */
  stepHours: number[];
  /** μ_t = L̂_t − V̂_t, forecast net load (kW). */
  netLoadForecastKw: number[];
  /** ξ̂ⁱ: I sample trajectories of forecast error, each length T (kW). */
  errorSamplesKw: number[][];
  tariff: Tariff;
  battery: BatteryParams;
  shiftable?: ShiftableParams;
  peers?: PeerTrade[];
  grid: { maxImportKw: number; maxExportKw: number };
  /** Measured state at t = 0. */
  initial: { energyKwh: number; deferredKwh: number };
  /** Committed grid schedule ĝ_t (kW, + import) for the γ_g term; omit for none. */
  committedGridKw?: number[];
  chance: {
    /** Wasserstein radius ρ (kW). */
    radiusKw: number;
    method: ChanceMethod;
    /** ε per enabled family; a family missing here is off. */
    epsilon: Partial<Record<ChanceFamily, number>>;
    /**
     * What the import family protects (formulation §4 allows either): 'peak' (default) the billed
     * peak P̄ — the margin then raises the billed peak, and nominal import up to it looks free —
     * or 'connection' G^imp, the fuse, leaving P̄ to the nominal schedule.
     */
    importLimit?: 'peak' | 'connection';
  };
  weights: {
    batteryWearEurPerKw2h: number; // γ_b
    deferralEurPerKwh2: number; // γ_s
    scheduleDeviationEurPerKw2: number; // γ_g
    /** w^term (EUR/kWh); default: median buy price × η^d. */
    terminalEnergyEurPerKwh?: number;
  };
  /** Set by the community coordination's local step only. */
  community?: CommunityCoupling;
}

export type SolveStatus = 'optimal' | 'infeasible' | 'unbounded' | 'numerical' | 'time-limit' | 'error';

export interface Plan {
  /** Instant of the measurement the plan was solved from (gateway clock, ms). */
  startMs: number;
  stepHours: number[];
  gridImportKw: number[]; // g⁺
  gridExportKw: number[]; // g⁻
  chargeKw: number[]; // c
  dischargeKw: number[]; // d
  shiftableKw: number[]; // f
  /** β_t: share of the deviation the battery covers in real time. */
  decisionRule: number[];
  /** e_t for t = 0..T (length T + 1). */
  energyKwh: number[];
  /** s_t for t = 0..T. */
  deferredKwh: number[];
  /** x_{m,t} per peer id. */
  tradesKw: Record<string, number[]>;
  /** With a demand charge: the billed peak (the largest over the horizon's days) and per day. */
  peakImportKw?: number;
  peakImportByDayKw?: number[];
  /** Cost split by objective term (EUR); sums to `objectiveEur`. */
  costEur: {
    energy: number;
    p2p: number;
    realtime: number;
    batteryWear: number;
    deferral: number;
    scheduleDeviation: number;
    demandCharge: number;
    terminalValue: number;
    /** Penalty on the SoC-bound slack that lets a start outside [E^min, E^max] steer back. */
    socRecovery: number;
  };
  objectiveEur: number;
  /** Worst-case CVaR of each enabled family at the solution (≤ 0 means the constraint holds). */
  worstCaseCvar: Partial<Record<ChanceFamily, number>>;
  /** Marginal value of energy per step (EUR/kWh): the balance-row duals. */
  marginalValueEurPerKwh: number[];
  solver: { name: string; status: SolveStatus; solveMs: number; iterations?: number; warmStart: boolean };
}

/** A solve either gives a plan or a typed failure; it never throws for a bad instance. */
export type SolveResult =
  | { ok: true; plan: Plan }
  | { ok: false; status: Exclude<SolveStatus, 'optimal'>; message: string; solveMs: number };
