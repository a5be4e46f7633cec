/** Runs test/optimizer/reference_qp.py (cvxopt, Debian's /usr/bin/python3) on a ProblemInput. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ProblemInput } from '../../src/optimizer/types.ts';

export interface ReferenceSolution {
  status: string;
  objective: number;
  gridImportKw: number[];
  gridExportKw: number[];
  chargeKw: number[];
  dischargeKw: number[];
  decisionRule: number[];
  energyKwh: number[];
}

const script = fileURLToPath(new URL('./reference_qp.py', import.meta.url));

/** `tolerance`: cvxopt's abstol = reltol = feastol (reference_qp.py's default 1e-11 when omitted). */
export function referenceSolve(input: ProblemInput, tolerance?: number): ReferenceSolution {
  const run = spawnSync('/usr/bin/python3', [script, ...(tolerance === undefined ? [] : [String(tolerance)])], { input: JSON.stringify(input), encoding: 'utf8', timeout: 120_000 });
  if (run.error) throw new Error(`cannot run /usr/bin/python3 for the cvxopt reference: ${run.error.message}`);
  if (run.status !== 0) throw new Error(`reference_qp.py failed (exit ${run.status}): ${run.stderr}`);
  const out = JSON.parse(run.stdout) as ReferenceSolution & { message?: string };
  if (out.status === 'missing-dependency') throw new Error(`independent reference unavailable: ${out.message}`);
  if (out.status !== 'optimal') throw new Error(`cvxopt did not solve the reference: status ${out.status}`);
  return out;
}
