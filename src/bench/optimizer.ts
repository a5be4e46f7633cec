/**
 * `bench optimizer`: per-step solve time of each solver on the formulation's model, cold (a fresh
 * optimizer per solve) and warm (one optimizer over a receding horizon: the start hour moves one
 * step per solve, the battery starts where the previous plan's first step left it), plus WebAssembly
 * memory and process RSS. Data: src/optimizer/synthetic.ts (a plausible household; the sample set
 * is the gateway's, refreshed daily, so it keeps its seed across steps).
 */
import { createOptimizer, type Optimizer, type SolverName } from '../optimizer/index.ts';
import { MOVE_BLOCKED_STEP_HOURS, syntheticInput } from '../optimizer/synthetic.ts';
import { report, type BenchOptions } from './report.ts';

interface Case {
  name: string;
  stepHours: number[];
  samples: number;
  /** Goal on the warm median (ms), where the issue names one. */
  warmGoalMs?: number;
  /** Cases too slow to repeat much with SCS cold. */
  heavy?: boolean;
}

const CASES: Case[] = [
  { name: 'T24-I20', stepHours: new Array<number>(24).fill(1), samples: 20 },
  { name: 'T24-I50', stepHours: new Array<number>(24).fill(1), samples: 50, warmGoalMs: 100 },
  { name: 'T96-I20', stepHours: new Array<number>(96).fill(0.25), samples: 20, heavy: true },
  { name: 'T96-I50', stepHours: new Array<number>(96).fill(0.25), samples: 50, heavy: true },
  { name: 'runtime-T30-I24', stepHours: MOVE_BLOCKED_STEP_HOURS, samples: 24, warmGoalMs: 200 },
];

const quantile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};

function inputAt(c: Case, step: number, energyKwh: number): ReturnType<typeof syntheticInput> {
  return syntheticInput({ stepHours: c.stepHours, samples: c.samples, startHour: 15 + step * c.stepHours[0]!, seed: 11, initialEnergyKwh: energyKwh });
}

interface Run {
  times: number[];
  failures: number;
  rescued: number;
}

async function solveStep(optimizer: Optimizer, c: Case, step: number, energyKwh: number, run: Run): Promise<number> {
  const input = inputAt(c, step, energyKwh);
  const started = performance.now();
  const result = await optimizer.solve(input, { startMs: step * c.stepHours[0]! * 3_600_000 });
  run.times.push(performance.now() - started);
  if (!result.ok) {
    run.failures++;
    return energyKwh;
  }
  if (result.plan.solver.name !== optimizer.solver) run.rescued++;
  return result.plan.energyKwh[1]!;
}

export async function runBench(options: BenchOptions): Promise<void> {
  const solvers: SolverName[] = ['highs', 'scs'];
  const cases = options.quick ? CASES.filter((c) => c.name === 'T24-I20' || c.name.startsWith('runtime')) : CASES;
  const timeBudgetMs = 120_000;
  // The first solves in a process are slower while V8 compiles the WebAssembly: warm both up.
  for (const solver of solvers) {
    const warmUp = createOptimizer({ solver, timeBudgetMs });
    for (let k = 0; k < 3; k++) await warmUp.solve(inputAt(CASES[0]!, k, 5));
    warmUp.dispose();
  }
  for (const c of cases) {
    for (const solver of solvers) {
      const params = { solver, case: c.name, T: c.stepHours.length, I: c.samples };
      // Cold and warm solve the same receding sequence: the warm optimizer carries its state from
      // step to step, the cold one is created afresh for each of the first `coldSteps` steps.
      const steps = options.quick ? 4 : c.heavy ? 6 : 16;
      const coldSteps = options.quick || c.heavy ? 2 : steps;
      const cold: Run = { times: [], failures: 0, rescued: 0 };
      const warm: Run = { times: [], failures: 0, rescued: 0 };
      const optimizer = createOptimizer({ solver, timeBudgetMs });
      let energyKwh = 5;
      for (let step = 0; step < steps; step++) {
        if (step > 0 && step <= coldSteps) {
          const fresh = createOptimizer({ solver, timeBudgetMs });
          await solveStep(fresh, c, step, energyKwh, cold);
          fresh.dispose();
        }
        energyKwh = await solveStep(optimizer, c, step, energyKwh, warm);
      }
      // The first receding solve is cold; the figures are for the warm ones.
      const warmTimes = warm.times.slice(1);
      report(options, { suite: 'optimizer', metric: 'cold solve median', value: quantile(cold.times, 0.5), unit: 'ms', params });
      report(options, { suite: 'optimizer', metric: 'warm step median', value: quantile(warmTimes, 0.5), unit: 'ms', params, ...(c.warmGoalMs !== undefined ? { goal: { op: '<=', value: c.warmGoalMs } } : {}) });
      report(options, { suite: 'optimizer', metric: 'warm step p95', value: quantile(warmTimes, 0.95), unit: 'ms', params });
      report(options, { suite: 'optimizer', metric: 'failed solves', value: cold.failures + warm.failures, unit: 'count', params: { ...params, solves: cold.times.length + warm.times.length } });
      if (solver === 'highs') report(options, { suite: 'optimizer', metric: 'HiGHS rescued by SCS', value: cold.rescued + warm.rescued, unit: 'count', params: { ...params, solves: cold.times.length + warm.times.length } });
      report(options, { suite: 'optimizer', metric: 'WebAssembly memory', value: optimizer.memoryBytes() / 2 ** 20, unit: 'MiB', params });
      optimizer.dispose();
    }
  }
  report(options, { suite: 'optimizer', metric: 'process RSS', value: process.memoryUsage().rss / 2 ** 20, unit: 'MiB' });
}
