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
  /** π^peak (EUR/kW over the horizon); omit for no demand charge. */
  peakEurPerKw?: number;
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
  };
  weights: {
    batteryWearEurPerKw2h: number; // γ_b
    deferralEurPerKwh2: number; // γ_s
    scheduleDeviationEurPerKw2: number; // γ_g
    /** w^term (EUR/kWh); default: median buy price × η^d. */
    terminalEnergyEurPerKwh?: number;
  };
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
  peakImportKw?: number;
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
