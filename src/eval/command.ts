/**
 * `prosumer-edge eval`: the closed-loop evaluation of ../shared/docs/evaluation.md on the real
 * data — every controller, every test day, the table on stdout, JSON and SVG figures in --out.
 * docs/evaluation.md explains every option and number.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DAY_MS, defaultDataDir, HOUR_MS, householdIds, loadHousehold, loadPrices } from '../data/households.ts';
import { isoDay, splitMs, testDays } from '../data/split.ts';
import { createOptimizer, type ChanceFamily } from '../optimizer/index.ts';
import { noControl } from './controllers/no-control.ts';
import { defaultOptimizerSettings, optimizerController } from './controllers/optimizer.ts';
import { rtpThreshold } from './controllers/rtp-threshold.ts';
import { progressLine } from './progress.ts';
import { controllerNames, daySvg, droName, formatTable, headline, tradeoffSvg } from './report.ts';
import { runController, summarise, type ControllerRun, type ControllerSpec, type ControllerSummary } from './run.ts';
import { buildHouseholdCase } from './scenario.ts';

const usage = `usage: prosumer-edge eval [options]
  --data DIR            shared data folder (default ../shared/data beside the repository)
  --out DIR             output folder (default out/eval)
  --households LIST     e.g. residential1,residential2 or 1,2 (default: all four)
  --days N | FROM..TO   first N test days, or test days in a date range (YYYY-MM-DD..YYYY-MM-DD)
  --stride K            every K-th test day only (default 1)
  --controllers LIST    no-control,rtp-threshold,ce-mpc,saa,dro,perfect-foresight or dro-<ρ> (default: all)
  --rho LIST            the DRO sweep in kW (default 0.001,0.003,0.01,0.03,0.1,0.3)
  --recommended-rho R   the ρ the headline reports (default 0.03, fixed before any test run)
  --samples I           error trajectories per solve (default 20)
  --solver highs|scs    optimizer back end (default highs)
  --time-budget-ms MS   per-solve time budget (default 10000)
  --merge DIR,DIR,...   join the eval.json of runs that split --controllers (same days and households) into --out
  -h, --help`;

const defaultSweepKw = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3];
const steps = 24;

class UsageError extends Error {}

interface Scenario {
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
}

interface EvalFile {
  scenario: Scenario;
  forecasters: unknown[];
  controllers: ControllerSummary[];
}

/** Table and headline on stdout; eval.json, tradeoff.svg and day.svg in outDir. */
async function report(outDir: string, result: EvalFile): Promise<void> {
  const { scenario, controllers: summaries } = result;
  const epsilon = Math.max(...Object.values(scenario.epsilon).map(Number));
  const recommended = droName(scenario.recommendedRhoKw);
  const head = headline(summaries, recommended, epsilon);
  process.stdout.write(`\nClosed-loop evaluation: ${scenario.testDays.length} test day(s) (${scenario.cleanTestDays} clean test days in total), households ${scenario.households.join(', ')}, Δt = 1 h, T = ${scenario.steps}, I = ${scenario.sampleCount}, solver ${scenario.solver}\n\n${formatTable(summaries)}\n\n`);
  process.stdout.write(`Recommended ρ = ${scenario.recommendedRhoKw} kW (${recommended}):\n${head.goals.map((g) => `  [${g.met === null ? ' ' : g.met ? 'x' : '!'}] ${g.text}`).join('\n')}\n`);
  for (const s of summaries) {
    const failures = Object.entries(s.solve.failuresByStatus);
    if (failures.length > 0) {
      process.stdout.write(`  ${s.controller}: ${failures.map(([k, v]) => `${v} ${k}`).join(', ')} → fallbacks: ${s.solve.fallbacks.shiftedPlan} shifted plan, ${s.solve.fallbacks.safeRule} safe rule${s.solve.examples.length ? ` (e.g. ${s.solve.examples[0]})` : ''}\n`);
    }
  }
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'eval.json'), `${JSON.stringify({ ...result, headline: head }, null, 2)}\n`);
  const caption = `prosumer-edge eval: ${scenario.testDays.length} test day(s) from ${scenario.testDays[0]}, ${scenario.households.length} household(s), I = ${scenario.sampleCount}, ${scenario.solver}`;
  const files = ['eval.json', 'tradeoff.svg'];
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
  process.stdout.write(`\nwrote ${files.map((f) => join(outDir, f)).join(', ')}\n`);
}

