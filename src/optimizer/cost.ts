/**
 * The objective of formulation §5 evaluated from a plan's schedules alone (no model variables):
 * prices fallback plans, and lets tests check the solver's cost split independently.
 */
import { DEFAULT_MODEL_OPTIONS, peakDayOf, peakDays, terminalValueEurPerKwh } from './model.ts';
import type { Plan, ProblemInput } from './types.ts';

export function planCost(input: ProblemInput, plan: Plan, socRecoveryEurPerKwhH = DEFAULT_MODEL_OPTIONS.socRecoveryEurPerKwhH): Plan['costEur'] {
  const tariff = input.tariff;
  const samples = input.errorSamplesKw;
  const I = samples.length;
  const rho = input.chance.radiusKw;
  const bat = input.battery;
  const w = input.weights;
  const cost: Plan['costEur'] = {
    energy: 0,
    p2p: 0,
    realtime: 0,
    batteryWear: 0,
    deferral: 0,
    scheduleDeviation: 0,
    demandCharge: 0,
    terminalValue: 0,
    socRecovery: 0,
  };
  plan.stepHours.forEach((dt, t) => {
    const net = plan.gridImportKw[t]! - plan.gridExportKw[t]!;
    cost.energy += dt * (tariff.buyEurPerKwh[t]! * plan.gridImportKw[t]! - tariff.sellEurPerKwh[t]! * plan.gridExportKw[t]!);
    for (const peer of input.peers ?? []) cost.p2p += dt * peer.priceEurPerKwh[t]! * (plan.tradesKw[peer.peerId]?.[t] ?? 0);
    const share = 1 - plan.decisionRule[t]!;
    let expected = 0;
    for (const xi of samples) {
      const q = share * xi[t]!;
      expected += Math.max(tariff.realtimeBuyEurPerKwh[t]! * q, tariff.realtimeSellEurPerKwh[t]! * q);
    }
    cost.realtime += dt * (expected / I + rho * tariff.realtimeBuyEurPerKwh[t]! * share);
    const m2 = samples.reduce((s, xi) => s + xi[t]! * xi[t]!, 0) / I;
    const throughput = plan.chargeKw[t]! + plan.dischargeKw[t]!;
    cost.batteryWear += w.batteryWearEurPerKw2h * dt * (throughput * throughput + m2 * plan.decisionRule[t]! ** 2);
    cost.deferral += w.deferralEurPerKwh2 * plan.deferredKwh[t + 1]! ** 2;
    if (input.committedGridKw) cost.scheduleDeviation += w.scheduleDeviationEurPerKw2 * (net - input.committedGridKw[t]!) ** 2;
    const e = plan.energyKwh[t + 1]!;
    cost.socRecovery += socRecoveryEurPerKwhH * dt * (Math.max(0, bat.minEnergyKwh - e) + Math.max(0, e - bat.maxEnergyKwh));
  });
  if (tariff.peakEurPerKw !== undefined) {
    const byDay = plan.peakImportByDayKw ?? importPeakByDay(input, plan);
    cost.demandCharge = tariff.peakEurPerKw * byDay.reduce((s, v) => s + v, 0);
  }
  cost.terminalValue = -terminalValueEurPerKwh(input) * plan.energyKwh[plan.energyKwh.length - 1]!;
  return cost;
}

/** Per billing day: the larger of the peak already reached that day and the plan's largest import. */
export function importPeakByDay(input: Pick<ProblemInput, 'tariff'>, plan: Pick<Plan, 'gridImportKw'>): number[] {
  const byDay = Array.from({ length: peakDays(input) }, (_, d) => input.tariff.peakSoFarKw?.[d] ?? 0);
  plan.gridImportKw.forEach((g, t) => {
    const d = peakDayOf(input, t);
    byDay[d] = Math.max(byDay[d]!, g);
  });
  return byDay;
}
