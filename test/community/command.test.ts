import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../../src/cli/prosumer-edge.mjs', import.meta.url));
const community = (...args: string[]) => spawnSync(process.execPath, [entry, 'community', ...args], { encoding: 'utf8', timeout: 60_000 });

describe('prosumer-edge community (options)', () => {
  it('lists its options with --help and exits 0', () => {
    const result = community('--help');
    expect(result.status).toBe(0);
    for (const option of ['--all', '--days N', '--start DAY', '--speed S', '--out DIR', '--data DIR', '--json']) expect(result.stdout).toContain(option);
    expect(result.stdout).toContain('no option: the 7 test days from 2016-11-01');
  });

  it('refuses bad options with exit 2, naming the option, before starting anything', () => {
    for (const [args, message] of [
      [['--days', '0'], /--days: expected a positive integer, got "0"/],
      [['--speed', 'fast'], /--speed: expected a number > 0, got "fast"/],
      [['--start', '2016-13-01'], /--start: expected a day YYYY-MM-DD, got "2016-13-01"/],
      [['--colour'], /Unknown option '--colour'/],
      [['--all', '--days', '3'], /--all runs every test day: drop --days \/ --start/],
    ] as const) {
      const result = community(...args);
      expect(result.status, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(message);
    }
  });

  it('says when no test day is left after --start, with exit 1', () => {
    const result = community('--start', '2016-12-31');
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/no test day on or after 2016-12-31/);
  });
});
