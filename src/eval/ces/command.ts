/**
 * `prosumer-edge ces`: the cloud energy storage evaluation of docs/ces.md on the real households —
 * (a) no storage, (b) own batteries, (c) renting from the CES, (d) both, at every risk weight, and
 * the CES trading alone. Tables on stdout (stderr with --json), ces.json in --out.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultCesSettings, validateCesSettings } from '../../ces/settings.ts';
import { batteryOf } from '../../data/assets.ts';
import { defaultDataDir, discoverHouseholds, loadBuildingMetadata, loadHousehold, loadPrices } from '../../data/households.ts';
import { tariffParams } from '../../data/tariff.ts';
import { chooseSplit, isoDay, lastDataDayMs, lastPricedDayMs, testDays } from '../../data/split.ts';
import { defaultOptimizerSettings } from '../../optimizer/settings.ts';
import { buildHouseholdCase } from '../scenario.ts';
import { formatCesTables } from './report.ts';
import { runCesEvaluation, standardSetups } from './run.ts';

const usage = `usage: prosumer-edge ces [options]
  --data DIR             data folder as for eval (default ../shared/data)
  --prices FILE          the price file (default: the only CSV in DIR/prices)
  --households LIST      e.g. 1,2 or residential1 (default: every building)
  --split DATE           fitting before DATE, test days from it (default 2016-07-01)
  --from DATE, --to DATE test days in [FROM, TO] only
  --days N               the first N test days
  --stride K             every K-th test day (default 1)
  --risk-weights LIST    λ of E[profit] + λ·CVaR (default 0,0.5,2,8)
  --confidence A         α of the CVaR (default ${defaultCesSettings.confidence})
  --scenario-days N      past days whose prices are the CES's scenarios (default 28)
  --degradation EUR      the CES's degradation cost per kWh of throughput (default ${defaultCesSettings.degradationEurPerKwh})
  --account-fee EUR      fee per kWh taken out of a rented account (default the local P2P grid fee, ${tariffParams.p2pGridFeeEurPerKwh})
  --out DIR              output folder (default out/ces): ces.json
  --json                 the result as JSON on stdout (tables to stderr)
  -h, --help`;

class UsageError extends Error {}

const numberList = (text: string, option: string): number[] =>
  text.split(',').map((v) => {
    const n = Number(v.trim());
    if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${option}: expected numbers ≥ 0, got "${v}"`);
    return n;
  });
const positiveInt = (text: string, option: string): number => {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 1) throw new UsageError(`--${option}: expected a positive integer, got "${text}"`);
  return v;
};
const dateOption = (text: string | undefined, option: string): number | undefined => {
  if (text === undefined) return undefined;
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(text) ? Date.parse(`${text}T00:00:00Z`) : NaN;
  if (!Number.isFinite(ms)) throw new UsageError(`--${option}: expected a date YYYY-MM-DD, got "${text}"`);
  return ms;
};

export async function run(args: string[]): Promise<number> {
  try {
    return await evaluate(args);
  } catch (error) {
    if (error instanceof UsageError || (error instanceof TypeError && 'code' in error)) {
      process.stderr.write(`${error.message}\n${usage}\n`);
      return 2;
    }
    throw error;
  }
}

async function evaluate(args: string[]): Promise<number> {
  const { values: o } = parseArgs({
    args,
    options: {
      data: { type: 'string' }, prices: { type: 'string' }, households: { type: 'string' }, split: { type: 'string' },
      from: { type: 'string' }, to: { type: 'string' }, days: { type: 'string' }, stride: { type: 'string' },
      'risk-weights': { type: 'string' }, confidence: { type: 'string' }, 'scenario-days': { type: 'string' }, degradation: { type: 'string' }, 'account-fee': { type: 'string' },
      out: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (o.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const dataDir = resolve(o.data ?? defaultDataDir);
  const riskWeights = o['risk-weights'] ? numberList(o['risk-weights'], 'risk-weights') : [0, 0.5, 2, 8];
  const ces = { ...defaultCesSettings, ...(o.confidence ? { confidence: Number(o.confidence) } : {}), ...(o.degradation ? { degradationEurPerKwh: Number(o.degradation) } : {}) };
  const withdrawalFeeEurPerKwh = o['account-fee'] ? numberList(o['account-fee'], 'account-fee')[0]! : tariffParams.p2pGridFeeEurPerKwh;
  try {
    validateCesSettings(ces, '--confidence/--degradation');
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const scenarioDays = o['scenario-days'] ? positiveInt(o['scenario-days'], 'scenario-days') : 28;
  const stride = o.stride ? positiveInt(o.stride, 'stride') : 1;
  const available = await discoverHouseholds(dataDir);
  const ids = o.households ? o.households.split(',').map((h) => (/^\d+$/.test(h.trim()) ? `residential${h.trim()}` : h.trim())) : available;
  for (const id of ids) if (!available.includes(id)) throw new UsageError(`--households: unknown household "${id}" (${join(dataDir, 'buildings')} has ${available.join(', ')})`);
  const fromMs = dateOption(o.from, 'from');
  const toMs = dateOption(o.to, 'to');

  const [prices, metadata, ...households] = await Promise.all([loadPrices(dataDir, o.prices), loadBuildingMetadata(dataDir), ...ids.map((id) => loadHousehold(dataDir, id))]);
  const split = chooseSplit(households, dateOption(o.split, 'split'));
  if (fromMs !== undefined && fromMs < split.splitMs) throw new UsageError(`--from: ${o.from} lies before the split ${isoDay(split.splitMs)}`);
  const lastDayMs = Math.min(lastPricedDayMs(prices), lastDataDayMs(households), toMs ?? Infinity);
  const clean = testDays(households, lastDayMs, fromMs ?? split.splitMs);
  const days = clean.daysMs.slice(0, o.days ? positiveInt(o.days, 'days') : undefined).filter((_, i) => i % stride === 0);
  if (days.length === 0) throw new UsageError('no test day selected');
  const log = (text: string) => process.stderr.write(text);
  log(`[ces] split ${isoDay(split.splitMs)} (${split.reason}); ${days.length} of ${clean.daysMs.length} clean test days ${isoDay(days[0]!)}..${isoDay(days[days.length - 1]!)}; households ${ids.join(', ')}; risk weights ${riskWeights.join(', ')}; α ${ces.confidence}; ${scenarioDays} price scenarios\n`);
  const cases = households.map((h) => buildHouseholdCase(h, prices, days, { steps: 24, sampleCount: 1, freezeMs: split.splitMs, battery: batteryOf(metadata.get(h.id)) }));
  const started = Date.now();
  const evaluation = await runCesEvaluation(cases, prices, standardSetups(riskWeights), riskWeights, {
    ces, scenarioDays, batteryWearEurPerKw2h: defaultOptimizerSettings.weights.batteryWearEurPerKw2h, communityChargeEurPerKwDay: 1.0, withdrawalFeeEurPerKwh,
  }, (done, total) => log(`\r[ces] day ${done}/${total}, ${((Date.now() - started) / 1000).toFixed(0)} s`));
  log('\n');
  const tables = `CES evaluation: ${days.length} test day(s) ${isoDay(days[0]!)}..${isoDay(days[days.length - 1]!)} (stride ${stride}), ${ids.length} household(s), CES ${ces.capacityKwh} kWh / ${ces.powerKw} kW, η ${ces.roundTripEfficiency}, degradation ${ces.degradationEurPerKwh} €/kWh, account fee ${withdrawalFeeEurPerKwh} €/kWh, P2P markup ${ces.p2pMarkupEurPerKwh} €/kWh, α ${ces.confidence}, ${scenarioDays} price scenarios, ${((Date.now() - started) / 1000).toFixed(0)} s\n\n${formatCesTables(evaluation)}\n`;
  const outDir = resolve(o.out ?? 'out/ces');
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'ces.json'), `${JSON.stringify({ settings: { ces, scenarioDays, riskWeights }, days: days.map(isoDay), households: ids, ...evaluation }, null, 1)}\n`);
  if (o.json) {
    log(tables);
    process.stdout.write(`${JSON.stringify({ days: days.map(isoDay), setups: evaluation.setups.map((s) => ({ setup: s.setup.name, communityBillEur: s.communityBillEur, avgDailyPeakKw: s.kpis.avgDailyPeakKw, households: Object.fromEntries(s.households.map((h) => [h.id, h.bill.total])) })) })}\n`);
  } else {
    process.stdout.write(tables);
  }
  return 0;
}
