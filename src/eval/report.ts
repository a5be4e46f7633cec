/**
 * What the evaluation prints and writes: the table on stdout, the headline figures against the
 * goals, the JSON file and the two SVG figures.
 */
import { isoDay } from '../data/split.ts';
import type { ControllerSummary } from './run.ts';
import { renderSvg, type LabelledPoint } from './svg.ts';

export const controllerNames = {
  none: 'no-control',
  rtp: 'rtp-threshold',
  ce: 'ce-mpc',
  saa: 'saa',
  perfect: 'perfect-foresight',
  communityDro: 'community-dro',
  communityCentral: 'community-central',
  communityPerfect: 'community-perfect-foresight',
} as const;

export function droName(radiusKw: number): string {
  return `dro-${radiusKw}`;
}

/** Relative gap to perfect foresight, against |PF| (its cost is negative when a household exports more than it buys). */
function gapToPerfect(costEur: number, perfectEur: number): number {
  return (costEur - perfectEur) / Math.abs(perfectEur);
}

function find(summaries: readonly ControllerSummary[], name: string): ControllerSummary | undefined {
  return summaries.find((s) => s.controller === name);
}

/** The bound of the run: the community's perfect foresight (it also optimises the community charge) where it ran, else the households'. */
function bound(summaries: readonly ControllerSummary[]): ControllerSummary | undefined {
  return find(summaries, controllerNames.communityPerfect) ?? find(summaries, controllerNames.perfect);
}

/** Relative change against |before| (a community that exports more than it buys has a negative bill). */
function relative(now: number, before: number): number {
  return (now - before) / Math.abs(before);
}

const pct = (v: number) => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : '-');
const num = (v: number, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : '-');

