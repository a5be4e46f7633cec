/**
 * Dev tool (not a test): the four real households' day-ahead ProblemInputs (midnight of a test day,
 * Δt = 1 h, T = 24, I = 20, DRO ρ = 0.03), built exactly as the evaluation's optimizer controller
 * builds them, into one JSON fixture for the community tests and benchmark.
 *   npx tsx test/optimizer/community/capture-community-instance.ts OUT.json [DAY_INDEX]   (fixtures: test/optimizer/fixtures/community-day-ahead-DATE.json)
 * Joint samples: the households' sample i as joint sample i. Every household's store ranks the same
 * past days the same way (nearest day of year, then most recent), so sample i is the same past day
 * for all of them unless a household lacks that day's trajectory (a gap in its data).
 * Reads the eval/forecast/data modules, never changes them.
 */
import { writeFileSync } from 'node:fs';
import { DAY_MS, defaultDataDir, HOUR_MS, householdIds, loadHousehold, loadPrices } from '../../../src/data/households.ts';
import { testDays } from '../../../src/data/split.ts';
import type { DecisionContext } from '../../../src/eval/controller.ts';
import { defaultOptimizerSettings, forecastHorizon, householdInput } from '../../../src/eval/controllers/optimizer.ts';
import { buildHouseholdCase } from '../../../src/eval/scenario.ts';

const [out = '/tmp/community-instance.json', dayText = '0'] = process.argv.slice(2);
const prices = await loadPrices(defaultDataDir);
const households = await Promise.all(householdIds.map((id) => loadHousehold(defaultDataDir, id)));
const pricesEndMs = prices.startMs + prices.dayAheadEurPerMwh.length * HOUR_MS;
const lastDayMs = Math.floor(pricesEndMs / DAY_MS) * DAY_MS - 2 * DAY_MS;
const day = testDays(households, lastDayMs).daysMs[Number(dayText)]!;
const inputs = households.map((series) => {
  const household = buildHouseholdCase(series, prices, [day], { steps: 24, sampleCount: 20 });
  const hour = household.days[0]!.hours[0]!;
  const context: DecisionContext = {
    household,
    hour,
    hourOfDay: 0,
    energyKwh: household.initialEnergyKwh,
    deferredKwh: 0,
    deadlinesKwh: new Array<number>(24).fill(0),
    peakSoFarKw: 0,
    communityPeakSoFarKw: 0,
  };
  return householdInput(context, forecastHorizon(context, { kind: 'dro', radiusKw: 0.03 }), defaultOptimizerSettings);
});
const round = (v: unknown): unknown => (typeof v === 'number' ? Math.round(v * 1e4) / 1e4 : Array.isArray(v) ? v.map(round) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, round(x)])) : v);
writeFileSync(
  out,
  JSON.stringify({
    source: `day-ahead inputs of households ${householdIds.join(', ')} at midnight of ${new Date(day).toISOString().slice(0, 10)} (closed-loop eval construction, DRO ρ = 0.03), numbers rounded to 4 decimals`,
    households: round(inputs),
  }),
);
process.stdout.write(`wrote ${out}: ${inputs.length} households, day ${new Date(day).toISOString().slice(0, 10)}\n`);
