/**
 * `prosumer-edge eval`: the closed-loop evaluation of ../shared/docs/evaluation.md on the real
 * data — every controller, every test day, the table on stdout, JSON and SVG figures in --out.
 * docs/evaluation.md explains every option and number.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { batteryOf } from '../data/assets.ts';
import { defaultDataDir, discoverHouseholds, loadBuildingMetadata, loadHousehold, loadPrices } from '../data/households.ts';
import { chooseSplit, isoDay, lastDataDayMs, lastPricedDayMs, splitMs, testDays, validationWindow } from '../data/split.ts';
import { createOptimizer, type ChanceFamily } from '../optimizer/index.ts';
import { noControl } from './controllers/no-control.ts';
import { defaultOptimizerSettings, optimizerController, type OptimizerSettings } from './controllers/optimizer.ts';
import { communityController } from './controllers/community.ts';
import { perfectForesight } from './controllers/perfect-foresight.ts';
import { rtpThreshold } from './controllers/rtp-threshold.ts';
import { progressLine } from './progress.ts';
import { controllerNames, daySvg, droName, formatQuarters, formatTable, formatVsAlone, headline, jsonLine, tradeoffSvg } from './report.ts';
import { runController, summarise, type ControllerRun, type ControllerSpec, type ControllerSummary } from './run.ts';
import { buildHouseholdCase, type HouseholdCase } from './scenario.ts';
import { selectRho, validationCounts, type RhoSelection } from './select-rho.ts';

const usage = `usage: prosumer-edge eval [options]
  --data DIR            data folder: buildings/<id>_hourly.csv (+ optional buildings/buildings.csv with
                        battery_capacity_kwh, battery_nominal_power_kw, battery_efficiency) and prices/*.csv
                        (default ../shared/data beside the repository)
  --prices FILE         the price file (default: the only CSV in DIR/prices)
  --out DIR             output folder (default out/eval)
  --households LIST     e.g. residential1,residential2 or 1,2 (default: every building in DIR/buildings)
  --split DATE          fitting and samples before DATE, test days from it (default 2016-07-01, later when
                        the data start too late for it: the output says which)
  --from DATE, --to DATE  test days in [FROM, TO] only (YYYY-MM-DD)
  --days N | FROM..TO   first N test days, or test days in a date range (YYYY-MM-DD..YYYY-MM-DD)
  --stride K            every K-th test day only (default 1)
  --controllers LIST    no-control,rtp-threshold,ce-mpc,saa,dro,perfect-foresight, dro-<ρ>, and the community's
                        community-dro (distributed ADMM), community-central (its joint twin) and
                        community-perfect-foresight (default: all; the community ones at the recommended ρ)
  --rho LIST            the DRO sweep in kW (default 0.001,0.003,0.01,0.03,0.1,0.3)
  --recommended-rho R   the ρ the headline reports (manual override; default: --rho-from, else 0.03)
  --select-rho          validation phase: run SAA and the DRO sweep on the last --validation-days clean days
                        before 2016-07-01 (fitting and samples frozen at the window's first day) and pick ρ
  --validation-days N   length of the validation window in clean days (default 30)
  --confidence C        one-sided Clopper–Pearson level of the selection rule (default 0.8)
  --rho-from DIR        test phase: take the recommended ρ from DIR/rho-selection.json of a --select-rho run
  --samples I           error trajectories per solve (default 20)
  --solver highs|scs    optimizer back end (default highs)
  --time-budget-ms MS   per-solve time budget (default 10000)
  --merge DIR,DIR,...   join the eval.json of runs that split --controllers (same days and households) into --out
  --import-limit peak|connection  what the import chance family protects: the connection G^imp (default,
                        chosen on the validation window) or the billed peak P̄; with the connection the
                        community has no import family of its own (docs/evaluation.md)
  --reclear-hours H     the community controllers clear every H hours from midnight (a divisor of 24;
                        default 24: day-ahead, re-plans in between anchored to it)
  --plan-community-charge C  π^C (EUR/kW·day) the community controllers plan with (default: the
                        scenario's 1.0, which the bill always charges; 0 reproduces planning alone)
  --no-live-community-guard  community-dro/central without the live community guard (on by default, as in
                        the gateways: each hour the batteries with energy to spare also hold the community's
                        coincident import at the day's planned community peak; docs/community-coordination.md)
  --json                one JSON object per controller on stdout (the table goes to stderr)
  -h, --help`;

/** Hours between the community controllers' clearings (24: day-ahead only). */
const defaultReclearEveryHours = 24;
const defaultSweepKw = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3];
const defaultValidationDays = 30;
const defaultConfidence = 0.8;
const selectionFile = 'rho-selection.json';
const steps = 24;
/** π^C of evaluation.md "Additions": EUR per kW of the community's daily coincident peak import. */
const communityChargeEurPerKwDay = 1.0;
/**
 * ε^C of the community import family (formulation.md §8), as the households' import family. It
 * protects the community's billed peak P̄^C, so it is on when the households' families protect
 * theirs (--import-limit peak); with --import-limit connection the rows protect physical limits,
 * and the data name no limit of the community's connection point.
 */
