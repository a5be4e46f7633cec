/** Runs test/optimizer/community_reference.py (cvxopt, Debian's /usr/bin/python3) on a CommunityProblem. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CommunityProblem } from '../../../src/optimizer/community/index.ts';

export interface CommunityReference {
  status: string;
  objective: number;
  peakKw: number[];
  netKw: number[];
}

const script = fileURLToPath(new URL('../community_reference.py', import.meta.url));

/**
 * cvxopt's tolerance (abstol = reltol = feastol) is 1e-7, else 1e-6: on these instances its interior
 * point can stall just short of 1e-7 and report 'unknown' at an objective equal to the 1e-6 one to
 * 1e-15 (measured), so the looser run is the same answer, certified.
 */
export function communityReference(problem: CommunityProblem): CommunityReference {
  let out: CommunityReference & { message?: string } = { status: 'not run', objective: NaN, peakKw: [], netKw: [] };
  for (const tolerance of ['1e-7', '1e-6']) {
    const run = spawnSync('/usr/bin/python3', [script, tolerance], { input: JSON.stringify({ households: problem.households, terms: problem.terms }), encoding: 'utf8', timeout: 300_000 });
    if (run.error) throw new Error(`cannot run /usr/bin/python3 for the cvxopt reference: ${run.error.message}`);
    if (run.status !== 0) throw new Error(`community_reference.py failed (exit ${run.status}): ${run.stderr}`);
    out = JSON.parse(run.stdout) as CommunityReference & { message?: string };
    if (out.status === 'missing-dependency') throw new Error(`independent reference unavailable: ${out.message}`);
    if (out.status === 'optimal') return out;
  }
  throw new Error(`cvxopt did not solve the community reference: status ${out.status}`);
}