export function formatTable(summaries: readonly ControllerSummary[]): string {
  const perfect = bound(summaries);
  const none = find(summaries, controllerNames.none);
  const header = ['controller', 'bill €', 'vs none', 'vs PF', 'settle €', 'day peak kW', 'vs none', 'peak kW', 'PAR day', 'PAR all', 'ramp kW', '1-LF', 'joint viol', 'joint comm', 'import', 'socMin', 'socMax', 'solve ms med/p95', 'fallbacks', 'unhandled'];
  const rows = summaries.map((s) => {
    const c = s.community;
    const hh = (f: 'import' | 'socMin' | 'socMax') => s.households.reduce((sum, h) => sum + h.violation.perFamily[f], 0) / Math.max(s.households.length, 1);
    return [
      s.controller,
      num(c.bill.total, 1),
      none ? pct(relative(c.bill.total, none.community.bill.total)) : '-',
      perfect ? pct(gapToPerfect(c.bill.total, perfect.community.bill.total)) : '-',
      num(c.cost.total, 1),
      num(c.kpis.avgDailyPeakKw),
      none ? pct(c.kpis.avgDailyPeakKw / none.community.kpis.avgDailyPeakKw - 1) : '-',
      num(c.kpis.peakKw),
      num(c.kpis.parMean),
      num(c.kpis.periodPar),
      num(c.kpis.rampingKw, 0),
      num(c.kpis.oneMinusLoadFactor),
      pct(s.meanHouseholdJointViolation),
      pct(c.violation.joint),
      pct(hh('import')),
      pct(hh('socMin')),
      pct(hh('socMax')),
      s.solve.solves > 0 ? `${num(s.solve.medianMs, 0)}/${num(s.solve.p95Ms, 0)}` : '-',
      s.solve.solves > 0 ? String(s.solve.fallbacks.total) : '-',
      s.solve.solves > 0 ? String(s.solve.unhandled) : '-',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Per quarter: the community's bill and average daily peak of every controller. */
export function formatQuarters(summaries: readonly ControllerSummary[]): string {
  const quarters = [...new Set(summaries.flatMap((s) => Object.keys(s.community.quarters)))].sort();
  const header = ['controller', ...quarters.flatMap((q) => [`${q} bill €`, `${q} day peak kW`])];
  const rows = summaries.map((s) => [s.controller, ...quarters.flatMap((q) => {
    const f = s.community.quarters[q];
    return f ? [num(f.billEur, 1), num(f.kpis.avgDailyPeakKw)] : ['-', '-'];
  })]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/**
 * Each household's bill with the community against planning alone (`dro-<ρ>` at the community's
 * ρ): the community's split of its charge must leave nobody worse off.
 */
export function formatVsAlone(summaries: readonly ControllerSummary[]): string {
  const lines: string[] = [];
  for (const s of summaries.filter((x) => x.controller.startsWith('community-') && x.radiusKw !== undefined)) {
    const alone = find(summaries, droName(s.radiusKw!));
    if (!alone) continue;
    lines.push(`${s.controller} against ${alone.controller} alone: ${s.households.map((h, i) => {
      const a = alone.households[i]!;
      return `${h.household} ${num(h.bill.total)} vs ${num(a.bill.total)} € (${pct(relative(h.bill.total, a.bill.total))})${h.bill.total <= a.bill.total + 1e-9 ? '' : ' WORSE'}`;
    }).join(', ')}`);
  }
  return lines.join('\n');
}

/** The machine-readable line of one controller (`eval --json`). */
export function jsonLine(s: ControllerSummary): Record<string, unknown> {
  const c = s.community;
  const quarters = (q: ControllerSummary['community']['quarters']) => Object.fromEntries(Object.entries(q).map(([k, f]) => [k, { billEur: f.billEur, settlementCostEur: f.settlementCostEur, avgDailyPeakKw: f.kpis.avgDailyPeakKw, peakKw: f.kpis.peakKw, parMean: f.kpis.parMean }]));
  return {
    controller: s.controller,
    ...(s.radiusKw === undefined ? {} : { radiusKw: s.radiusKw }),
    days: c.kpis.days,
    communityBillEur: c.bill.total,
    communityBill: c.bill,
    communitySettlementCostEur: c.cost.total,
    communityAvgDailyPeakKw: c.kpis.avgDailyPeakKw,
    communityPeakKw: c.kpis.peakKw,
    communityParMean: c.kpis.parMean,
    communityPeriodPar: c.kpis.periodPar,
    communityRampingKw: c.kpis.rampingKw,
    communityOneMinusLoadFactor: c.kpis.oneMinusLoadFactor,
    jointViolation: s.meanHouseholdJointViolation,
    communityJointViolation: c.violation.joint,
    violationPerFamily: c.violation.perFamily,
    fallbacks: s.solve.fallbacks.total,
    unhandled: s.solve.unhandled,
    solveMedianMs: s.solve.medianMs,
    solveP95Ms: s.solve.p95Ms,
    quarters: quarters(c.quarters),
    households: Object.fromEntries(s.households.map((h) => [h.household, {
      billEur: h.bill.total,
      bill: h.bill,
      settlementCostEur: h.cost.total,
      avgDailyPeakKw: h.kpis.avgDailyPeakKw,
      peakKw: h.kpis.peakKw,
      parMean: h.kpis.parMean,
      periodPar: h.kpis.periodPar,
      rampingKw: h.kpis.rampingKw,
      oneMinusLoadFactor: h.kpis.oneMinusLoadFactor,
      jointViolation: h.violation.joint,
      violationPerFamily: h.violation.perFamily,
      quarters: quarters(h.quarters),
    }])),
  };
}

export interface Headline {
  recommended: string;
  /** Community metered bill against perfect foresight's and no control's. */
  billVsPerfect?: number;
  billVsNoControl?: number;
  /** Community average daily peak import against no control's. */
  dailyPeakVsNoControl?: number;
  jointViolation?: number;
  rtp?: { billVsPerfect: number; jointViolation: number };
  goals: { text: string; met: boolean | null }[];
}

export function headline(summaries: readonly ControllerSummary[], recommended: string, epsilon: number): Headline {
  const chosen = find(summaries, recommended);
  const perfect = bound(summaries);
  const none = find(summaries, controllerNames.none);
  const rtp = find(summaries, controllerNames.rtp);
  const out: Headline = { recommended, goals: [] };
  if (!chosen) return out;
  const bill = (s: ControllerSummary) => s.community.bill.total;
  if (perfect) out.billVsPerfect = gapToPerfect(bill(chosen), bill(perfect));
  if (none) {
    out.billVsNoControl = relative(bill(chosen), bill(none));
    out.dailyPeakVsNoControl = chosen.community.kpis.avgDailyPeakKw / none.community.kpis.avgDailyPeakKw - 1;
  }
  out.jointViolation = chosen.meanHouseholdJointViolation;
  if (rtp && perfect) out.rtp = { billVsPerfect: gapToPerfect(bill(rtp), bill(perfect)), jointViolation: rtp.meanHouseholdJointViolation };
  const goal = (text: string, met: boolean | null) => out.goals.push({ text, met });
  goal(`community metered bill within 10 % of perfect foresight (${out.billVsPerfect === undefined ? 'no PF run' : pct(out.billVsPerfect)})`, out.billVsPerfect === undefined ? null : out.billVsPerfect <= 0.1);
  goal(`community average daily peak at least 30 % below no control (${out.dailyPeakVsNoControl === undefined ? 'no baseline run' : pct(out.dailyPeakVsNoControl)})`, out.dailyPeakVsNoControl === undefined ? null : out.dailyPeakVsNoControl <= -0.3);
  goal(`out-of-sample joint violation ≤ ${epsilon} (${pct(out.jointViolation)})`, out.jointViolation <= epsilon);
  goal(`lower bill than RTP-threshold (${rtp ? `${num(bill(chosen), 1)} vs ${num(bill(rtp), 1)} €` : 'no RTP run'})`, rtp ? bill(chosen) < bill(rtp) : null);
  goal(`fewer violations than RTP-threshold (${rtp ? `${pct(chosen.meanHouseholdJointViolation)} vs ${pct(rtp.meanHouseholdJointViolation)}` : 'no RTP run'})`, rtp ? chosen.meanHouseholdJointViolation < rtp.meanHouseholdJointViolation : null);
  goal(`no unhandled solver failure (${chosen.solve.unhandled})`, chosen.solve.unhandled === 0);
  return out;
}

const palette = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22', '#393b79'];

const logRadius = (radiusKw: number) => Math.log10(Math.max(radiusKw, 1e-4));

/** Community cost against joint violation, one point per controller (DRO points labelled by ρ). */
export function tradeoffSvg(summaries: readonly ControllerSummary[], epsilon: number, caption: string): string {
  const points: LabelledPoint[] = summaries.map((s, i) => ({
    label: s.radiusKw === undefined ? s.controller : `ρ=${s.radiusKw}`,
    color: palette[i % palette.length]!,
    x: s.meanHouseholdJointViolation,
    y: s.community.bill.total,
  }));
  const dro = summaries.filter((s) => s.radiusKw !== undefined).sort((a, b) => a.radiusKw! - b.radiusKw!);
  return renderSvg([{
    title: 'Cost–violation trade-off over the Wasserstein radius ρ',
    xLabel: 'joint violation probability (fraction of test days, mean over households)',
    yLabel: 'community metered bill (€)',
    points,
    series: dro.length > 1 ? [{ label: 'SAA/DRO over ρ', color: '#999', points: dro.map((s) => [s.meanHouseholdJointViolation, s.community.bill.total]) }] : [],
    hLines: [],
  }, {
    title: 'Community metered bill against ρ (SAA, ρ = 0, drawn at log10 ρ = −4)',
    xLabel: 'log10 ρ (kW)',
    yLabel: 'community metered bill (€)',
    series: dro.length > 0 ? [{ label: 'SAA/DRO cost', color: '#1f77b4', points: dro.map((s) => [logRadius(s.radiusKw!), s.community.bill.total]) }] : [],
  }, {
    title: 'Joint violation against ρ',
    xLabel: 'log10 ρ (kW)',
    yLabel: 'joint violation probability',
    series: dro.length > 0 ? [{ label: 'joint violation', color: '#d62728', points: dro.map((s) => [logRadius(s.radiusKw!), s.meanHouseholdJointViolation]) }] : [],
    hLines: [{ y: epsilon, label: `ε = ${epsilon}`, color: '#555' }],
  }], caption);
}

/** One test day: community grid import without control and with the chosen controller, and its battery SoC. */
export function daySvg(none: ControllerSummary, chosen: ControllerSummary, dayIndex: number, dayMs: number, caption: string): string {
  const day = (values: number[]) => values.slice(dayIndex * 24, dayIndex * 24 + 24);
  return renderSvg([{
    title: `Community grid import on ${isoDay(dayMs)} (UTC hours)`,
    xLabel: 'hour (UTC)',
    yLabel: 'grid import (kW)',
    series: [
      { label: `before: ${none.controller}`, color: '#7f7f7f', step: true, points: day(none.hourly.communityImportKw).map((v, h) => [h, v]) },
      { label: `after: ${chosen.controller}`, color: '#1f77b4', step: true, points: day(chosen.hourly.communityImportKw).map((v, h) => [h, v]) },
    ],
    xRange: [0, 24],
  }, {
    title: `Battery state of charge, summed over ${chosen.households.length} household(s), ${chosen.controller}`,
    xLabel: 'hour (UTC, end of hour)',
    yLabel: 'energy (kWh)',
    series: [{ label: 'SoC', color: '#2ca02c', points: day(chosen.hourly.energyKwh).map((v, h) => [h + 1, v]) }],
    xRange: [0, 24],
    yRange: [0, 10 * chosen.households.length],
  }], caption);
}
