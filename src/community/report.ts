/**
 * What the community run prints and writes: the table on stdout, and in the run folder
 * summary.json (everything) and report.html (the table, the cost breakdown, each gateway's
 * outcome, and inline SVG plots drawn with src/eval/svg.ts). docs/community.md reads them.
 */
import { writeFile } from 'node:fs/promises';
import type { CostBreakdown } from '../eval/metrics.ts';
import { renderSvg, type Panel, type Series } from '../eval/svg.ts';
import type { CommunitySummary } from './runner.ts';
import type { Figures, RunSummary } from './summary.ts';

const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const controlledColor = '#1f77b4';
const noControlColor = '#7f7f7f';

const num = (v: number, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
const pct = (v: number) => (Number.isFinite(v) ? `${(100 * v).toFixed(1)} %` : '-');
/** Relative change against |before| (a household that exports more than it buys has a negative cost). */
function change(now: number, before: number): string {
  if (!Number.isFinite(now) || !Number.isFinite(before) || before === 0) return '-';
  const relative = (now - before) / Math.abs(before);
  return `${relative > 0 ? '+' : ''}${(100 * relative).toFixed(1)} %`;
}

function wall(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

interface Row {
  name: string;
  controlled: Figures;
  noControl: Figures;
}

function rows(summary: CommunitySummary): Row[] {
  const { controlled, noControl } = summary;
  if (!controlled || !noControl) return [];
  return [
    ...controlled.households.map((h, i) => ({ name: h.household, controlled: h as Figures, noControl: noControl.households[i]! as Figures })),
    { name: 'community', controlled: controlled.community, noControl: noControl.community },
  ];
}

const header = ['', 'bill €', 'no control €', 'change', 'settlement €', 'no control €', 'day peak kW', 'no control', 'peak kW', 'no control', 'PAR day', 'no control', 'violated days', 'no control', 'P2P kWh delivered / contracted', 'safety events'];

function cells(r: Row): string[] {
  const c = r.controlled;
  const n = r.noControl;
  return [
    r.name, num(c.bill.total), num(n.bill.total), change(c.bill.total, n.bill.total), num(c.cost.total), num(n.cost.total),
    num(c.kpis.avgDailyPeakKw), num(n.kpis.avgDailyPeakKw), num(c.peakImportKw), num(n.peakImportKw), num(c.kpis.parMean), num(n.kpis.parMean),
    pct(c.violation.joint), pct(n.violation.joint), `${num(c.tradedKwh, 1)} / ${num(c.contractedTradeKwh, 1)}`, String(c.safetyEvents),
  ];
}

function scenarioLine(summary: CommunitySummary): string {
  const days = summary.summarisedDays;
  const span = days.length > 0 ? ` ${days[0]}..${days.at(-1)}` : '';
  return `${days.length} of ${summary.requestedDays.length} test day(s)${span}, ${summary.households.length} households each its own gateway process, ${summary.speed === 'lockstep' ? 'lock-step time' : `speed ${summary.speed}×`}${summary.communityImportEpsilon === null ? '' : `, community import chance ε = ${summary.communityImportEpsilon}`}${summary.liveGuard ? '' : ', live community guard off'}${summary.samples === null ? '' : `, ${summary.samples} error samples per solve`}, forecasters fitted and sampled before ${summary.fittedBefore}, ${wall(summary.wallSeconds)} wall time${summary.interrupted ? ', interrupted' : ''}`;
}

/**
 * What each household and the community gained, one sentence each, in plain words: the bill
 * against no control on the same days, the average daily peak, and why the peak-to-average ratio
 * rose where it did. Then the days that were run but not summarised, if any.
 */
export function gainSentences(summary: CommunitySummary): string[] {
  const days = summary.summarisedDays.length;
  const sentences = rows(summary).map((r) => {
    const who = r.name === 'community' ? 'The community' : r.name;
    const paid = r.controlled.bill.total;
    const before = r.noControl.bill.total;
    const savedEur = before - paid;
    const relative = before !== 0 ? ` (${(100 * Math.abs(savedEur / before)).toFixed(1)} %)` : '';
    const money = savedEur >= 0 ? `saved ${savedEur.toFixed(2)} €${relative}` : `paid ${(-savedEur).toFixed(2)} € more${relative}`;
    const peakKw = r.controlled.kpis.avgDailyPeakKw;
    const peakBeforeKw = r.noControl.kpis.avgDailyPeakKw;
    const where = r.name === 'community' ? 'at its connection point' : 'from the grid';
    const peak = `its average daily peak import ${where} ${peakKw <= peakBeforeKw ? 'down' : 'up'} ${Math.abs(peakBeforeKw - peakKw).toFixed(2)} kW (${peakBeforeKw.toFixed(2)} → ${peakKw.toFixed(2)} kW)`;
    const par = r.controlled.kpis.parMean > r.noControl.kpis.parMean
      ? ` Its daily peak-to-average ratio rose (${r.noControl.kpis.parMean.toFixed(2)} → ${r.controlled.kpis.parMean.toFixed(2)}): the battery and the PV lowered its average import more than its peak, so judge by the peak in kW.`
      : '';
    const guardKwh = r.controlled.communityGuardKwh;
    const guard = r.name === 'community' && guardKwh > 0 ? ` To hold the connection point at the peak it pays for, the live community guard discharged the batteries ${guardKwh.toFixed(1)} kWh beyond the households' own commands.` : '';
    return `${who}: ${money} over ${days} day(s) against no control (${paid.toFixed(2)} € instead of ${before.toFixed(2)} €); ${peak}.${par}${guard}${noLossSentence(r.name === 'community', r.controlled.noLoss)}`;
  });
  const missing = summary.requestedDays.filter((d) => !summary.summarisedDays.includes(d));
  if (missing.length > 0) sentences.push(`Not summarised: ${missing.length} of the ${summary.requestedDays.length} days run (${missing.join(', ')}), because not every gateway that finished recorded them whole (a gateway started late, stopped early or crashed).`);
  return sentences;
}

/** Against its own controller alone (in shadow): what the no-loss settlement did. */
function noLossSentence(community: boolean, n: Figures['noLoss']): string {
  if (n === null) return '';
  const settled = n.withCommunityEur + n.transferEur;
  const against = settled <= n.aloneEur ? 'below' : 'above';
  const refused = n.days - n.bookedDays;
  const refusedText = refused === 0 ? '' : `; on ${refused} of them the community saved nothing and nobody paid anybody`;
  if (community) return ` On the ${n.days} day(s) the gateways settled, the households alone (each its own controller in shadow) would have paid ${n.aloneEur.toFixed(2)} €, with the community ${n.withCommunityEur.toFixed(2)} € as the gateways bill it; the no-loss settlement was booked on ${n.bookedDays}${refusedText}.${runSentence(n)}`;
  return ` Alone (its own controller in shadow) it would have paid ${n.aloneEur.toFixed(2)} € on the ${n.days} settled day(s); with the community ${n.withCommunityEur.toFixed(2)} €, ${n.transferEur >= 0 ? 'paying' : 'receiving'} ${Math.abs(n.transferEur).toFixed(2)} € in the no-loss settlement: ${settled.toFixed(2)} €, ${Math.abs(n.aloneEur - settled).toFixed(2)} € ${against} its bill alone.${runSentence(n)}`;
}

/** The account over every day settled in the run, when the run settled days the summary leaves out (those between test days). */
function runSentence(n: NonNullable<Figures['noLoss']>): string {
  if (n.run.days === n.days) return '';
  const settled = n.run.withCommunityEur + n.run.transferEur;
  return ` Over all ${n.run.days} day(s) settled in the run, the days between test days included (the settlement makes up a loss over all of them): ${settled.toFixed(2)} € against ${n.run.aloneEur.toFixed(2)} € alone, ${Math.abs(n.run.aloneEur - settled).toFixed(2)} € ${settled <= n.run.aloneEur ? 'below' : 'above'}.`;
}

/** The summary table (controlled against no control, per household and for the community) and any crashed gateway. */
export function formatSummary(summary: CommunitySummary): string {
  const lines = [`Community run: ${scenarioLine(summary)}`, '', ...gainSentences(summary)];
  const table = rows(summary).map(cells);
  if (table.length > 0) {
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
    const line = (row: string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
    lines.push('', line(header), line(widths.map((w) => '-'.repeat(w))), ...table.map(line));
    lines.push('', 'bill: what each household pays — metered import × buy price − export × feed-in + daily demand charge + battery wear + P2P payments + its share of the community charge (1 €/kW of the daily coincident peak, split by import in the peak hour) + change of stored energy. settlement: the schedule at the day-ahead tariff plus real-time deviation penalties instead of the meter. day peak: the average daily peak import; the community\'s is at its connection point (the households netted). violated days: any chance-constraint row violated.');
  } else {
    lines.push('', 'No day was recorded whole by the gateways that finished: nothing to summarise.');
  }
  if (summary.ces) lines.push('', ...cesLines(summary.ces));
  for (const g of [...summary.gateways, ...(summary.ces ? [summary.ces.outcome] : [])].filter((g) => g.status === 'crashed')) {
    lines.push('', `${g.household} CRASHED (exit ${g.exitCode ?? g.signal}); log ${g.logFile}; last stderr lines:`, ...g.stderrTail.split('\n').map((l) => `  ${l}`));
  }
  return lines.join('\n');
}

/** The rental market of a run with a CES (docs/ces.md §5), one line per fact. */
function cesLines(ces: NonNullable<CommunitySummary['ces']>): string[] {
  const m = ces.market;
  if (m === null) return [`Rental market: the CES (${ces.outcome.status}) cleared no summarised day; log ${ces.outcome.logFile}.`];
  const eur = (v: number) => v.toFixed(2);
  return [
    `Rental market (CES 100 kWh / 50 kW, ${m.days.length} days): ${m.bookedKwhPerDay.toFixed(2)} kWh/day booked at ${m.days.map((d) => d.priceEurPerKwhDay.toFixed(4)).join(', ')} EUR/kWh·day (${m.days.map((d) => `${d.households} households, ${d.rounds} rounds`).join('; ')}).`,
    `Account energy committed as trades: ${m.depositedKwh.toFixed(2)} kWh deposited, ${m.withdrawnKwh.toFixed(2)} kWh withdrawn; both market ledgers hold the same trades: ${m.tradesMirrored ? 'yes' : 'NO'}.`,
    `P2P energy the CES sold at its posted price, committed as trades: ${m.p2pKwh.toFixed(2)} kWh for ${eur(m.p2pEur)} EUR (${m.days.map((d) => `${d.day} ${d.committedP2pTrades} of ${d.p2pTrades} trades, ${d.p2pKwh.toFixed(2)} kWh, ${d.p2pEur.toFixed(3)} EUR`).join('; ')}).`,
    `Account movements metered into both rental ledgers: ${m.days.map((d) => `${d.day} ${d.movedInKwh.toFixed(2)} kWh in, ${d.movedOutKwh.toFixed(2)} kWh out, residue ${d.residueKwh.toFixed(2)} kWh settled for ${d.settled} of ${d.households} bookings, ${d.rentalEur.toFixed(3)} EUR to the CES`).join('; ')}; both parties' books hold every booking alike and settled, summing to zero: ${m.booksBalance ? 'yes' : 'NO'}.`,
    `Rent, fees and residues in the CES's rental ledger ${eur(m.cesRentalEur)} EUR, in the households' ${eur(m.householdsRentalEur)} EUR: ${m.mirrored ? 'they mirror each other' : 'they do NOT mirror'}.`,
    `CES battery metered: ${m.chargeKwh.toFixed(1)} kWh in, ${m.dischargeKwh.toFixed(1)} kWh out, degradation ${eur(m.degradationEur)} EUR; day-ahead position at the real prices ${eur(m.days.reduce((s, d) => s + d.marketEur, 0))} EUR; profit (position + P2P + rental ledger − degradation) ${eur(m.profitEur)} EUR.`,
  ];
}

export async function writeReport(summary: CommunitySummary): Promise<void> {
  await writeFile(summary.summaryFile, `${JSON.stringify(summary, null, 1)}\n`);
  await writeFile(summary.reportFile, reportHtml(summary));
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** An SVG document from src/eval/svg.ts, without its XML declaration, to sit inside the page. */
function inlineSvg(panels: Panel[], caption: string): string {
  return renderSvg(panels, caption).replace(/^<\?xml[^>]*>\n/, '').trim();
}

/** The settlement cost's terms in plain words. */
const costTerms: [keyof CostBreakdown, string][] = [
  ['energy', 'energy on the schedule, at the day-ahead price'],
  ['realtime', 'deviations from the schedule, at the real-time price'],
  ['demandCharge', 'daily demand charges'],
  ['batteryWear', 'battery wear'],
  ['p2p', 'P2P payments (fees included)'],
  ['storedEnergy', 'change of stored energy, valued'],
  ['total', 'total'],
];

function reportHtml(summary: CommunitySummary): string {
  const table = rows(summary);
  const parts: string[] = [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8"><title>prosumer-edge community run</title>',
    '<style>body{font-family:sans-serif;max-width:1000px;margin:1em auto;padding:0 1em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}pre{background:#f4f4f4;padding:.5em;overflow:auto}figure{margin:1.5em 0}</style>',
    '</head><body>',
    '<h1>Community run</h1>',
    ...gainSentences(summary).map((sentence) => `<p><strong>${escapeHtml(sentence)}</strong></p>`),
    `<p>${escapeHtml(scenarioLine(summary))}. Simulated ${escapeHtml(summary.startIso)} → ${escapeHtml(summary.endIso)} (the first hour warms the gateways up, the last lets them close the last scored hour; neither is scored). Data: ${escapeHtml(summary.dataDir)}. Run folder: ${escapeHtml(summary.runDir)}.</p>`,
  ];
  if (table.length > 0) {
    parts.push('<h2>Controlled against no control</h2>');
    parts.push(`<table><tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>${table.map((r) => `<tr>${cells(r).map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('')}</table>`);
    parts.push('<p>No control: battery idle, shiftable demand served when requested (the household\'s measured grid balance), the forecast as its schedule — src/eval\'s no-control controller on the same days and data. Peak and PAR are on hourly grid import, the community\'s on the households\' summed import. A day counts as violated if any chance-constraint row was violated in it.</p>');
    parts.push('<h2>Community cost by term (EUR)</h2>');
    const c = summary.controlled!.community.cost;
    const n = summary.noControl!.community.cost;
    parts.push(`<table><tr><th>term</th><th>controlled</th><th>no control</th></tr>${costTerms.map(([k, words]) => `<tr><td>${words}</td><td>${num(c[k])}</td><td>${num(n[k])}</td></tr>`).join('')}</table>`);
    parts.push(...figures(summary.controlled!, summary.noControl!, summary.summarisedDays));
  } else {
    parts.push('<p>No day was recorded whole by the gateways that finished: nothing to summarise.</p>');
  }
  if (summary.ces) parts.push('<h2>Rental market (cloud energy storage)</h2>', ...cesLines(summary.ces).map((line) => `<p>${escapeHtml(line)}</p>`));
  parts.push('<h2>Gateways</h2><table><tr><th>household</th><th>status</th><th>exit</th><th>log</th><th>config</th></tr>');
  for (const g of [...summary.gateways, ...(summary.ces ? [summary.ces.outcome] : [])]) parts.push(`<tr><td>${escapeHtml(g.household)}</td><td>${g.status}</td><td>${escapeHtml(String(g.exitCode ?? g.signal))}</td><td>${escapeHtml(g.logFile)}</td><td>${escapeHtml(g.configFile)}</td></tr>`);
  parts.push('</table>');
  for (const g of [...summary.gateways, ...(summary.ces ? [summary.ces.outcome] : [])].filter((g) => g.status === 'crashed')) parts.push(`<h3>${escapeHtml(g.household)}: last stderr lines</h3><pre>${escapeHtml(g.stderrTail)}</pre>`);
  parts.push('</body></html>', '');
  return parts.join('\n');
}

function figures(controlled: RunSummary, noControl: RunSummary, days: string[]): string[] {
  const caption = `prosumer-edge community: ${days.length} test day(s) ${days[0]}..${days.at(-1)}; x = test day (1 = ${days[0]}), dropped days left out`;
  const xLabel = 'test day';
  // Hourly values at x = day + hour/24, drawn as lines (svg.ts draws steps one x-unit wide: a day here).
  const hourly = (values: readonly (number | null)[]): [number, number][] => values.flatMap((v, k) => (v === null ? [] : [[1 + k / 24, v] as [number, number]]));
  // Daily values held over their day [d, d + 1): svg.ts's steps are one x-unit wide.
  const daily = (values: readonly number[]): [number, number][] => values.map((v, d) => [1 + d, v]);
  const households = controlled.households;
  const out: string[] = [];
  const figure = (id: string, panels: Panel[]) => out.push(`<figure id="${id}">${inlineSvg(panels, caption)}</figure>`);

  figure('community-import', [
    {
      title: 'Community grid import, hour by hour',
      xLabel,
      yLabel: 'kW',
      series: [
        { label: 'no control', color: noControlColor, points: hourly(noControl.community.hourlyImportKw) },
        { label: 'controlled', color: controlledColor, points: hourly(controlled.community.hourlyImportKw) },
      ],
    },
  ]);
  // The day on which the community peak without control was highest: where peak shaving shows.
  const peakHour = noControl.community.hourlyImportKw.indexOf(Math.max(...noControl.community.hourlyImportKw));
  const peakDay = Math.max(0, Math.floor(peakHour / 24));
  const dayHours = (values: readonly number[]): [number, number][] => values.slice(peakDay * 24, peakDay * 24 + 24).map((v, h) => [h, v]);
  figure('peak-day', [
    {
      title: `Community import on ${days[peakDay]}, the day of the highest peak without control`,
      xLabel: 'hour of day (UTC)',
      yLabel: 'kW',
      xRange: [0, 24],
      series: [
        { label: 'no control', color: noControlColor, points: dayHours(noControl.community.hourlyImportKw), step: true },
        { label: 'controlled', color: controlledColor, points: dayHours(controlled.community.hourlyImportKw), step: true },
      ],
    },
  ]);
  figure('daily-cost', [
    {
      title: 'Daily cost per household (solid: controlled, dashed: no control)',
      xLabel,
      yLabel: 'EUR per day',
      series: households.flatMap((h, i): Series[] => [
        { label: h.household, color: colors[i % colors.length]!, points: daily(h.dailyCostEur), step: true },
        { label: `${h.household} no control`, color: colors[i % colors.length]!, points: daily(noControl.households[i]!.dailyCostEur), step: true, dashed: true },
      ]),
    },
  ]);
  figure('soc', [
    {
      title: 'Battery stored energy (end of each hour)',
      xLabel,
      yLabel: 'kWh',
      series: households.map((h, i) => ({ label: h.household, color: colors[i % colors.length]!, points: hourly(h.hourlyEnergyKwh) })),
    },
  ]);
  figure('trades', [
    {
      title: 'P2P energy traded per day',
      xLabel,
      yLabel: 'kWh per day',
      series: [
        { label: 'community', color: '#000000', points: daily(controlled.community.dailyTradedKwh), step: true },
        ...households.map((h, i) => ({ label: h.household, color: colors[i % colors.length]!, points: daily(h.dailyTradedKwh), step: true, dashed: true })),
      ],
    },
  ]);
  figure('safety', [
    {
      title: 'Safety actions per day (conditions entered, setpoints clipped)',
      xLabel,
      yLabel: 'events per day',
      series: households.map((h, i) => ({ label: h.household, color: colors[i % colors.length]!, points: daily(h.dailySafetyEvents), step: true })),
    },
  ]);
  return ['<h2>Plots</h2>', ...out];
}
