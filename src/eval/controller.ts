/**
 * What every controller of the evaluation offers the closed loop: at the start of each hour,
 * a step command from what the gateway knows then (measured state, forecast, samples, prices).
 */
import type { SolveStatus } from '../optimizer/types.ts';
import type { StepCommand, StepOutcome } from '../household/plant.ts';
import type { HourCase, HouseholdCase } from './scenario.ts';

export interface DecisionContext {
  household: HouseholdCase;
  hour: HourCase;
  /** Hour index within the test day (0 = midnight UTC). */
  hourOfDay: number;
  energyKwh: number;
  deferredKwh: number;
  /** Queued shiftable energy by the step (hour from now) in which its deadline falls, T entries. */
  deadlinesKwh: number[];
  /** The household's highest hourly import so far today (kW; 0 at midnight): the demand charge already due. */
  peakSoFarKw: number;
  /** The community's highest hourly import at its connection point so far today (kW). */
  communityPeakSoFarKw: number;
}

export type FallbackKind = 'shifted-plan' | 'safe-rule';

export interface SolveRecord {
  solveMs: number;
  status: SolveStatus;
  /** Null when the plan was used; else what replaced it. */
  fallback: FallbackKind | null;
  /** The optimizer threw instead of returning a typed failure (must never happen). */
  unhandled: boolean;
  message?: string;
}

export interface Decision {
  command: StepCommand;
  /** Present for controllers that solve this hour. */
  solve?: SolveRecord;
  /** P2P energy this household sold for this hour, by buyer (its index in the fleet), at a clearing before it. */
  sales?: { buyer: number; energyKwh: number; priceEurPerKwh: number }[];
}

export interface Controller {
  decide(context: DecisionContext): Promise<Decision>;
  /** The realised outcome of the hour just decided (rule-based controllers learn from it). */
  observe?(context: DecisionContext, outcome: StepOutcome): void;
  dispose?(): void;
}

/** Decides for all households of the community at once, each from its own context (same order). */
export interface FleetController {
  decide(contexts: readonly DecisionContext[]): Promise<Decision[]>;
  observe?(contexts: readonly DecisionContext[], outcomes: readonly StepOutcome[]): void;
  /** The community's coincident import the batteries with energy to spare hold this hour (kW); undefined: no live guard. */
  communityGuardKw?(contexts: readonly DecisionContext[]): number | undefined;
  dispose?(): void;
}

/** Serve everything queued and requested now: the "no shifting" choice. */
export function serveAllKw(context: DecisionContext): number {
  return context.deferredKwh + context.hour.realised.requestKw;
}
