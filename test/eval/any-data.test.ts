/**
 * A user scores their own data: buildings found in --data whatever their names, a price file with
 * another name, a data set that starts after the scenario's split, a building with its own battery
 * in buildings.csv, one without PV and without appliance columns — and `eval --json` for machines.
 * The data are the real households shipped in data/community, cut and renamed the way a user's
 * export might look.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/eval/command.ts';

const shipped = resolve(import.meta.dirname, '../../data/community');
let dataDir: string;

/** Rows from `fromIso` on, with the listed columns dropped. */
function cut(csv: string, fromIso: string, drop: readonly string[]): string {
  const [header, ...rows] = csv.trimEnd().split('\n');
  const columns = header!.split(',');
  const keep = columns.map((c, i) => (drop.includes(c) ? -1 : i)).filter((i) => i >= 0);
  const pick = (line: string) => keep.map((i) => line.split(',')[i]).join(',');
  return `${[pick(header!), ...rows.filter((r) => r.slice(0, 20) >= fromIso).map(pick)].join('\n')}\n`;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'pe-any-data-'));
  await mkdir(join(dataDir, 'buildings'));
  await mkdir(join(dataDir, 'prices'));
  const from = '2016-08-01T00:00:00Z';
  const r1 = await readFile(join(shipped, 'buildings', 'residential1_hourly.csv'), 'utf8');
  const r4 = await readFile(join(shipped, 'buildings', 'residential4_hourly.csv'), 'utf8');
  await writeFile(join(dataDir, 'buildings', 'flat-a_hourly.csv'), cut(r1, from, ['pv_kw', 'dishwasher_kw', 'washing_machine_kw']));
  await writeFile(join(dataDir, 'buildings', 'house-b_hourly.csv'), cut(r4, from, []));
  await writeFile(join(dataDir, 'buildings', 'buildings.csv'), [
    'building_id,location_type,battery_capacity_kwh,battery_nominal_power_kw,battery_efficiency',
    'flat-a,"flat, no battery",,,',
    'house-b,"house, own battery",6,3,0.9',
  ].join('\n'));
  await writeFile(join(dataDir, 'prices', 'my-epex-export.csv'), await readFile(join(shipped, 'prices', 'day_ahead_DE_2015-2016.csv'), 'utf8'));
});

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('eval on a user data folder', () => {
  it('finds the buildings and the price file, moves the split after the data start, takes the battery from buildings.csv and prints JSON lines', async () => {
    const outDir = join(dataDir, 'out');
    const stdout: string[] = [];
    const stderr: string[] = [];
    const spies = [
      vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (stdout.push(String(chunk)), true)),
      vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (stderr.push(String(chunk)), true)),
    ];
    let code: number;
    try {
      code = await run(['--data', dataDir, '--out', outDir, '--days', '2', '--controllers', 'no-control,perfect-foresight', '--json']);
    } finally {
      spies.forEach((s) => s.mockRestore());
    }
    expect(code, stderr.join('')).toBe(0);
    const lines = stdout.join('').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.controller)).toEqual(['no-control', 'perfect-foresight']);
    for (const l of lines) {
      for (const field of ['communityBillEur', 'communitySettlementCostEur', 'communityAvgDailyPeakKw', 'communityPeakKw', 'communityParMean', 'jointViolation', 'fallbacks']) expect(typeof l[field], field).toBe('number');
      expect(Object.keys(l.households)).toEqual(['flat-a', 'house-b']);
      expect(typeof l.households['house-b'].billEur).toBe('number');
      expect(l.households['flat-a'].avgDailyPeakKw).toBeGreaterThan(0);
    }
    // The bound is the lowest bill.
    expect(lines[1].communityBillEur).toBeLessThanOrEqual(lines[0].communityBillEur);
    const result = JSON.parse(await readFile(join(outDir, 'eval.json'), 'utf8'));
    // Data from 2016-08-01: 28 days of history before the first test day.
    expect(result.scenario.fittedBefore).toBe('2016-08-29');
    expect(result.scenario.testDays[0]).toBe('2016-08-29');
    expect(result.scenario.pricesFile).toMatch(/my-epex-export\.csv$/);
    expect(result.scenario.batteries['house-b']).toMatch(/6 kWh, 3 kW, round trip 0\.9/);
    expect(result.scenario.batteries['flat-a']).toMatch(/scenario default/);
    expect(stderr.join('')).toMatch(/flat-a: battery scenario default/);
  }, 120_000);

  it('names the price files when there is more than one and none is named', async () => {
    await writeFile(join(dataDir, 'prices', 'second.csv'), 'timestamp,price_eur_per_mwh\n');
    const stderr: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (stderr.push(String(chunk)), true));
    try {
      expect(await run(['--data', dataDir, '--days', '1', '--controllers', 'no-control'])).toBe(1);
    } finally {
      spy.mockRestore();
      await rm(join(dataDir, 'prices', 'second.csv'));
    }
    expect(stderr.join('')).toMatch(/2 price files \(my-epex-export\.csv, second\.csv\): name one with --prices/);
  });

  it('refuses test days before the split', async () => {
    const stderr: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (stderr.push(String(chunk)), true));
    try {
      expect(await run(['--data', dataDir, '--split', '2016-09-15', '--from', '2016-09-01', '--controllers', 'no-control'])).toBe(2);
    } finally {
      spy.mockRestore();
    }
    expect(stderr.join('')).toMatch(/--from: 2016-09-01 lies before the split 2016-09-15/);
  });
});
