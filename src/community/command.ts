/**
 * `prosumer-edge community` (`npm start`): the community run of src/community/runner.ts; the
 * summary table on stdout (or the summary as JSON with --json, the progress bar then on
 * stderr), the report's path last. Exit 0 when every gateway ran to the end, 1 when one
 * crashed (the others are still summarised), 130 when stopped with Ctrl-C, 2 on bad options.
 */
import { parseArgs } from 'node:util';
import { runCommunity, type CommunityOptions } from './runner.ts';
import { formatSummary } from './report.ts';

/**
 * Without --days, --start or --all: a week of November, when the evenings' coincident peaks are
 * what the community coordinates, in a few minutes; --all is the evaluation's 160 test days.
 */
const defaultStartDay = '2016-11-01';
const defaultDays = 7;

const usage = `usage: prosumer-edge community [options]
  (no option: the ${defaultDays} test days from ${defaultStartDay}, a few minutes; --all: every test day)
  --all           run every test day of ../shared/docs/evaluation.md in the shipped data (160 days)
  --days N        run the first N test days (from --start, or from the first test day)
  --start DAY     take test days from DAY on (YYYY-MM-DD)
  --speed S       simulated seconds per wall-clock second, paced by the wall clock (default: lock-step
                  time — it advances when every gateway has finished its step, as fast as the CPU allows,
                  and the figures do not depend on the machine's load)
  --out DIR       runs go to DIR/<timestamp>/ (default out/community)
  --data DIR      data in the layout of ../shared/data (default data/community)
  --community-chance EPS
                  switch the community import chance family on at ε = EPS (0 < EPS < 1): the gateways
                  plan the community's import against its peak with probability 1 − EPS over their joint
                  forecast errors (market.communityImportChance; off by default; docs/community-coordination.md)
  --no-live-guard the gateways do not exchange their imports every fast period: each battery guards its own
                  meter only (market.communityGuard: false; the live community guard is on by default;
                  docs/community-coordination.md)
  --samples I     forecast-error trajectories per solve (control.samples, default 20): fewer solve faster,
                  on a weaker distributional-robustness sample (the evaluation's --samples)
  --ces           add the cloud energy storage operator (prosumer-edge ces-agent, 100 kWh / 50 kW): it
                  rents capacity to the households each day; the report shows the rental market
                  (lock-step time only; docs/ces.md §5)
  --json          print the summary as JSON (progress on stderr)
  -h, --help`;

export async function run(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        days: { type: 'string' }, start: { type: 'string' }, speed: { type: 'string' }, out: { type: 'string' }, data: { type: 'string' },
        'community-chance': { type: 'string' }, 'no-live-guard': { type: 'boolean' }, samples: { type: 'string' }, all: { type: 'boolean' }, json: { type: 'boolean' }, ces: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${usage}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const options: CommunityOptions = { progress: values.json ? process.stderr : process.stdout };
  if (values.all && (values.days !== undefined || values.start !== undefined)) return usageError('--all runs every test day: drop --days / --start');
  if (!values.all && values.days === undefined && values.start === undefined) {
    options.startDay = defaultStartDay;
    options.days = defaultDays;
  }
  if (values.days !== undefined) {
    const days = Number(values.days);
    if (!Number.isInteger(days) || days < 1) return usageError(`--days: expected a positive integer, got "${values.days}"`);
    options.days = days;
  }
  if (values.speed !== undefined) {
    const speed = Number(values.speed);
    if (!(speed > 0)) return usageError(`--speed: expected a number > 0, got "${values.speed}"`);
    options.speed = speed;
  }
  if (values.start !== undefined) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(values.start) || Number.isNaN(Date.parse(`${values.start}T00:00:00Z`))) return usageError(`--start: expected a day YYYY-MM-DD, got "${values.start}"`);
    options.startDay = values.start;
  }
  if (values['community-chance'] !== undefined) {
    const epsilon = Number(values['community-chance']);
    if (!(epsilon > 0 && epsilon < 1)) return usageError(`--community-chance: expected ε with 0 < ε < 1, got "${values['community-chance']}"`);
    options.communityImportEpsilon = epsilon;
  }
  if (values['no-live-guard']) options.liveGuard = false;
  if (values.samples !== undefined) {
    const samples = Number(values.samples);
    if (!Number.isInteger(samples) || samples < 1 || samples > 1000) return usageError(`--samples: expected an integer from 1 to 1000, got "${values.samples}"`);
    options.samples = samples;
  }
  if (values.ces) {
    if (options.speed !== undefined) return usageError('--ces runs on lock-step time: drop --speed');
    options.ces = true;
  }
  if (values.out !== undefined) options.outDir = values.out;
  if (values.data !== undefined) options.dataDir = values.data;

  const stop = new AbortController();
  // Ctrl-C reaches the gateways too (same process group); the runner also stops them and still reports.
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const summary = await runCommunity({ ...options, signal: stop.signal });
    if (values.json) process.stdout.write(`${JSON.stringify(summary, null, 1)}\n`);
    else process.stdout.write(`\n${formatSummary(summary)}\n\nreport: ${summary.reportFile}\n`);
    if (values.json) process.stderr.write(`report: ${summary.reportFile}\n`);
    if (summary.interrupted) return 130;
    return summary.gateways.some((g) => g.status !== 'ok') || (summary.ces !== undefined && summary.ces.outcome.status !== 'ok') ? 1 : 0;
  } catch (error) {
    process.stderr.write(`community run failed: ${(error as Error).message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function usageError(message: string): number {
  process.stderr.write(`${message}\n${usage}\n`);
  return 2;
}
