/**
 * The solver's thread (src/runtime/solver-client.ts starts it through solver-worker.mjs): one
 * optimizer for the worker's lifetime, so HiGHS's persistent model (the warm start) carries over
 * from one receding step to the next. Solves run one at a time, in order of arrival; the client
 * sends the next only after the previous answer, and enforces the wall-clock budget itself.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createOptimizer, type ProblemInput, type SolveResult, type SolverName } from '../optimizer/index.ts';

export interface SolverWorkerData {
  solver: SolverName;
  timeBudgetMs: number;
}

export type SolverWorkerRequest = { input: ProblemInput; startMs: number };
export type SolverWorkerReply = { type: 'ready' } | { type: 'result'; result: SolveResult };

const port = parentPort;
if (port === null) throw new Error('solver-worker.ts runs in a worker thread (see solver-client.ts)');
const options = workerData as SolverWorkerData;
// The solver's own budget is the same as the client's: a solve it stops in time comes back as a
// typed time-limit and the worker (with its warm start) survives; one stuck past it is terminated.
const optimizer = createOptimizer({ solver: options.solver, timeBudgetMs: options.timeBudgetMs });

port.on('message', async (request: SolverWorkerRequest) => {
  const result = await optimizer.solve(request.input, { startMs: request.startMs });
  port.postMessage({ type: 'result', result } satisfies SolverWorkerReply);
});
port.postMessage({ type: 'ready' } satisfies SolverWorkerReply);