const communityImportEpsilon = 0.05;
/** Wall-clock budget of one perfect-foresight solve (ms). */
const boundTimeBudgetMs = 600_000;

class UsageError extends Error {}

interface Scenario {
  /** 'validation': days before the split, used only to choose ρ; 'test': the days from the split on. */
  phase: 'validation' | 'test';
  /** Fitting and the error-sample store use only hours before this day. */
  fittedBefore: string;
  /** Where the recommended ρ came from: a rho-selection.json, the --recommended-rho override or the default. */
  rhoSource: string;
  confidence: number;
  dataDir: string;
  households: string[];
  testDays: string[];
  cleanTestDays: number;
  droppedDays: { day: string; household: string }[];
  stepHours: number;
  steps: number;
  sampleCount: number;
  solver: string;
  timeBudgetMs: number;
  sweepKw: number[];
  recommendedRhoKw: number;
  epsilon: Partial<Record<ChanceFamily, number>>;
  weights: typeof defaultOptimizerSettings.weights;
  importLimit?: 'peak' | 'connection';
  /** Why the split is where it is (--split, the scenario default, or moved for late data). */
  splitReason?: string;
  pricesFile?: string;
  /** Each household's battery and where it came from. */
  batteries?: Record<string, string>;
  communityChargeEurPerKwDay?: number;
  /** Hours between the community controllers' clearings, and the π^C they plan with. */
  reclearEveryHours?: number;
  plannedCommunityChargeEurPerKwDay?: number;
  /** The community controllers held the coincident import with the live community guard. */
  liveCommunityGuard?: boolean;
}

interface EvalFile {
  scenario: Scenario;
  forecasters: unknown[];
  controllers: ControllerSummary[];
}

