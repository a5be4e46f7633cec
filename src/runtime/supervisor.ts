/**
 * The safety supervisor: pure decisions, no I/O. It decides the battery power that may go out
 * (never beyond the BMS's live limits or the SoC guard band) and turns the conditions the fast
 * loop observes into safety events, logged once when a condition starts and once when it ends.
 *
 * Keeping a setpoint alive is not its business: the drivers re-send an unchanged setpoint at
 * most every half revert timeout and the device falls back to 0 kW by itself when nobody does
 * (drivers/sunspec/fail-safe-control.ts). The supervisor only rounds the value so that noise
 * below the resolution does not turn every fast-loop period into a new write.
 */
import type { SafetyEvent, SafetyReason } from './types.ts';

/** The guard band and what the taper needs (config: site.battery, control.socGuardBandKwh, control.fastPeriodS). */
export interface BatteryGuard {
  minEnergyKwh: number;
  maxEnergyKwh: number;
  guardBandKwh: number;
  chargeEfficiency: number;
  dischargeEfficiency: number;
  fastPeriodS: number;
}

/** What the battery reported this period. */
export interface BatteryLive {
  energyKwh: number;
  /** The BMS's live limits (kW, ≥ 0). */
  maxChargeKw: number;
  maxDischargeKw: number;
}

export type ClipReason = Extract<SafetyReason, 'bms-limit' | 'soc-guard'>;

export interface SupervisedSetpoint {
  /** + discharge, − charge (kW), rounded toward 0 to the setpoint resolution. */
  commandedKw: number;
  /** Why the request was cut, if it was; at most one reason per direction, so at most one. */
  clip: { reason: ClipReason; detail: string } | null;
}

/** 10 W: far below what the plan or a meter can tell apart, coarse enough to leave noise out. */
export const SETPOINT_RESOLUTION_KW = 0.01;

const MS_PER_HOUR = 3_600_000;

/**
 * The battery power the supervisor lets through for `requestedKw`. Within the guard band
 * [E^min + band, E^max − band] no discharge below and no charge above; near it, power is
 * limited to the energy headroom over one fast period so one period cannot carry the SoC past
 * it (a late period eats into the band, which is what the band is for, never past E^min/E^max).
 * An unknown SoC or limit counts as no headroom: the answer is then 0 kW.
 */
export function superviseBatteryKw(requestedKw: number, live: BatteryLive, guard: BatteryGuard): SupervisedSetpoint {
  const wantedKw = Number.isFinite(requestedKw) ? requestedKw : 0;
  const periodH = (guard.fastPeriodS * 1000) / MS_PER_HOUR;
  const lowKwh = guard.minEnergyKwh + guard.guardBandKwh;
  const highKwh = guard.maxEnergyKwh - guard.guardBandKwh;
  const e = live.energyKwh;
  const known = Number.isFinite(e) && periodH > 0;
  const guardDischargeKw = known ? Math.max(0, ((e - lowKwh) * guard.dischargeEfficiency) / periodH) : 0;
  const guardChargeKw = known ? Math.max(0, (highKwh - e) / (guard.chargeEfficiency * periodH)) : 0;
  const bmsDischargeKw = nonNegative(live.maxDischargeKw);
  const bmsChargeKw = nonNegative(live.maxChargeKw);

  if (wantedKw > 0) {
    const limitKw = Math.min(bmsDischargeKw, guardDischargeKw);
    const commandedKw = towardZero(Math.min(wantedKw, limitKw));
    if (wantedKw <= limitKw) return { commandedKw, clip: null };
    return guardDischargeKw < bmsDischargeKw
      ? { commandedKw, clip: { reason: 'soc-guard', detail: `discharge ${fmt(wantedKw)} kW asked at ${fmt(e, 3)} kWh; the guard ${fmt(lowKwh, 3)} kWh (E^min ${fmt(guard.minEnergyKwh)} + band ${fmt(guard.guardBandKwh)}) allows ${fmt(commandedKw)} kW` } }
      : { commandedKw, clip: { reason: 'bms-limit', detail: `discharge ${fmt(wantedKw)} kW asked; the BMS allows ${fmt(bmsDischargeKw)} kW` } };
  }
  if (wantedKw < 0) {
    const limitKw = Math.min(bmsChargeKw, guardChargeKw);
    const commandedKw = towardZero(Math.max(wantedKw, -limitKw));
    if (-wantedKw <= limitKw) return { commandedKw, clip: null };
    return guardChargeKw < bmsChargeKw
      ? { commandedKw, clip: { reason: 'soc-guard', detail: `charge ${fmt(-wantedKw)} kW asked at ${fmt(e, 3)} kWh; the guard ${fmt(highKwh, 3)} kWh (E^max ${fmt(guard.maxEnergyKwh)} − band ${fmt(guard.guardBandKwh)}) allows ${fmt(-commandedKw)} kW` } }
      : { commandedKw, clip: { reason: 'bms-limit', detail: `charge ${fmt(-wantedKw)} kW asked; the BMS allows ${fmt(bmsChargeKw)} kW` } };
  }
  return { commandedKw: 0, clip: null };
}