/** Joins the eval.json of runs that split the controllers over several processes; they must share the scenario. */
async function merge(dirs: string[], outDir: string): Promise<number> {
  const files = await Promise.all(dirs.map(async (d) => JSON.parse(await readFile(join(d, 'eval.json'), 'utf8')) as EvalFile));
  const first = files[0]!;
  for (const [i, f] of files.entries()) {
    if (JSON.stringify(f.scenario.testDays) !== JSON.stringify(first.scenario.testDays) || JSON.stringify(f.scenario.households) !== JSON.stringify(first.scenario.households)) {
      throw new UsageError(`--merge: ${dirs[i]} ran other days or households than ${dirs[0]}`);
    }
  }
  const controllers = new Map<string, ControllerSummary>();
  for (const f of files) for (const c of f.controllers) if (!controllers.has(c.controller)) controllers.set(c.controller, c);
  await report(outDir, { scenario: first.scenario, forecasters: first.forecasters, controllers: [...controllers.values()] });
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
        stride: { type: 'string' }, controllers: { type: 'string' }, rho: { type: 'string' }, 'recommended-rho': { type: 'string' },
        samples: { type: 'string' }, solver: { type: 'string' }, 'time-budget-ms': { type: 'string' }, merge: { type: 'string' }, help: { type: 'boolean', short: 'h' },
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

type Options = Partial<Record<'data' | 'out' | 'households' | 'days' | 'stride' | 'controllers' | 'rho' | 'recommended-rho' | 'samples' | 'solver' | 'time-budget-ms' | 'merge', string>>;

async function evaluate(options: Options): Promise<number> {
  const dataDir = resolve(options.data ?? defaultDataDir);
  const outDir = resolve(options.out ?? 'out/eval');
  const solver = options.solver ?? 'highs';
  if (solver !== 'highs' && solver !== 'scs') throw new UsageError(`--solver: expected highs or scs, got "${solver}"`);
  const sweepKw = options.rho ? numberList(options.rho, 'rho') : defaultSweepKw;
  const recommendedRhoKw = options['recommended-rho'] ? numberList(options['recommended-rho'], 'recommended-rho')[0]! : 0.03;
  const sampleCount = options.samples ? positiveInt(options.samples, 'samples') : 20;
  const timeBudgetMs = options['time-budget-ms'] ? positiveInt(options['time-budget-ms'], 'time-budget-ms') : 10_000;
  const stride = options.stride ? positiveInt(options.stride, 'stride') : 1;
  if (options.merge) return merge(options.merge.split(',').map((d) => resolve(d.trim())), outDir);
  const ids = options.households
    ? options.households.split(',').map((h) => (/^\d+$/.test(h.trim()) ? `residential${h.trim()}` : h.trim()))
    : [...householdIds];
  for (const id of ids) if (!(householdIds as readonly string[]).includes(id)) throw new UsageError(`--households: unknown household "${id}" (have ${householdIds.join(', ')})`);

  const settings = defaultOptimizerSettings;
  const jointOver = Object.keys(settings.epsilon) as ChanceFamily[];
  const optimizerFor = () => createOptimizer({ solver, timeBudgetMs });
  const specs: ControllerSpec[] = [
    { name: controllerNames.none, create: () => noControl() },
    { name: controllerNames.rtp, create: () => rtpThreshold() },
    { name: controllerNames.ce, create: () => optimizerController({ kind: 'certainty-equivalent' }, optimizerFor(), settings) },
    { name: controllerNames.saa, radiusKw: 0, create: () => optimizerController({ kind: 'dro', radiusKw: 0 }, optimizerFor(), settings) },
    ...sweepKw.map((radiusKw) => ({ name: droName(radiusKw), radiusKw, create: () => optimizerController({ kind: 'dro', radiusKw }, optimizerFor(), settings) })),
    { name: controllerNames.perfect, create: () => optimizerController({ kind: 'perfect-foresight' }, optimizerFor(), settings) },
  ];
  let selected = specs;
  if (options.controllers) {
    const wanted = options.controllers.split(',').map((c) => c.trim());
    for (const w of wanted) if (w !== 'dro' && !specs.some((s) => s.name === w)) throw new UsageError(`--controllers: unknown controller "${w}" (have ${specs.map((s) => s.name).join(', ')}, dro)`);
    selected = specs.filter((s) => wanted.includes(s.name) || (wanted.includes('dro') && s.name.startsWith('dro-')));
  }

  const [prices, ...households] = await Promise.all([loadPrices(dataDir), ...ids.map((id) => loadHousehold(dataDir, id))]);
  // The last hour's 24 h horizon needs day-ahead prices: the last test day is the day before the prices end.
  const pricesEndMs = prices!.startMs + prices!.dayAheadEurPerMwh.length * HOUR_MS;
  const lastDayMs = Math.floor(pricesEndMs / DAY_MS) * DAY_MS - 2 * DAY_MS;
  const split = testDays(households, lastDayMs);
  const days = selectDays(split.daysMs, options.days, stride);
  if (days.length === 0) throw new UsageError('no test day selected');
  process.stderr.write(`[eval] ${split.daysMs.length} clean test days from ${isoDay(splitMs)} to ${isoDay(lastDayMs)} (${split.dropped.length} dropped for flagged or missing rows); running ${days.length} day(s), ${ids.length} household(s), ${selected.length} controller(s), solver ${solver}\n`);
  const cases = households.map((h) => buildHouseholdCase(h, prices!, days, { steps, sampleCount }));
  for (const c of cases) {
    process.stderr.write(`[eval] ${c.id}: shiftable ${c.shiftableKind} (≤ ${c.maxDelayHours} h), ${c.sampleBankSize} error trajectories before the split, forecast MAE kW ${Object.entries(c.forecastParams).map(([k, p]) => `${k} ${p.maeKw.toFixed(3)} (α ${p.smoothing}, w ${p.seasonalWeight})`).join(', ')}\n`);
  }

  const total = selected.length * cases.length * days.length * 24;
  const progress = progressLine(total);
  let done = 0;
  const runs: ControllerRun[] = [];
  for (const spec of selected) {
    runs.push(await runController(spec, cases, settings.weights.batteryWearEurPerKw2h, (household) => progress(++done, `${spec.name} ${household}`)));
  }
  const summaries = runs.map((r) => summarise(r, jointOver));
  const scenario: Scenario = { dataDir, households: ids, testDays: days.map(isoDay), cleanTestDays: split.daysMs.length, droppedDays: split.dropped.map((d) => ({ day: isoDay(d.dayMs), household: d.household })), stepHours: 1, steps, sampleCount, solver, timeBudgetMs, sweepKw, recommendedRhoKw, epsilon: settings.epsilon, weights: settings.weights };
  const forecasters = cases.map((c) => ({ household: c.id, shiftable: c.shiftableKind, maxDelayHours: c.maxDelayHours, maxDeferredKwh: c.maxDeferredKwh, sampleBankSize: c.sampleBankSize, params: c.forecastParams }));
  await report(outDir, { scenario, forecasters, controllers: summaries });
  return summaries.some((s) => s.solve.unhandled > 0) ? 1 : 0;
}