/** Table and headline on stdout; eval.json, tradeoff.svg and day.svg in outDir. */
async function report(outDir: string, result: EvalFile, json = false): Promise<void> {
  // With --json the machine-readable lines own stdout; the human-readable report goes to stderr.
  const text = (line: string) => (json ? process.stderr : process.stdout).write(line);
  // eval.json files written before the validation phase existed are test runs with ρ fixed a priori.
  const scenario: Scenario = { ...result.scenario, phase: result.scenario.phase ?? 'test', fittedBefore: result.scenario.fittedBefore ?? isoDay(splitMs), rhoSource: result.scenario.rhoSource ?? 'fixed a priori' };
  const summaries = result.controllers;
  const epsilon = Math.max(...Object.values(scenario.epsilon).map(Number));
  const dayKind = scenario.phase === 'validation' ? 'validation' : 'test';
  text(`\nClosed-loop evaluation (${scenario.phase}, fitting and samples before ${scenario.fittedBefore}): ${scenario.testDays.length} ${dayKind} day(s) ${scenario.testDays[0]}..${scenario.testDays[scenario.testDays.length - 1]} (${scenario.cleanTestDays} clean ${dayKind} days in total), households ${scenario.households.join(', ')}, Δt = 1 h, T = ${scenario.steps}, I = ${scenario.sampleCount}, solver ${scenario.solver}\n\n${formatTable(summaries)}\n\nPer quarter (community; the stored-energy adjustment is in the totals only):\n${formatQuarters(summaries)}\n\n`);
  const vsAlone = formatVsAlone(summaries);
  if (vsAlone) text(`Each household with the community against alone (metered bill, community-charge share included):\n${vsAlone}\n\n`);
  await mkdir(outDir, { recursive: true });
  let recommendedRhoKw = scenario.recommendedRhoKw;
  let selection: RhoSelection | undefined;
  if (scenario.phase === 'validation') {
    const candidates = summaries.filter((s) => s.radiusKw !== undefined).map((s) => ({ radiusKw: s.radiusKw!, controller: s.controller, ...validationCounts(s) }));
    selection = selectRho(candidates, epsilon, scenario.confidence);
    recommendedRhoKw = selection.selectedRhoKw;
    text(`ρ selection on ${scenario.testDays.length} validation day(s) × ${scenario.households.length} household(s): smallest ρ whose one-sided ${selection.confidence * 100} % Clopper–Pearson upper bound on the joint violation is ≤ ε = ${epsilon}\n`);
    text(`${['ρ kW', 'violated / household-days', 'joint viol', `upper ${selection.confidence * 100} %`, 'meets'].join(' | ')}\n`);
    for (const r of selection.rows) text(`${[r.radiusKw, `${r.violatedDays} / ${r.householdDays}`, `${(r.jointViolation * 100).toFixed(1)} %`, `${(r.upperBound * 100).toFixed(1)} %`, r.qualifies ? 'yes' : 'no'].join(' | ')}\n`);
    text(`Selected ρ = ${selection.selectedRhoKw} kW${selection.qualified ? '' : ' (no ρ met the rule: the largest of the sweep)'}\n`);
    await writeFile(join(outDir, selectionFile), `${JSON.stringify({ ...selection, validationDays: scenario.testDays, households: scenario.households, fittedBefore: scenario.fittedBefore }, null, 2)}\n`);
  }
  const recommended = droName(recommendedRhoKw);
  const head = headline(summaries, recommended, epsilon);
  if (scenario.phase === 'test') {
    text(`Recommended ρ = ${recommendedRhoKw} kW (${recommended}, ${scenario.rhoSource}):\n${head.goals.map((g) => `  [${g.met === null ? ' ' : g.met ? 'x' : '!'}] ${g.text}`).join('\n')}\n`);
  }
  for (const s of summaries) {
    const failures = Object.entries(s.solve.failuresByStatus);
    if (failures.length > 0) {
      text(`  ${s.controller}: ${failures.map(([k, v]) => `${v} ${k}`).join(', ')} → fallbacks: ${s.solve.fallbacks.shiftedPlan} shifted plan, ${s.solve.fallbacks.safeRule} safe rule${s.solve.examples.length ? ` (e.g. ${s.solve.examples[0]})` : ''}\n`);
    }
  }
  if (json) for (const s of summaries) process.stdout.write(`${JSON.stringify(jsonLine(s))}\n`);
  const files = ['eval.json', 'tradeoff.svg'];
  await writeFile(join(outDir, 'eval.json'), `${JSON.stringify({ ...result, scenario: { ...scenario, recommendedRhoKw }, ...(selection ? { selection } : { headline: head }) }, null, 2)}\n`);
  if (selection) files.unshift(selectionFile);
  const caption = `prosumer-edge eval (${scenario.phase}): ${scenario.testDays.length} ${dayKind} day(s) from ${scenario.testDays[0]}, ${scenario.households.length} household(s), I = ${scenario.sampleCount}, ${scenario.solver}`;
  await writeFile(join(outDir, 'tradeoff.svg'), tradeoffSvg(summaries, epsilon, caption));
  const none = summaries.find((s) => s.controller === controllerNames.none);
  const after = summaries.find((s) => s.controller === recommended) ?? summaries.find((s) => s.controller !== controllerNames.none);
  if (none && after) {
    // Show the day on which the community peak without control was highest: where peak shaving matters.
    const community = none.hourly.communityImportKw;
    const dayIndex = Math.floor(community.indexOf(Math.max(...community)) / 24);
    await writeFile(join(outDir, 'day.svg'), daySvg(none, after, dayIndex, Date.parse(`${scenario.testDays[dayIndex]}T00:00:00Z`), caption));
    files.push('day.svg');
  }
  text(`\nwrote ${files.map((f) => join(outDir, f)).join(', ')}\n`);
}

