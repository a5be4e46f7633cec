import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeRunLayout } from '../../src/community/configs.ts';
import { loadGatewayConfig } from '../../src/config/gateway.ts';
import { communityDataDir } from '../../sim/plant/household.ts';

const entry = fileURLToPath(new URL('../../src/cli/prosumer-edge.mjs', import.meta.url));
const community = (...args: string[]) => spawnSync(process.execPath, [entry, 'community', ...args], { encoding: 'utf8', timeout: 60_000 });

describe('prosumer-edge community (options)', () => {
  it('lists its options with --help and exits 0', () => {
    const result = community('--help');
    expect(result.status).toBe(0);
    for (const option of ['--all', '--days N', '--start DAY', '--speed S', '--out DIR', '--data DIR', '--community-chance EPS', '--samples I', '--json']) expect(result.stdout).toContain(option);
    expect(result.stdout).toContain('no option: the 7 test days from 2016-11-01');
  });

  it('refuses bad options with exit 2, naming the option, before starting anything', () => {
    for (const [args, message] of [
      [['--days', '0'], /--days: expected a positive integer, got "0"/],
      [['--speed', 'fast'], /--speed: expected a number > 0, got "fast"/],
      [['--start', '2016-13-01'], /--start: expected a day YYYY-MM-DD, got "2016-13-01"/],
      [['--colour'], /Unknown option '--colour'/],
      [['--all', '--days', '3'], /--all runs every test day: drop --days \/ --start/],
      [['--community-chance', '1'], /--community-chance: expected ε with 0 < ε < 1, got "1"/],
      [['--samples', '2.5'], /--samples: expected an integer from 1 to 1000, got "2.5"/],
      [['--samples', '0'], /--samples: expected an integer from 1 to 1000, got "0"/],
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

describe('the community run layout', () => {
  it('gives every gateway the community import chance family of --community-chance, in a config the gateway accepts', () => {
    const runDir = mkdtempSync(join(tmpdir(), 'community-layout-'));
    const common = { runDir, dataDir: communityDataDir, households: [{ household: 'residential1', maxDelayHours: 6 }, { household: 'residential2', maxDelayHours: 6 }], brokerUrl: 'mqtt://127.0.0.1:1883', startIso: '2016-10-31T23:00:00.000Z', speed: 'lockstep' as const, hours: 25, liveGuard: true };
    const withChance = writeRunLayout({ ...common, communityImportChance: { epsilon: 0.05 } });
    for (const g of withChance.gateways) expect(loadGatewayConfig(g.configFile).market?.communityImportChance).toEqual({ epsilon: 0.05 });
    const without = writeRunLayout({ ...common, runDir: mkdtempSync(join(tmpdir(), 'community-layout-')) });
    for (const g of without.gateways) expect(loadGatewayConfig(g.configFile).market?.communityImportChance).toBeUndefined();
  });

  it('gives every gateway the error samples per solve of --samples, else the configuration’s default', () => {
    const layout = (samples?: number) => writeRunLayout({ runDir: mkdtempSync(join(tmpdir(), 'community-layout-')), dataDir: communityDataDir, households: [{ household: 'residential1', maxDelayHours: 6 }, { household: 'residential2', maxDelayHours: 6 }], brokerUrl: 'mqtt://127.0.0.1:1883', startIso: '2016-10-31T23:00:00.000Z', speed: 'lockstep', hours: 25, liveGuard: true, ...(samples !== undefined ? { samples } : {}) });
    for (const g of layout(6).gateways) expect(loadGatewayConfig(g.configFile).control.samples).toBe(6);
    // Every layout the runner writes is on the evaluation's split.
    expect(loadGatewayConfig(writeRunLayout({ runDir: mkdtempSync(join(tmpdir(), 'community-layout-')), dataDir: communityDataDir, households: [{ household: 'residential1', maxDelayHours: 6 }], brokerUrl: 'mqtt://127.0.0.1:1883', startIso: '2016-10-31T23:00:00.000Z', speed: 'lockstep', hours: 25, liveGuard: true, freezeIso: '2016-07-01T00:00:00.000Z' }).gateways[0]!.configFile).forecast.freezeIso).toBe('2016-07-01T00:00:00.000Z');
    for (const g of layout().gateways) expect(loadGatewayConfig(g.configFile).control.samples).toBe(20);
  });

  it('gives every gateway the live community guard unless --no-live-guard, and lists each member’s connection for it', () => {
    const layout = (liveGuard: boolean) => writeRunLayout({ runDir: mkdtempSync(join(tmpdir(), 'community-layout-')), dataDir: communityDataDir, households: [{ household: 'residential1', maxDelayHours: 6 }], brokerUrl: 'mqtt://127.0.0.1:1883', startIso: '2016-10-31T23:00:00.000Z', speed: 'lockstep', hours: 25, liveGuard });
    const on = layout(true);
    expect(loadGatewayConfig(on.gateways[0]!.configFile).market?.communityGuard).toBe(true);
    const site = loadGatewayConfig(on.gateways[0]!.configFile).site.grid;
    expect(JSON.parse(readFileSync(on.membersFile, 'utf8')).members).toEqual([expect.objectContaining({ peerId: 'residential1', maxImportKw: site.maxImportKw, maxExportKw: site.maxExportKw })]);
    expect(loadGatewayConfig(layout(false).gateways[0]!.configFile).market?.communityGuard).toBe(false);
  });
});
