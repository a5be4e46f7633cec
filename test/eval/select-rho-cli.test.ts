import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/eval/command.ts';

const dataDir = resolve(import.meta.dirname, '../../../shared/data');

async function quietly(args: string[]): Promise<{ code: number; printed: string }> {
  const printed: string[] = [];
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (printed.push(String(chunk)), true));
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (printed.push(String(chunk)), true));
  try {
    return { code: await run(args), printed: printed.join('') };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
}

describe('prosumer-edge eval --select-rho, then the test run of the chosen ρ', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('chooses ρ on days before 2016-07-01 with samples frozen before them, and the test run judges that ρ', async () => {
    const valDir = await mkdtemp(join(tmpdir(), 'rho-val-'));
    const testDir = await mkdtemp(join(tmpdir(), 'rho-test-'));
    dirs.push(valDir, testDir);
    const val = await quietly(['--data', dataDir, '--out', valDir, '--select-rho', '--validation-days', '2', '--households', '2', '--controllers', 'saa,dro-0.3', '--samples', '5']);
    expect(val.code).toBe(0);
    const selection = JSON.parse(await readFile(join(valDir, 'rho-selection.json'), 'utf8'));
    expect(selection.validationDays).toEqual(['2016-06-29', '2016-06-30']);
    expect(selection.fittedBefore).toBe('2016-06-29');
    expect(selection.rows.map((r: { radiusKw: number }) => r.radiusKw)).toEqual([0, 0.3]);
    for (const r of selection.rows) expect(r.householdDays).toBe(2);
    // Two household-days cannot bound a violation probability by 5 %: the rule falls back to the largest ρ.
    expect(selection).toMatchObject({ selectedRhoKw: 0.3, qualified: false });
    expect(val.printed).toMatch(/Selected ρ = 0\.3 kW \(no ρ met the rule/);

    const test = await quietly(['--data', dataDir, '--out', testDir, '--rho-from', valDir, '--households', '2', '--days', '1', '--controllers', 'no-control,dro-0.3', '--samples', '5']);
    expect(test.code).toBe(0);
    const json = JSON.parse(await readFile(join(testDir, 'eval.json'), 'utf8'));
    expect(json.scenario).toMatchObject({ phase: 'test', fittedBefore: '2016-07-01', recommendedRhoKw: 0.3, testDays: ['2016-07-01'] });
    expect(json.scenario.rhoSource).toMatch(/selected on 2 validation days 2016-06-29\.\.2016-06-30/);
    expect(test.printed).toMatch(/Recommended ρ = 0\.3 kW \(dro-0\.3, selected on 2 validation days/);
  }, 120_000);

  it('refuses to mix choosing ρ with being told ρ, and a selection file that is not there', async () => {
    const both = await quietly(['--data', dataDir, '--select-rho', '--recommended-rho', '0.1']);
    expect(both.code).toBe(2);
    expect(both.printed).toMatch(/--select-rho chooses ρ itself/);
    const missing = await quietly(['--data', dataDir, '--rho-from', join(tmpdir(), 'no-such-validation-run')]);
    expect(missing.code).toBe(2);
    expect(missing.printed).toMatch(/--rho-from: cannot read .*rho-selection\.json/);
  });
});
