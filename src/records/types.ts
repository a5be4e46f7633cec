/**
 * The gateway's records: what the loops measure, decide and account, as the store keeps them,
 * telemetry publishes them and the simulator's household asks for shiftable energy. They live
 * below the runtime, the store, telemetry and the simulator, which all take them from here.
 * Units are in every name; instants are gateway-clock ms.
 */
import type { Plan } from '../optimizer/types.ts';

/** What the fast loop measured in one iteration. A device that did not answer is `null`, never 0. */
export interface Measurement {
  atMs: number;
  /** Grid exchange at the meter (kW, + = import). */
  gridKw: number | null;
  pvKw: number | null;
  /** Battery AC power (kW, + = discharge). */
  batteryKw: number | null;
  socFraction: number | null;
  energyKwh: number | null;
  /** The BMS's live limits (kW, ≥ 0). */
  maxChargeKw: number | null;
  maxDischargeKw: number | null;
  /** Net load the battery and the grid must cover: meter + battery (kW); null if either is missing. */
  netLoadKw: number | null;
  /** Relay states of the shiftable loads, in the order of `site.shiftable` (false: off or unknown). */
  relaysOn: boolean[];
}

/** Why the runtime is not following the plan as solved (formulation §6, safety supervisor). */
export type SafetyReason =
  | 'battery-unavailable'
  | 'meter-unavailable'
  | 'bms-limit'
  | 'soc-guard'
  | 'optimizer-failed'
  | 'plan-stale'
  | 'broker-lost'
  | 'relay-failed'
  /** A command from Home Assistant (src/runtime/user-control.ts), accepted or rejected. */
  | 'user-command';

/** The mode the fast loop is in: following the plan, or the documented safe state. */
export type ControlMode = 'plan' | 'safe';

export interface SafetyEvent {
  atMs: number;
  reason: SafetyReason;
  /** 'enter': the condition started; 'clear': it ended; 'clip': one setpoint was limited; 'command'/'rejected': a user command applied or refused. */
  action: 'enter' | 'clear' | 'clip' | 'command' | 'rejected';
  detail: string;
}

/** One battery command as the supervisor let it through. */
export interface Setpoint {
  atMs: number;
  /** What the plan and the decision rule asked (kW, + = discharge). */
  requestedKw: number;
  /** What was written after the supervisor's limits (kW, + = discharge). */
  commandedKw: number;
  mode: ControlMode;
  /** Conditions in force at this instant; in plan mode only clips (bms-limit, soc-guard). */
  reasons: SafetyReason[];
  /** The part of commandedKw the live community guard asked beyond the household's own (kW); absent: none. */
  communityGuardKw?: number;
}

/** A P2P trade the gateway is committed to (a copy of the ledger's view). */
export interface TradeView {
  tradeId: string;
  peerId: string;
  slotStartMs: number;
  slotEndMs: number;
  /** + = this gateway buys. */
  powerKw: number;
  priceEurPerKwh: number;
  state: string;
}

/** A committed P2P trade's part in one hour, from this gateway's side, as contracted (metering settles it: src/market/settlement.ts). */
export interface HourTrade {
  tradeId: string;
  peerId: string;
  /** + = this gateway buys (kWh over the hour). */
  energyKwh: number;
  priceEurPerKwh: number;
}

/**
 * Per-hour account of what happened, from the gateway's own meter and plan: what the
 * community summary and the status page are built from. Energies are measured (meter
 * energy counters where the meter has them), not planned.
 */
export interface HourRecord {
  hourStartMs: number;
  importKwh: number;
  exportKwh: number;
  /** Highest fast-loop import reading in the hour (kW). */
  peakImportKw: number;
  pvKwh: number;
  batteryDischargeKwh: number;
  batteryChargeKwh: number;
  /** Shiftable energy requested and served this hour (kWh). */
  shiftableRequestedKwh: number;
  shiftableServedKwh: number;
  /** Scheduled grid exchange of the plan step that covered this hour (kW, + import), null if none. */
  scheduledGridKw: number | null;
  /** Day-ahead-based tariff of the hour (EUR/kWh). */
  buyEurPerKwh: number;
  sellEurPerKwh: number;
  realtimeBuyEurPerKwh: number;
  realtimeSellEurPerKwh: number;
  /** Net P2P energy bought this hour (kWh, − = sold) and what it cost (EUR, − = earned, fees included), as contracted. */
  tradeKwh: number;
  tradeCostEur: number;
  /** The committed trades of the hour, whose sums tradeKwh and tradeCostEur are: the community's settlement meters each of them. */
  trades: HourTrade[];
  socMinFraction: number;
  socMaxFraction: number;
  /** Chance-constraint rows violated this hour (family names of formulation §4). */
  violations: string[];
  /** Discharge the live community guard asked beyond the household's own command this hour (kWh); absent in records from before it. */
  communityGuardKwh?: number;
  /** Iterations the fast loop ran in safe mode / in total. */
  safeIterations: number;
  iterations: number;
}

/** What telemetry (MQTT, Home Assistant, the status page) shows; published on every fast-loop iteration. */
export interface RuntimeSnapshot {
  gatewayId: string;
  atMs: number;
  measurement: Measurement;
  setpoint: Setpoint | null;
  mode: ControlMode;
  /** Conditions in force now. */
  reasons: SafetyReason[];
  /** The plan in force (null before the first solve). */
  plan: Plan | null;
  /** Solve outcome of the latest slow-loop tick. */
  lastSolve: { atMs: number; status: string; solveMs: number; fallback: boolean } | null;
  trades: TradeView[];
  brokerConnected: boolean;
}

/**
 * The crash-safe store (src/storage, docs/storage.md). Every `append*` is durable (fsync'd)
 * when it returns, except measurements: a killed process loses at most the one being
 * appended, a power cut at most those since the last periodic fsync.
 */
export interface RuntimeStore {
  appendPlan(plan: Plan): void;
  appendMeasurement(measurement: Measurement): void;
  appendHour(record: HourRecord): void;
  appendErrorSample(sample: { issuedAtMs: number; errorsKw: number[] }): void;
  appendSafetyEvent(event: SafetyEvent): void;
  /** Everything that was durable at the last open, oldest first. */
  plans(): Plan[];
  measurements(): Measurement[];
  hours(): HourRecord[];
  errorSamples(): { issuedAtMs: number; errorsKw: number[] }[];
  safetyEvents(): SafetyEvent[];
  /** Where the market keeps its ledger and replay window (MarketNodeOptions.dataDir). */
  readonly marketDir: string;
  close(): void;
}

/** Where shiftable demand requests come from: the simulated household, or a configured schedule. */
export interface ShiftableDemandFeed {
  /**
   * No request is made before this instant (the simulated household's start): the shiftable
   * queue collects from here, so it holds the same jobs as the appliances. Absent: from the
   * queue's own start.
   */
  startMs?: number;
  /** Energy the load `relayId` was asked for in [fromMs, toMs) (kWh). */
  requestedKwh(relayId: string, fromMs: number, toMs: number): number;
}
