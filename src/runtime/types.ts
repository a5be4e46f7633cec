/**
 * The gateway runtime's own contracts: what the loops, the planner and the market loop hand each
 * other. The records they share with the store, telemetry and the simulator are in
 * src/records/types.ts (re-exported here for the runtime's modules). Units are in every name;
 * instants are gateway-clock ms.
 */
import type { PeerTrade, Plan, SolveStatus } from '../optimizer/types.ts';
import type { HourTariff } from '../data/tariff.ts';
import type { TradeView } from '../records/types.ts';
import type { GuardDecision } from './community-guard.ts';

export type { Measurement, SafetyReason, ControlMode, SafetyEvent, Setpoint, TradeView, HourRecord, HourTrade, RuntimeSnapshot, RuntimeStore, ShiftableDemandFeed } from '../records/types.ts';

/** The plan the fast loop follows, with the forecast it was solved against (ξ = w − μ₀ needs μ). */
export interface ActivePlan {
  plan: Plan;
  /** μ_t the plan was solved with (kW), aligned with plan steps. */
  netLoadForecastKw: number[];
  solvedAtMs: number;
  /** True when the solve failed or ran out of budget and `plan` is the fallback (shifted plan or safe rule). */
  fallback: boolean;
  status: SolveStatus;
  solveMs: number;
  /**
   * Where e₀ came from: measured, or — the battery not answering — the previous plan's SoC path at
   * now, or E^min when there was no plan yet (the planner sets it; absent means measured).
   */
  initialEnergyFrom?: 'measured' | 'last-plan' | 'minimum';
}

/** The shiftable-load queue as the planner needs it (formulation §2: s₀, f̂, deadlines). */
export interface ShiftableState {
  /** Requested before the current step (of the stepMinutes grid) and not yet served: s₀ (kWh). */
  deferredKwh: number;
  /** Requested in the current step so far and not yet served (kWh): known demand of step 0. With deferredKwh, all that is queued. */
  requestedThisStepKwh: number;
  /**
   * Queued energy that must be served by the end of horizon step k (steps from now): its deadline
   * falls in step k + 1, so finishing in step k is in time (anything due within two steps is in
   * step 0); later deadlines are left out. `horizonSteps` entries (kWh).
   */
  deadlinesKwh: number[];
}

/** Prices of any hour (day-ahead based, formulation §5 / evaluation.md tariff). */
export interface TariffSource {
  hour(hourStartMs: number): HourTariff;
  /**
   * The optimizer's tariff arrays for consecutive steps, and the demand charge on each UTC day's
   * peak: the day each step is in (0: the first step's) and the peak today has already paid for
   * (default 0).
   */
  window(
    startMs: number,
    stepHours: number[],
    peakTodayKw?: number,
  ): { buyEurPerKwh: number[]; sellEurPerKwh: number[]; realtimeBuyEurPerKwh: number[]; realtimeSellEurPerKwh: number[]; peakEurPerKw: number; peakDayOfStep: number[]; peakSoFarKw: number[] };
  p2pGridFeeEurPerKwh: number;
}

/** What the market loop offers the planner and the fast loop. */
export interface MarketView {
  /** Peers for the optimizer over these slots, committed trades fixed (withCommittedTrades). */
  peerTrades(slotStartsMs: number[]): PeerTrade[];
  trades(): TradeView[];
  /** null: no market configured. */
  connected(): boolean | null;
  /** The live community guard's decision at a fast-loop instant, from this household's part (community-guard.ts); null: none. */
  guardCommunity?(own: LiveImport): Promise<GuardDecision | null>;
}

/** What the fast loop tells the live community guard at an instant (community-guard.ts's GuardReport). */
export interface LiveImport {
  atMs: number;
  importKw: number;
  hourSoFarKwh: number;
  roomKw: number;
}
