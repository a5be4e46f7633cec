import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/eval/command.ts';

const dataDir = resolve(import.meta.dirname, '../../../shared/data');

/** Well-formed enough for a browser: one root svg, every tag closed in order, no stray ampersand. */
function checkSvg(text: string): void {
  expect(text.startsWith('<?xml')).toBe(true);
  expect(text).not.toMatch(/&(?!amp;|lt;|gt;|quot;)/);
  const stack: string[] = [];
  for (const [, closing, name, selfClosing] of text.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (closing) expect(stack.pop()).toBe(name);
    else if (!selfClosing) stack.push(name!);
  }
  expect(stack).toEqual([]);
  expect(text).toMatch(/<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  expect(text).not.toMatch(/NaN|Infinity/);
}

describe('prosumer-edge eval, end to end on the real data', () => {
  let outDir = '';
  afterAll(async () => {
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  it('runs 1 household for 2 test days with no control, the RTP rule and a DRO MPC (I = 5), and writes table, JSON and SVG', async () => {
    outDir = await mkdtemp(join(tmpdir(), 'eval-'));
    const printed: string[] = [];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (printed.push(String(chunk)), true));
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    let code: number;
    try {
      code = await run(['--data', dataDir, '--out', outDir, '--households', '2', '--days', '2', '--controllers', 'no-control,rtp-threshold,dro-0.03', '--samples', '5']);
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
    expect(code).toBe(0);
    const table = printed.join('');
    for (const name of ['no-control', 'rtp-threshold', 'dro-0.03']) expect(table).toMatch(new RegExp(`^${name}\\s`, 'm'));

    const json = JSON.parse(await readFile(join(outDir, 'eval.json'), 'utf8'));
    // residential2 has gap-filled rows on 2 and 3 July: its first two clean test days are 1 and 4 July.
    expect(json.scenario.testDays).toEqual(['2016-07-01', '2016-07-04']);
    expect(json.controllers).toHaveLength(3);
    const [none, , dro] = json.controllers;
    expect(none.community.cost.total).toBeGreaterThan(0);
    // Without control the household's grid import is its net load, hour by hour: PAR from those 48 hours.
    expect(none.community.par).toBeGreaterThan(1);
    expect(dro.solve.solves).toBe(48);
    expect(dro.solve.unhandled).toBe(0);
    expect(dro.solve.solves - dro.solve.fallbacks.total).toBeGreaterThan(0);

    checkSvg(await readFile(join(outDir, 'tradeoff.svg'), 'utf8'));
    checkSvg(await readFile(join(outDir, 'day.svg'), 'utf8'));
  }, 120_000);

  it('joins runs that split the controllers over processes, and refuses runs of other days', async () => {
    const quiet = () => [vi.spyOn(process.stdout, 'write').mockImplementation(() => true), vi.spyOn(process.stderr, 'write').mockImplementation(() => true)];
    const common = ['--data', dataDir, '--households', '2', '--days', '2'];
    let spies = quiet();
    try {
      expect(await run([...common, '--out', join(outDir, 'pf'), '--controllers', 'perfect-foresight'])).toBe(0);
      expect(await run(['--data', dataDir, '--households', '2', '--days', '1', '--out', join(outDir, 'short'), '--controllers', 'no-control'])).toBe(0);
      expect(await run(['--merge', `${outDir},${join(outDir, 'pf')}`, '--out', join(outDir, 'merged')])).toBe(0);
      expect(await run(['--merge', `${outDir},${join(outDir, 'short')}`, '--out', join(outDir, 'bad')])).toBe(2);
    } finally {
      spies.forEach((s) => s.mockRestore());
    }
    const merged = JSON.parse(await readFile(join(outDir, 'merged', 'eval.json'), 'utf8'));
    expect(merged.controllers.map((c: { controller: string }) => c.controller)).toEqual(['no-control', 'rtp-threshold', 'dro-0.03', 'perfect-foresight']);
    // With perfect foresight in, the headline can judge the bill gap; PF is the bound nobody beats.
    expect(merged.headline.billVsPerfect).toBeGreaterThanOrEqual(0);
    spies = [];
  }, 120_000);

  it('refuses an unknown controller and an unknown household with a usage error', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await run(['--controllers', 'magic'])).toBe(2);
      expect(await run(['--households', 'residential9'])).toBe(2);
    } finally {
      stderr.mockRestore();
    }
  });
});