/** Joins the eval.json of runs that split the controllers over several processes; they must share the scenario. */
async function merge(dirs: string[], outDir: string, json: boolean): Promise<number> {
  const files = await Promise.all(dirs.map(async (d) => JSON.parse(await readFile(join(d, 'eval.json'), 'utf8')) as EvalFile));
  const first = files[0]!;
  for (const [i, f] of files.entries()) {
    if (JSON.stringify(f.scenario.testDays) !== JSON.stringify(first.scenario.testDays) || JSON.stringify(f.scenario.households) !== JSON.stringify(first.scenario.households) || (f.scenario.phase ?? 'test') !== (first.scenario.phase ?? 'test')) {
      throw new UsageError(`--merge: ${dirs[i]} ran other days, households or phase than ${dirs[0]}`);
    }
  }
  const controllers = new Map<string, ControllerSummary>();
  for (const f of files) for (const c of f.controllers) if (!controllers.has(c.controller)) controllers.set(c.controller, c);
  await report(outDir, { scenario: first.scenario, forecasters: first.forecasters, controllers: [...controllers.values()] }, json);
  return [...controllers.values()].some((s) => s.solve.unhandled > 0) ? 1 : 0;
}

function numberList(text: string, option: string): number[] {
  const values = text.split(',').map((v) => Number(v.trim()));
  if (values.some((v) => !Number.isFinite(v) || v < 0)) throw new UsageError(`--${option}: expected non-negative numbers, got "${text}"`);
  return values;
}

function positiveInt(text: string, option: string): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 1) throw new UsageError(`--${option}: expected a positive integer, got "${text}"`);
  return v;
}

function selectDays(all: number[], daysOption: string | undefined, stride: number): number[] {
  let days = all;
  if (daysOption !== undefined) {
    const range = /^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$/.exec(daysOption);
    if (range) {
      const from = Date.parse(`${range[1]}T00:00:00Z`);
      const to = Date.parse(`${range[2]}T00:00:00Z`);
      days = days.filter((d) => d >= from && d <= to);
    } else {
      days = days.slice(0, positiveInt(daysOption, 'days'));
    }
  }
  return days.filter((_, i) => i % stride === 0);
}