/** Reasons that put the fast loop in the safe state (the others only limit one setpoint). */
const SAFE_STATE_REASONS: ReadonlySet<SafetyReason> = new Set(['battery-unavailable', 'meter-unavailable', 'optimizer-failed', 'plan-stale', 'broker-lost', 'relay-failed']);

/** What the battery does in the safe state: idle without a meter or battery, else the self-consumption rule. */
export type SafeBattery = 'idle' | 'self-consumption';

export function safeBatteryOf(reasons: Iterable<SafetyReason>): SafeBattery | null {
  let safe: SafeBattery | null = null;
  for (const reason of reasons) {
    if (reason === 'battery-unavailable' || reason === 'meter-unavailable') return 'idle';
    if (SAFE_STATE_REASONS.has(reason)) safe = 'self-consumption';
  }
  return safe;
}

/**
 * The conditions in force, turned into events on their edges: a condition that holds for an
 * hour is one 'enter' (or 'clip') and one 'clear', not one line per fast-loop period. The
 * detail of a condition that goes on is the one it started with.
 */
export class SafetyConditions {
  private readonly inForce = new Map<SafetyReason, string>();

  /** The conditions observed now, with a detail each; returns the events of what changed. */
  update(atMs: number, observed: ReadonlyMap<SafetyReason, string>): SafetyEvent[] {
    const events: SafetyEvent[] = [];
    for (const [reason, detail] of observed) {
      if (this.inForce.has(reason)) continue;
      this.inForce.set(reason, detail);
      events.push({ atMs, reason, action: SAFE_STATE_REASONS.has(reason) ? 'enter' : 'clip', detail });
    }
    for (const [reason, detail] of [...this.inForce]) {
      if (observed.has(reason)) continue;
      this.inForce.delete(reason);
      events.push({ atMs, reason, action: 'clear', detail: `ended (was: ${detail})` });
    }
    return events;
  }

  reasons(): SafetyReason[] {
    return [...this.inForce.keys()];
  }
}

function nonNegative(kw: number): number {
  return Number.isFinite(kw) && kw > 0 ? kw : 0;
}

/** Rounds toward 0 kW, so rounding can never carry a command past the limit it was clipped to. */
function towardZero(kw: number): number {
  const perKw = Math.round(1 / SETPOINT_RESOLUTION_KW);
  const magnitudeKw = Math.abs(kw);
  // The nudge keeps 0.29 kW at 0.29 where 0.29 × 100 evaluates to 28.999…; the loop undoes any overshoot.
  let steps = Math.floor(magnitudeKw * perKw + 1e-9);
  while (steps > 0 && steps / perKw > magnitudeKw) steps--;
  return (Math.sign(kw) * steps) / perKw || 0;
}

function fmt(value: number, digits = 2): string {
  return value.toFixed(digits);
}
