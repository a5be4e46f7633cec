/**
 * The JSON payloads telemetry publishes (docs/telemetry.md): pure functions of the runtime's
 * snapshot, so the MQTT topics, Home Assistant's templates and the tests read the same shapes.
 * Fields are always present (null when unknown) because Home Assistant renders a missing key
 * as an error but a null as "None", which it shows as "unknown".
 */
import { isoDay } from '../data/split.ts';
import type { DaySettlement } from '../runtime/no-loss-link.ts';
import type { Plan } from '../optimizer/types.ts';
import type { EnergyTotals } from './energy-totals.ts';
import type { ControlMode, RuntimeSnapshot, SafetyEvent, SafetyReason, TradeView } from '../records/types.ts';

const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 24 * MS_PER_HOUR;

/** What `<topicPrefix>/<gatewayId>/state` carries. */
export interface StateMessage {
  gatewayId: string;
  atMs: number;
  atIso: string;
  mode: ControlMode;
  reasons: SafetyReason[];
  socFraction: number | null;
  socPercent: number | null;
  energyKwh: number | null;
  gridKw: number | null;
  pvKw: number | null;
  batteryKw: number | null;
  netLoadKw: number | null;
  maxChargeKw: number | null;
  maxDischargeKw: number | null;
  relaysOn: boolean[];
  setpointRequestedKw: number | null;
  setpointCommandedKw: number | null;
  brokerConnected: boolean;
  lastSolve: RuntimeSnapshot['lastSolve'];
  /** The plan step running at `atMs` (stored energy interpolated within the step). */
  planNow: { gridKw: number | null; batteryKw: number | null; energyKwh: number | null };
  /** Mean planned grid exchange over the hour from `atMs` (the part the plan covers). */
  nextHour: { gridKw: number | null };
  /** Committed trades whose slot starts on the UTC day of `atMs`. */
  tradesToday: { count: number; energyKwh: number };
  /** The newest safety event ('none' before the first). */
  lastSafety: { reason: SafetyReason | 'none'; action: SafetyEvent['action'] | null; detail: string; atMs: number | null };
}

/** What the retained `<topicPrefix>/<gatewayId>/plan` carries: the plan in force, per step. */
export interface PlanMessage {
  startMs: number;
  startIso: string;
  stepStartsMs: number[];
  stepHours: number[];
  /** g⁺ − g⁻ (kW, + import). */
  gridKw: number[];
  /** d − c (kW, + discharge). */
  batteryKw: number[];
  /** e_t at step boundaries (T + 1 values). */
  energyKwh: number[];
  shiftableKw: number[];
  /** β_t: share of the real-time deviation the battery covers. */
  decisionRule: number[];
  /** Net planned P2P purchase over all peers (kW, + buy). */
  p2pKw: number[];
  objectiveEur: number;
  status: Plan['solver']['status'];
  solver: string;
  lastSolve: RuntimeSnapshot['lastSolve'];
}

const round = (value: number, digits = 3): number => {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
};
const roundOrNull = (value: number | null, digits = 3): number | null => (value === null || !Number.isFinite(value) ? null : round(value, digits));

export function stepStartsMs(plan: Plan): number[] {
  const starts: number[] = [];
  let atMs = plan.startMs;
  for (const hours of plan.stepHours) {
    starts.push(atMs);
    atMs += hours * MS_PER_HOUR;
  }
  return starts;
}

export function planGridKw(plan: Plan): number[] {
  return plan.gridImportKw.map((g, t) => g - plan.gridExportKw[t]!);
}

export function planBatteryKw(plan: Plan): number[] {
  return plan.dischargeKw.map((d, t) => d - plan.chargeKw[t]!);
}

function planP2pKw(plan: Plan): number[] {
  const net = plan.stepHours.map(() => 0);
  for (const perStep of Object.values(plan.tradesKw)) perStep.forEach((kw, t) => (net[t] = net[t]! + kw));
  return net;
}

function planNow(plan: Plan | null, atMs: number): StateMessage['planNow'] {
  if (plan === null) return { gridKw: null, batteryKw: null, energyKwh: null };
  const starts = stepStartsMs(plan);
  const t = starts.findIndex((start, i) => atMs >= start && atMs < start + plan.stepHours[i]! * MS_PER_HOUR);
  if (t < 0) return { gridKw: null, batteryKw: null, energyKwh: null };
  const share = (atMs - starts[t]!) / (plan.stepHours[t]! * MS_PER_HOUR);
  return {
    gridKw: round(planGridKw(plan)[t]!),
    batteryKw: round(planBatteryKw(plan)[t]!),
    energyKwh: round(plan.energyKwh[t]! + share * (plan.energyKwh[t + 1]! - plan.energyKwh[t]!)),
  };
}

function nextHourGridKw(plan: Plan | null, atMs: number): number | null {
  if (plan === null) return null;
  const grid = planGridKw(plan);
  let coveredMs = 0;
  let energyKwMs = 0;
  stepStartsMs(plan).forEach((start, t) => {
    const overlapMs = Math.min(start + plan.stepHours[t]! * MS_PER_HOUR, atMs + MS_PER_HOUR) - Math.max(start, atMs);
    if (overlapMs <= 0) return;
    coveredMs += overlapMs;
    energyKwMs += grid[t]! * overlapMs;
  });
  return coveredMs > 0 ? round(energyKwMs / coveredMs) : null;
}

