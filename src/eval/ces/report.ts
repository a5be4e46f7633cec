/** The CES evaluation's tables (docs/ces.md shows them as measured). */
import type { AloneResult, CesDayFigures, CesEvaluation, SetupResult } from './run.ts';

const total = (days: readonly CesDayFigures[], pick: (d: CesDayFigures) => number) => days.reduce((s, d) => s + pick(d), 0);
const mean = (days: readonly CesDayFigures[], pick: (d: CesDayFigures) => number) => (days.length === 0 ? 0 : total(days, pick) / days.length);
/** A change in per cent; against a base of a few cents it would be noise, so it is not given. */
const pct = (value: number, base: number) => (Math.abs(base) < 1 ? 'n/a (base < 1 €)' : `${((100 * (value - base)) / Math.abs(base)).toFixed(0)} %`);
/** Fixed digits, and no "-0.0". */
const f = (v: number, digits = 1) => (Math.abs(v) < 0.5 * 10 ** -digits ? 0 : v).toFixed(digits);

function row(cells: (string | number)[]): string {
  return `| ${cells.join(' | ')} |`;
}

function aloneAt(evaluation: CesEvaluation, riskWeight: number): AloneResult | undefined {
  return evaluation.alone.find((a) => a.riskWeight === riskWeight);
}

/** Households' bills and the community peak per setup; the CES's profit against trading alone. */
export function formatCesTables(evaluation: CesEvaluation): string {
  const ids = evaluation.setups[0]?.households.map((h) => h.id) ?? [];
  const none = evaluation.setups.find((s) => !s.setup.ownBattery && !s.setup.ces);
  const lines: string[] = [];
  lines.push(row(['setup', 'community bill €', 'vs a', ...ids.map((id) => `${id} €`), 'avg day peak kW', 'period peak kW', 'avg day peak with CES kW']));
  lines.push(row(new Array(6 + ids.length).fill('---')));
  for (const s of evaluation.setups) {
    lines.push(row([s.setup.name, f(s.communityBillEur), none && s !== none ? pct(s.communityBillEur, none.communityBillEur) : '', ...s.households.map((h) => f(h.bill.total)), f(s.kpis.avgDailyPeakKw, 2), f(s.kpis.peakKw, 2), s.setup.ces ? f(s.kpisWithCes.avgDailyPeakKw, 2) : '']));
  }
  lines.push('');
  lines.push(row(['CES in setup', 'realised profit €', 'alone €', 'vs alone', 'market €', 'P2P revenue €', 'rental revenue €', 'residue value €', 'degradation €', 'alone degradation €', 'rented kWh/day', 'rental price €/kWh·day', 'P2P kWh', 'rounds/day']));
  lines.push(row(new Array(14).fill('---')));
  for (const s of evaluation.setups.filter((x): x is SetupResult & { ces: CesDayFigures[] } => x.ces !== undefined)) {
    const alone = aloneAt(evaluation, s.setup.ces!.riskWeight)!.days;
    const profit = total(s.ces, (d) => d.realisedProfitEur);
    const aloneProfit = total(alone, (d) => d.realisedProfitEur);
    lines.push(row([s.setup.name, f(profit), f(aloneProfit), pct(profit, aloneProfit), f(total(s.ces, (d) => d.marketEur)), f(total(s.ces, (d) => d.p2pRevenueEur)), f(total(s.ces, (d) => d.rentalRevenueEur)), f(total(s.ces, (d) => d.residueValueEur)), f(total(s.ces, (d) => d.degradationEur)), f(total(alone, (d) => d.degradationEur)), f(mean(s.ces, (d) => d.rentedKwh)), f(mean(s.ces, (d) => d.rentalPriceEurPerKwhDay), 3), f(total(s.ces, (d) => d.p2pKwh), 0), f(mean(s.ces, (d) => d.rounds))]));
  }
  lines.push('');
  lines.push('Risk/return frontier of the CES trading alone (per day, mean over days; CVaR of the planned scenario profits):');
  lines.push(row(['λ', 'expected profit €/day', 'CVaR €/day', 'realised profit €/day', 'worst realised day €', 'degradation €/day']));
  lines.push(row(new Array(6).fill('---')));
  for (const a of evaluation.alone) {
    lines.push(row([a.riskWeight, f(mean(a.days, (d) => d.expectedProfitEur), 3), f(mean(a.days, (d) => d.cvarEur), 3), f(mean(a.days, (d) => d.realisedProfitEur), 3), f(Math.min(...a.days.map((d) => d.realisedProfitEur)), 3), f(mean(a.days, (d) => d.degradationEur), 3)]));
  }
  return lines.join('\n');
}
