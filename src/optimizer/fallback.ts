/**
 * Formulation §6: when a solve fails, keep following the last feasible plan shifted to now, and
 * without one, a safe rule (battery idle, shiftable loads on their desired profile, β = 0).
 *
 * The shifted plan is re-anchored to the state measured now: its battery setpoints are clipped to
 * the live power limits and to what keeps the SoC path (recomputed from the measured e₀) inside
 * [E^min, E^max]; the grid takes whatever the balance leaves. Trades are only those committed:
 * an uncommitted trade of an old plan was never agreed with the peer.
 */
import { cvarOf } from './plan.ts';
import { importPeakByDay, planCost } from './cost.ts';
import { COST_TERMS } from './model.ts';
import type { Plan, ProblemInput, SolveStatus } from './types.ts';

const MS_PER_HOUR = 3_600_000;

/** What the fallback reads of the last plan: its steps' battery, shiftable and decision-rule schedule. */
export type FollowedPlan = Pick<Plan, 'startMs' | 'stepHours' | 'chargeKw' | 'dischargeKw' | 'shiftableKw' | 'decisionRule'>;

/** Index of the previous plan's step that is running at `startMs`, or undefined if none is. */
function elapsedSteps(previous: FollowedPlan, startMs: number): number | undefined {
  let endH = 0;
  const elapsedH = (startMs - previous.startMs) / MS_PER_HOUR;
  for (let k = 0; k < previous.stepHours.length; k++) {
    endH += previous.stepHours[k]!;
    // Tolerate clock jitter of a second: a plan solved at 12:00 is "one step old" at 12:15:00.9.
    if (elapsedH < endH - 1 / 3600) return k;
  }
  return undefined;
}

export function fallbackPlan(input: ProblemInput, previous: FollowedPlan | undefined, startMs: number, reason: Exclude<SolveStatus, 'optimal'> = 'error'): Plan {
  const T = input.stepHours.length;
  const bat = input.battery;
  const offset = previous ? elapsedSteps(previous, startMs) : undefined;
  // A plan with no step left to follow, or one solved "in the future", is no plan.
  const usable = previous !== undefined && offset !== undefined && startMs >= previous.startMs;
  const from = (t: number): number | undefined => (usable && offset! + t < previous!.stepHours.length ? offset! + t : undefined);

  const plan: Plan = {
    startMs,
    stepHours: [...input.stepHours],
    gridImportKw: [],
    gridExportKw: [],
    chargeKw: [],
    dischargeKw: [],
    shiftableKw: [],
    decisionRule: [],
    energyKwh: [input.initial.energyKwh],
    deferredKwh: [input.initial.deferredKwh],
    tradesKw: Object.fromEntries((input.peers ?? []).map((p) => [p.peerId, [] as number[]])),
    costEur: { energy: 0, p2p: 0, realtime: 0, batteryWear: 0, deferral: 0, scheduleDeviation: 0, demandCharge: 0, terminalValue: 0, socRecovery: 0 },
    objectiveEur: 0,
    worstCaseCvar: {},
    marginalValueEurPerKwh: [],
    solver: { name: usable ? 'fallback:shifted-plan' : 'fallback:safe-rule', status: reason, solveMs: 0, warmStart: false },
  };

  for (let t = 0; t < T; t++) {
    const dt = input.stepHours[t]!;
    const k = from(t);
    const e = plan.energyKwh[t]!;
    const s = plan.deferredKwh[t]!;

    // Battery: the old setpoint (or idle), within live limits and the SoC bounds seen from e now.
    const wanted = k === undefined ? 0 : previous!.dischargeKw[k]! - previous!.chargeKw[k]!;
    const maxDischarge = Math.min(bat.maxDischargeKw, Math.max(0, ((e - bat.minEnergyKwh) * bat.dischargeEfficiency) / dt));
    const maxCharge = Math.min(bat.maxChargeKw, Math.max(0, (bat.maxEnergyKwh - e) / (bat.chargeEfficiency * dt)));
    const batteryKw = Math.min(maxDischarge, Math.max(-maxCharge, wanted));
    const discharge = Math.max(0, batteryKw);
    const charge = Math.max(0, -batteryKw);
    plan.dischargeKw.push(discharge);
    plan.chargeKw.push(charge);
    plan.energyKwh.push(e + dt * (bat.chargeEfficiency * charge - discharge / bat.dischargeEfficiency));
    plan.decisionRule.push(k === undefined ? 0 : Math.min(1, Math.max(0, previous!.decisionRule[k]!)));

    // Shiftable load: old plan's (or the desired) value, within bounds and the deferral limits.
    let served = 0;
    if (input.shiftable) {
      const sh = input.shiftable;
      const desired = sh.desiredKw[t]!;
      const capKwh = Math.min(sh.maxDeferredKwh, sh.deferredCapKwh?.[t] ?? Infinity);
      const lo = Math.max(sh.minKw[t]!, desired - (capKwh - s) / dt);
      const hi = Math.min(sh.maxKw[t]!, desired + s / dt);
      served = Math.min(hi, Math.max(lo, k === undefined ? desired : previous!.shiftableKw[k]!));
      plan.deferredKwh.push(s + dt * (desired - served));
    } else {
      plan.deferredKwh.push(s);
    }
    plan.shiftableKw.push(served);

    let tradedKw = 0;
    for (const peer of input.peers ?? []) {
      const x = peer.committedKw?.[t] ?? 0;
      plan.tradesKw[peer.peerId]!.push(x);
      tradedKw += x;
    }
    const net = input.netLoadForecastKw[t]! + served - batteryKw - tradedKw;
    plan.gridImportKw.push(Math.max(0, net));
    plan.gridExportKw.push(Math.max(0, -net));
    // No dual without a solve: the tariff price the next kWh would actually be settled at.
    plan.marginalValueEurPerKwh.push(net >= 0 ? input.tariff.buyEurPerKwh[t]! : input.tariff.sellEurPerKwh[t]!);
  }
  if (input.tariff.peakEurPerKw !== undefined) {
    plan.peakImportByDayKw = importPeakByDay(input, plan);
    plan.peakImportKw = Math.max(...plan.peakImportByDayKw);
  }
  plan.costEur = planCost(input, plan);
  plan.objectiveEur = COST_TERMS.reduce((sum, term) => sum + plan.costEur[term], 0);
  plan.worstCaseCvar = cvarOf(input, plan, input.errorSamplesKw);
  return plan;
}
