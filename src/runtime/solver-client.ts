/**
 * Solves in a worker thread, so the fast loop (and telemetry, the market, the watchdog) keep running
 * while HiGHS or SCS work: a solve blocks its thread for as long as it runs inside WebAssembly.
 *
 * The client owns the wall-clock budget. Past it the answer is a typed 'time-limit' failure (the
 * caller falls back at once), but the worker is given a grace period to finish: a solve that is
 * merely slow on a busy machine then keeps the worker and its warm start. A worker still busy at
 * the end of the grace — stuck inside WebAssembly, where nothing else could stop it — is
 * terminated and a fresh one started. A worker that crashes or exits answers the solve it was
 * working on with a typed 'error' and is replaced. `solve` never rejects.
 */
import { Worker } from 'node:worker_threads';
import type { ProblemInput, SolveResult, SolverName } from '../optimizer/index.ts';
import type { SolverWorkerData, SolverWorkerReply, SolverWorkerRequest } from './solver-worker.ts';

export interface SolverClientOptions {
  solver: SolverName;
  /** Wall-clock budget of one solve, counted from when a ready worker receives it. */
  timeBudgetMs: number;
  /** How long past the budget an overrunning worker may go on before it is replaced (default: 4 budgets). */
  graceMs?: number;
}

export interface SolverClient {
  /**
   * One solve at a time: a call made while another runs waits for it. `chain` names the sequence
   * of problems a solve warm-starts from (default: the plan's); another chain's solves (the no-loss
   * shadow's) neither use nor disturb it.
   */
  solve(input: ProblemInput, options: { startMs: number; chain?: string }): Promise<SolveResult>;
  /** Starts the worker now and resolves once it has loaded and warmed the solver (or failed to: the next solve says why). */
  ready(): Promise<void>;
  /** Terminates the worker; a solve still running answers 'error'. */
  close(): Promise<void>;
  /** The worker thread in use now (diagnostics: footprint, fault injection). */
  worker(): Worker;
}

interface Thread {
  worker: Worker;
  /** Resolves null once the worker has loaded, or why it exited before. */
  ready: Promise<string | null>;
  /** Ends the solve in progress, if any: with the worker's answer, or with why the worker died. */
  settle: ((outcome: SolveResult | { died: string }) => void) | null;
}

/**
 * The worker's entry. Compiled (dist/), the worker is plain JavaScript; from the TypeScript sources
 * (tsx, vitest) it starts through solver-worker.mjs, which registers tsx in the worker's thread.
 */
const bootstrap = import.meta.url.endsWith('.ts') ? new URL('./solver-worker.mjs', import.meta.url) : new URL('./solver-worker.js', import.meta.url);
/**
 * The worker's JavaScript holds one problem and one plan at a time (the solver's memory is
 * WebAssembly, outside these limits); V8's default young generation would let it grow by tens
 * of MB of garbage before collecting, on a gateway with little RAM.
 */
const workerHeapLimits = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 128 };

export function createSolverClient(options: SolverClientOptions): SolverClient {
  if (!(options.timeBudgetMs > 0)) throw new RangeError(`solver time budget must be > 0 ms, got ${options.timeBudgetMs}`);
  let closed = false;
  let queue: Promise<unknown> = Promise.resolve();
  let current: Thread | null = null;

  function spawn(): Thread {
    const worker = new Worker(bootstrap, { workerData: { solver: options.solver, timeBudgetMs: options.timeBudgetMs } satisfies SolverWorkerData, resourceLimits: workerHeapLimits });
    let markReady!: (failure: string | null) => void;
    const thread: Thread = { worker, ready: new Promise((resolve) => (markReady = resolve)), settle: null };
    let crash = '';
    let wasReady = false;
    worker.on('message', (reply: SolverWorkerReply) => {
      if (reply.type === 'ready') {
        wasReady = true;
        markReady(null);
      } else thread.settle?.(reply.result);
    });
    worker.on('error', (error: Error) => (crash = `: ${error.message}`));
    worker.on('exit', (code) => {
      const died = `solver worker exited with code ${code}${crash}`;
      markReady(died);
      thread.settle?.({ died });
      if (current !== thread) return;
      // A worker that had loaded is replaced at once, so the next solve finds one ready; one that
      // died while loading is only retried by the next solve (no restart loop on a broken install).
      current = !closed && wasReady ? spawn() : null;
    });
    return thread;
  }

  const thread = (): Thread => (current ??= spawn());

  /** The answer, and when the worker is free for the next solve (later than the answer on overrun). */
  async function solveNow(input: ProblemInput, startMs: number, chain: string | undefined): Promise<{ result: SolveResult; idle: Promise<void> }> {
    const done = Promise.resolve();
    if (closed) return { result: { ok: false, status: 'error', message: 'solver client is closed', solveMs: 0 }, idle: done };
    const t = thread();
    const failure = await t.ready;
    if (failure !== null) return { result: { ok: false, status: 'error', message: `${failure} while starting`, solveMs: 0 }, idle: done };
    const started = performance.now();
    const graceMs = options.graceMs ?? 4 * options.timeBudgetMs;
    return new Promise((resolve) => {
      let markIdle!: () => void;
      const idle = new Promise<void>((r) => (markIdle = r));
      let grace: ReturnType<typeof setTimeout> | undefined;
      const budget = setTimeout(() => {
        resolve({ result: { ok: false, status: 'time-limit', message: `no answer within the ${options.timeBudgetMs} ms budget`, solveMs: performance.now() - started }, idle });
        grace = setTimeout(() => {
          t.settle = null;
          if (current === t) current = closed ? null : spawn();
          void t.worker.terminate();
          markIdle();
        }, graceMs);
      }, options.timeBudgetMs);
      t.settle = (outcome) => {
        t.settle = null;
        clearTimeout(budget);
        clearTimeout(grace);
        markIdle();
        // After the budget the promise is already resolved: a late answer only frees the worker.
        resolve({ result: 'died' in outcome ? { ok: false, status: 'error', message: outcome.died, solveMs: performance.now() - started } : outcome, idle });
      };
      t.worker.postMessage({ input, startMs, ...(chain === undefined ? {} : { chain }) } satisfies SolverWorkerRequest);
    });
  }

  return {
    solve(input, { startMs, chain }) {
      const attempt = queue.then(() => solveNow(input, startMs, chain));
      queue = attempt.then((a) => a.idle);
      return attempt.then((a) => a.result);
    },
    async ready() {
      if (!closed) await thread().ready;
    },
    async close() {
      closed = true;
      const t = current;
      current = null;
      if (t) await t.worker.terminate();
    },
    worker() {
      if (closed) throw new Error('solver client is closed');
      return thread().worker;
    },
  };
}