export async function run(args: string[]): Promise<number> {
  let options;
  try {
    options = parseArgs({
      args,
      options: {
        data: { type: 'string' }, out: { type: 'string' }, households: { type: 'string' }, days: { type: 'string' },
        stride: { type: 'string' }, 'reclear-hours': { type: 'string' }, 'no-live-community-guard': { type: 'boolean' }, 'plan-community-charge': { type: 'string' }, controllers: { type: 'string' }, rho: { type: 'string' }, 'recommended-rho': { type: 'string' },
        samples: { type: 'string' }, solver: { type: 'string' }, 'time-budget-ms': { type: 'string' }, merge: { type: 'string' },
        prices: { type: 'string' }, 'import-limit': { type: 'string' }, split: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, json: { type: 'boolean' },
        'select-rho': { type: 'boolean' }, 'validation-days': { type: 'string' }, confidence: { type: 'string' }, 'rho-from': { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${usage}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  try {
    return await evaluate(options);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n${usage}\n`);
      return 2;
    }
    process.stderr.write(`eval failed: ${(error as Error).message}\n`);
    return 1;
  }
}

type Options = Partial<Record<'data' | 'prices' | 'import-limit' | 'split' | 'from' | 'to' | 'out' | 'households' | 'days' | 'stride' | 'controllers' | 'rho' | 'recommended-rho' | 'samples' | 'solver' | 'time-budget-ms' | 'merge' | 'validation-days' | 'confidence' | 'rho-from' | 'reclear-hours' | 'plan-community-charge', string>> & { 'select-rho'?: boolean; json?: boolean; 'no-live-community-guard'?: boolean };

function dateOption(text: string | undefined, option: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(text) ? Date.parse(`${text}T00:00:00Z`) : NaN;
  if (!Number.isFinite(ms)) throw new UsageError(`--${option}: expected a date YYYY-MM-DD, got "${text}"`);
  return ms;
}

/** The recommended ρ of a test run: the manual override, else a validation run's selection, else the a-priori 0.03 kW. */
async function recommendedRho(options: Options): Promise<{ radiusKw: number; source: string }> {
  if (options['recommended-rho']) return { radiusKw: numberList(options['recommended-rho'], 'recommended-rho')[0]!, source: '--recommended-rho override' };
  if (options['rho-from']) {
    const file = join(resolve(options['rho-from']), selectionFile);
    let selection: RhoSelection & { validationDays: string[] };
    try {
      selection = JSON.parse(await readFile(file, 'utf8'));
    } catch (error) {
      throw new UsageError(`--rho-from: cannot read ${file}: ${(error as Error).message}`);
    }
    if (!Number.isFinite(selection.selectedRhoKw)) throw new UsageError(`--rho-from: ${file} has no selectedRhoKw`);
    return { radiusKw: selection.selectedRhoKw, source: `selected on ${selection.validationDays.length} validation days ${selection.validationDays[0]}..${selection.validationDays[selection.validationDays.length - 1]} (${file})` };
  }
  return { radiusKw: 0.03, source: 'fixed a priori' };
}

async function evaluate(options: Options): Promise<number> {
  const dataDir = resolve(options.data ?? defaultDataDir);
  const outDir = resolve(options.out ?? 'out/eval');
  const solver = options.solver ?? 'highs';
  if (solver !== 'highs' && solver !== 'scs') throw new UsageError(`--solver: expected highs or scs, got "${solver}"`);
  const sweepKw = options.rho ? numberList(options.rho, 'rho') : defaultSweepKw;
  const validation = options['select-rho'] === true;
  if (validation && (options['rho-from'] || options['recommended-rho'])) throw new UsageError('--select-rho chooses ρ itself: drop --rho-from / --recommended-rho');
  if (validation && options.days) throw new UsageError('--select-rho: the days are the validation window (--validation-days), not --days');
  const { radiusKw: recommendedRhoKw, source: rhoSource } = await recommendedRho(options);
  const validationDays = options['validation-days'] ? positiveInt(options['validation-days'], 'validation-days') : defaultValidationDays;
  const confidence = options.confidence ? Number(options.confidence) : defaultConfidence;
  if (!(confidence > 0 && confidence < 1)) throw new UsageError(`--confidence: expected a number in (0, 1), got "${options.confidence}"`);
  const sampleCount = options.samples ? positiveInt(options.samples, 'samples') : 20;
  const timeBudgetMs = options['time-budget-ms'] ? positiveInt(options['time-budget-ms'], 'time-budget-ms') : 10_000;
  const stride = options.stride ? positiveInt(options.stride, 'stride') : 1;
  const reclearEveryHours = options['reclear-hours'] ? positiveInt(options['reclear-hours'], 'reclear-hours') : defaultReclearEveryHours;
  const plannedCommunityChargeEurPerKwDay = options['plan-community-charge'] ? Number(options['plan-community-charge']) : communityChargeEurPerKwDay;
  if (!(plannedCommunityChargeEurPerKwDay >= 0)) throw new UsageError(`--plan-community-charge: expected a number ≥ 0, got "${options['plan-community-charge']}"`);
  if (24 % reclearEveryHours !== 0) throw new UsageError(`--reclear-hours: expected a divisor of 24, got ${reclearEveryHours}`);
  if (options.merge) return merge(options.merge.split(',').map((d) => resolve(d.trim())), outDir, options.json === true);
  const available = await discoverHouseholds(dataDir);
  const ids = options.households
    ? options.households.split(',').map((h) => (/^\d+$/.test(h.trim()) ? `residential${h.trim()}` : h.trim()))
    : available;
  for (const id of ids) if (!available.includes(id)) throw new UsageError(`--households: unknown household "${id}" (${join(dataDir, 'buildings')} has ${available.join(', ')})`);
  const requestedSplitMs = dateOption(options.split, 'split');
  const fromMs = dateOption(options.from, 'from');
  const toMs = dateOption(options.to, 'to');

  const importLimit = options['import-limit'] ?? 'connection';
  if (importLimit !== 'peak' && importLimit !== 'connection') throw new UsageError(`--import-limit: expected peak or connection, got "${importLimit}"`);
  const settings: OptimizerSettings = { ...defaultOptimizerSettings, importLimit };
  const jointOver = Object.keys(settings.epsilon) as ChanceFamily[];
  const optimizerFor = () => createOptimizer({ solver, timeBudgetMs });
  // A bound that stops at a time limit is no bound: the clairvoyant plans get minutes, not the gateway's budget.
  const boundBudgetMs = Math.max(timeBudgetMs, boundTimeBudgetMs);
  const boundOptimizer = () => createOptimizer({ solver, timeBudgetMs: boundBudgetMs });
  const specs: ControllerSpec[] = [
    { name: controllerNames.none, create: () => noControl() },
    { name: controllerNames.rtp, create: () => rtpThreshold() },
    { name: controllerNames.ce, create: () => optimizerController({ kind: 'certainty-equivalent' }, optimizerFor(), settings) },
    { name: controllerNames.saa, radiusKw: 0, create: () => optimizerController({ kind: 'dro', radiusKw: 0 }, optimizerFor(), settings) },
    ...sweepKw.map((radiusKw) => ({ name: droName(radiusKw), radiusKw, create: () => optimizerController({ kind: 'dro', radiusKw }, optimizerFor(), settings) })),
    { name: controllerNames.perfect, create: () => perfectForesight(boundOptimizer(), settings) },
    ...(['distributed', 'central', 'perfect-foresight'] as const).map((mode) => ({
      name: { distributed: controllerNames.communityDro, central: controllerNames.communityCentral, 'perfect-foresight': controllerNames.communityPerfect }[mode],
      ...(mode === 'perfect-foresight' ? {} : { radiusKw: recommendedRhoKw, standAlone: () => optimizerController({ kind: 'dro', radiusKw: recommendedRhoKw }, optimizerFor(), settings) }),
      createFleet: (households: readonly HouseholdCase[]) => communityController(mode, households, { peakChargeEurPerKwDay: plannedCommunityChargeEurPerKwDay, importEpsilon: importLimit === 'peak' ? communityImportEpsilon : null, radiusKw: recommendedRhoKw, sampleCount, timeBudgetMs: mode === 'perfect-foresight' ? boundBudgetMs : timeBudgetMs, reclearEveryHours, liveGuard: options['no-live-community-guard'] !== true }, settings, optimizerFor),
    })),
  ];
  // The validation phase only needs the candidates of the rule: SAA (ρ = 0) and the DRO sweep.
  let selected = validation ? specs.filter((s) => s.radiusKw !== undefined && !s.name.startsWith('community-')) : specs;
  if (options.controllers) {
    const wanted = options.controllers.split(',').map((c) => c.trim());
    for (const w of wanted) if (w !== 'dro' && !specs.some((s) => s.name === w)) throw new UsageError(`--controllers: unknown controller "${w}" (have ${specs.map((s) => s.name).join(', ')}, dro)`);
    selected = specs.filter((s) => wanted.includes(s.name) || (wanted.includes('dro') && s.name.startsWith('dro-')));
  }

  const [prices, metadata, ...households] = await Promise.all([loadPrices(dataDir, options.prices), loadBuildingMetadata(dataDir), ...ids.map((id) => loadHousehold(dataDir, id))]);
  const chosen = chooseSplit(households, requestedSplitMs);
  if (fromMs !== undefined && fromMs < chosen.splitMs) throw new UsageError(`--from: ${options.from} lies before the split ${isoDay(chosen.splitMs)}; test days come after fitting`);
  const lastDayMs = Math.min(lastPricedDayMs(prices), lastDataDayMs(households), toMs ?? Infinity);
  const split = validation ? validationWindow(households, validationDays, chosen.splitMs) : { ...testDays(households, lastDayMs, fromMs ?? chosen.splitMs), freezeMs: chosen.splitMs };
  const days = selectDays(split.daysMs, options.days, stride);
  if (days.length === 0) throw new UsageError(`no day selected (clean test days from ${isoDay(fromMs ?? chosen.splitMs)} to ${isoDay(lastDayMs)}: ${split.daysMs.length})`);
  const phase = validation ? 'validation' : 'test';
  process.stderr.write(`[eval] split ${isoDay(chosen.splitMs)} (${chosen.reason}); prices ${prices.file}\n`);
  process.stderr.write(`[eval] ${phase}: ${split.daysMs.length} clean ${phase} days ${isoDay(split.daysMs[0]!)}..${isoDay(split.daysMs[split.daysMs.length - 1]!)} (${split.dropped.length} dropped for flagged or missing rows), fitting and samples before ${isoDay(split.freezeMs)}; running ${days.length} day(s), ${ids.length} household(s), ${selected.length} controller(s), solver ${solver}\n`);
  const cases = households.map((h) => buildHouseholdCase(h, prices, days, { steps, sampleCount, freezeMs: split.freezeMs, battery: batteryOf(metadata.get(h.id)) }));
  for (const c of cases) {
    process.stderr.write(`[eval] ${c.id}: battery ${c.batterySource}; shiftable ${c.shiftableKind} (≤ ${c.maxDelayHours} h), ${c.sampleBankSize} error trajectories before ${isoDay(split.freezeMs)}, forecast MAE kW ${Object.entries(c.forecastParams).map(([k, p]) => `${k} ${p.maeKw.toFixed(3)} (α ${p.smoothing}, w ${p.seasonalWeight}, φ ${p.residualPersistence})`).join(', ')}\n`);
  }

  const total = selected.length * cases.length * days.length * 24;
  const progress = progressLine(total);
  let done = 0;
  const runs: ControllerRun[] = [];
  for (const spec of selected) {
    runs.push(await runController(spec, cases, { batteryWearEurPerKw2h: settings.weights.batteryWearEurPerKw2h, communityChargeEurPerKwDay }, (household) => progress(++done, `${spec.name} ${household}`)));
  }
  const summaries = runs.map((r) => summarise(r, jointOver));
  const scenario: Scenario = { phase, fittedBefore: isoDay(split.freezeMs), rhoSource: validation ? 'chosen by this validation run' : rhoSource, confidence, dataDir, households: ids, testDays: days.map(isoDay), cleanTestDays: split.daysMs.length, droppedDays: split.dropped.map((d) => ({ day: isoDay(d.dayMs), household: d.household })), stepHours: 1, steps, sampleCount, solver, timeBudgetMs, sweepKw, recommendedRhoKw, epsilon: settings.epsilon, weights: settings.weights, importLimit, splitReason: chosen.reason, pricesFile: prices.file, batteries: Object.fromEntries(cases.map((c) => [c.id, c.batterySource])), communityChargeEurPerKwDay, reclearEveryHours, plannedCommunityChargeEurPerKwDay, liveCommunityGuard: options['no-live-community-guard'] !== true };
  const forecasters = cases.map((c) => ({ household: c.id, shiftable: c.shiftableKind, maxDelayHours: c.maxDelayHours, maxDeferredKwh: c.maxDeferredKwh, sampleBankSize: c.sampleBankSize, params: c.forecastParams }));
  await report(outDir, { scenario, forecasters, controllers: summaries }, options.json === true);
  return summaries.some((s) => s.solve.unhandled > 0) ? 1 : 0;
}
