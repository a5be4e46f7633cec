/** Runs test/ces/reference_ces.py (cvxopt, Debian's /usr/bin/python3) on one CES or household instance. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CesDayInput } from '../../src/ces/ces-model.ts';
import type { HouseholdDayInput } from '../../src/ces/household-model.ts';

const script = fileURLToPath(new URL('./reference_ces.py', import.meta.url));

export function referenceObjective(instance: { ces: CesDayInput } | { household: HouseholdDayInput }): number {
  const run = spawnSync('/usr/bin/python3', [script], { input: JSON.stringify(instance), encoding: 'utf8', timeout: 120_000 });
  if (run.error) throw new Error(`cannot run /usr/bin/python3 for the cvxopt reference: ${run.error.message}`);
  if (run.status !== 0) throw new Error(`reference_ces.py failed (exit ${run.status}): ${run.stderr}`);
  const out = JSON.parse(run.stdout) as { status: string; objective?: number; message?: string };
  if (out.status === 'missing-dependency') throw new Error(`independent reference unavailable: ${out.message}`);
  if (out.status !== 'optimal' || out.objective === undefined) throw new Error(`cvxopt did not solve the reference: status ${out.status}`);
  return out.objective;
}