function tradesToday(trades: TradeView[], atMs: number): StateMessage['tradesToday'] {
  const dayStartMs = Math.floor(atMs / MS_PER_DAY) * MS_PER_DAY;
  const today = trades.filter((t) => t.state === 'committed' && t.slotStartMs >= dayStartMs && t.slotStartMs < dayStartMs + MS_PER_DAY);
  const energyKwh = today.reduce((sum, t) => sum + (Math.abs(t.powerKw) * (t.slotEndMs - t.slotStartMs)) / MS_PER_HOUR, 0);
  return { count: today.length, energyKwh: round(energyKwh) };
}

export function stateMessage(snapshot: RuntimeSnapshot, lastSafety: SafetyEvent | null): StateMessage {
  const m = snapshot.measurement;
  return {
    gatewayId: snapshot.gatewayId,
    atMs: snapshot.atMs,
    atIso: new Date(snapshot.atMs).toISOString(),
    mode: snapshot.mode,
    reasons: snapshot.reasons,
    socFraction: roundOrNull(m.socFraction, 4),
    socPercent: m.socFraction === null ? null : round(m.socFraction * 100, 1),
    energyKwh: roundOrNull(m.energyKwh),
    gridKw: roundOrNull(m.gridKw),
    pvKw: roundOrNull(m.pvKw),
    batteryKw: roundOrNull(m.batteryKw),
    netLoadKw: roundOrNull(m.netLoadKw),
    maxChargeKw: roundOrNull(m.maxChargeKw),
    maxDischargeKw: roundOrNull(m.maxDischargeKw),
    relaysOn: m.relaysOn,
    setpointRequestedKw: snapshot.setpoint === null ? null : round(snapshot.setpoint.requestedKw),
    setpointCommandedKw: snapshot.setpoint === null ? null : round(snapshot.setpoint.commandedKw),
    brokerConnected: snapshot.brokerConnected,
    lastSolve: snapshot.lastSolve,
    planNow: planNow(snapshot.plan, snapshot.atMs),
    nextHour: { gridKw: nextHourGridKw(snapshot.plan, snapshot.atMs) },
    tradesToday: tradesToday(snapshot.trades, snapshot.atMs),
    lastSafety:
      lastSafety === null
        ? { reason: 'none', action: null, detail: '', atMs: null }
        : { reason: lastSafety.reason, action: lastSafety.action, detail: lastSafety.detail, atMs: lastSafety.atMs },
  };
}

export function planMessage(plan: Plan, lastSolve: RuntimeSnapshot['lastSolve']): PlanMessage {
  return {
    startMs: plan.startMs,
    startIso: new Date(plan.startMs).toISOString(),
    stepStartsMs: stepStartsMs(plan),
    stepHours: plan.stepHours,
    gridKw: planGridKw(plan).map((v) => round(v)),
    batteryKw: planBatteryKw(plan).map((v) => round(v)),
    energyKwh: plan.energyKwh.map((v) => round(v)),
    shiftableKw: plan.shiftableKw.map((v) => round(v)),
    decisionRule: plan.decisionRule.map((v) => round(v)),
    p2pKw: planP2pKw(plan).map((v) => round(v)),
    objectiveEur: round(plan.objectiveEur, 4),
    status: plan.solver.status,
    solver: plan.solver.name,
    lastSolve,
  };
}

/** What the retained `<topicPrefix>/<gatewayId>/energy` carries: the Energy dashboard's counters. */
export interface EnergyMessage {
  gridImportKwh: number;
  gridExportKwh: number;
  pvKwh: number;
  batteryChargeKwh: number;
  batteryDischargeKwh: number;
  /** End of the last hour counted (null before the first). */
  throughIso: string | null;
}

/** Rounded to the Wh: rounding a total that never decreases gives one that never decreases. */
export function energyMessage(totals: EnergyTotals): EnergyMessage {
  return {
    gridImportKwh: round(totals.gridImportKwh),
    gridExportKwh: round(totals.gridExportKwh),
    pvKwh: round(totals.pvKwh),
    batteryChargeKwh: round(totals.batteryChargeKwh),
    batteryDischargeKwh: round(totals.batteryDischargeKwh),
    throughIso: totals.throughHourStartMs === null ? null : new Date(totals.throughHourStartMs + MS_PER_HOUR).toISOString(),
  };
}

/** What the retained `<topicPrefix>/<gatewayId>/settlement` carries: the household's last day of the no-loss settlement. */
export interface SettlementMessage {
  day: string;
  /** Every member confirmed: the transfer is due. Else nobody pays anybody that day. */
  booked: boolean;
  members: number;
  /** Its bill alone (its own controller in shadow) and with the community, community charge included (EUR). */
  aloneEur: number;
  withCommunityEur: number;
  /** Paid (negative: received); 0 when not booked. */
  transferEur: number;
  /** What it pays in the end, and what the community saved it against its bill alone (negative: it paid more). */
  settledEur: number;
  savingEur: number;
  reason: string;
}

export function settlementMessage(s: DaySettlement): SettlementMessage {
  const transferEur = s.booked ? s.ownTransferEur : 0;
  const settledEur = s.withCommunityEur + transferEur;
  return {
    day: isoDay(s.dayMs),
    booked: s.booked,
    members: s.participants.length,
    aloneEur: round(s.aloneEur, 4),
    withCommunityEur: round(s.withCommunityEur, 4),
    transferEur: round(transferEur, 4),
    settledEur: round(settledEur, 4),
    savingEur: round(s.aloneEur - settledEur, 4),
    reason: s.reason,
  };
}
