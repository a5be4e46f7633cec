/**
 * The solver's thread (src/runtime/solver-client.ts starts it through solver-worker.mjs): one
 * optimizer per chain for the worker's lifetime, so HiGHS's persistent model (the warm start) carries
 * over from one receding step to the next of the same chain (the plan's; the no-loss shadow's). Solves run one at a time, in order of arrival; the client
 * sends the next only after the previous answer, and enforces the wall-clock budget itself.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createOptimizer, type ProblemInput, type SolveResult, type SolverName } from '../optimizer/index.ts';
import { gatewayHighsGapEur } from '../optimizer/settings.ts';
import { syntheticInput } from '../optimizer/synthetic.ts';

export interface SolverWorkerData {
  solver: SolverName;
  timeBudgetMs: number;
}

export type SolverWorkerRequest = { input: ProblemInput; startMs: number; chain?: string };
export type SolverWorkerReply = { type: 'ready' } | { type: 'result'; result: SolveResult };

const port = parentPort;
if (port === null) throw new Error('solver-worker.ts runs in a worker thread (see solver-client.ts)');
const options = workerData as SolverWorkerData;
// The solver's own budget is the same as the client's: a solve it stops in time comes back as a
// typed time-limit and the worker (with its warm start) survives; one stuck past it is terminated.
const newOptimizer = () => createOptimizer({ solver: options.solver, timeBudgetMs: options.timeBudgetMs, highsGap: gatewayHighsGapEur });
const optimizer = newOptimizer();
const chains = new Map<string, ReturnType<typeof newOptimizer>>();

port.on('message', async (request: SolverWorkerRequest) => {
  const chain = request.chain === undefined ? optimizer : chains.get(request.chain) ?? chains.set(request.chain, newOptimizer()).get(request.chain)!;
  const result = await chain.solve(request.input, { startMs: request.startMs });
  port.postMessage({ type: 'result', result } satisfies SolverWorkerReply);
});
// Loading and compiling the WebAssembly solver takes longer than a whole solve; done here, before
// 'ready', it is not charged to the first real solve's budget (which it would overrun on a busy
// machine, and a worker replaced on overrun would then pay it again: every solve a fallback).
await optimizer.solve(syntheticInput({ stepHours: new Array<number>(6).fill(1), samples: 3, seed: 1 }), { startMs: 0 });
port.postMessage({ type: 'ready' } satisfies SolverWorkerReply);
