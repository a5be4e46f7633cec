/**
 * Dev tool (not a test): replays the closed-loop evaluation's optimizer controllers on real data
 * and writes every ProblemInput the optimizer was given, with the outcome, to a JSON-lines file.
 * That is how test/optimizer/fixtures/eval-*.json were captured.
 *   npx tsx test/optimizer/capture-eval-instances.ts OUT.jsonl DAYS CONTROLLER[,CONTROLLER...]
 * CONTROLLER: saa or dro-<ρ>. Reads the eval/forecast/data modules, never changes them.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { DAY_MS, defaultDataDir, HOUR_MS, householdIds, loadHousehold, loadPrices } from '../../src/data/households.ts';
import { testDays } from '../../src/data/split.ts';
import { defaultOptimizerSettings, optimizerController } from '../../src/eval/controllers/optimizer.ts';
import { runController } from '../../src/eval/run.ts';
import { buildHouseholdCase } from '../../src/eval/scenario.ts';
import { createOptimizer } from '../../src/optimizer/index.ts';

const [out = '/tmp/eval-instances.jsonl', daysText = '10', controllersText = 'saa,dro-0.03'] = process.argv.slice(2);
const timeBudgetMs = Number(process.env.TIME_BUDGET_MS ?? 2000);
writeFileSync(out, '');
const prices = await loadPrices(defaultDataDir);
const households = await Promise.all(householdIds.map((id) => loadHousehold(defaultDataDir, id)));
const pricesEndMs = prices.startMs + prices.dayAheadEurPerMwh.length * HOUR_MS;
const lastDayMs = Math.floor(pricesEndMs / DAY_MS) * DAY_MS - 2 * DAY_MS;
const days = testDays(households, lastDayMs).daysMs.slice(0, Number(daysText));
const cases = households.map((h) => buildHouseholdCase(h, prices, days, { steps: 24, sampleCount: 20 }));
for (const name of controllersText.split(',')) {
  const radiusKw = name === 'saa' ? 0 : Number(name.slice(4));
  let failures = 0;
  let step = 0;
  const run = await runController(
    {
      name,
      radiusKw,
      create: (household) => {
        const optimizer = createOptimizer({ timeBudgetMs });
        const recorder = {
          async solve(input: Parameters<typeof optimizer.solve>[0], options?: { startMs?: number }) {
            const result = await optimizer.solve(input, options);
            const outcome = result.ok
              ? { ok: true, solver: result.plan.solver.name, solveMs: result.plan.solver.solveMs, objectiveEur: result.plan.objectiveEur }
              : { ok: false, status: result.status, message: result.message, solveMs: result.solveMs };
            if (!result.ok || result.plan.solver.name !== 'highs') failures++;
            appendFileSync(out, `${JSON.stringify({ controller: name, household: household.id, step: step++, input, outcome })}\n`);
            return result;
          },
          dispose: () => optimizer.dispose(),
        };
        return optimizerController({ kind: 'dro', radiusKw }, recorder, defaultOptimizerSettings);
      },
    },
    cases,
    defaultOptimizerSettings.weights.batteryWearEurPerKw2h,
    () => {},
  );
  const solves = run.households.flatMap((h) => h.solves);
  process.stdout.write(`${name}: ${solves.length} solves, ${solves.filter((s) => s.fallback).length} fallbacks, ${failures} not solved by HiGHS alone\n`);
}
