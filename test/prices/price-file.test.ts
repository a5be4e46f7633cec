/**
 * The price file, watched while the gateway runs: a new download is planned on at the next
 * check without a restart; a broken one is reported and the last good prices stay; a missing
 * or malformed file at start stops `prosumer-edge run` with exit 2, naming the file and the
 * field, before the simulator or any device is opened.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { hourTariff, tariffParams } from '../../src/data/tariff.ts';
import { loadGatewayConfig } from '../../src/config/gateway.ts';
import { watchPriceFile } from '../../src/prices/index.ts';
import { runGateway } from '../../src/runtime/gateway-runtime.ts';
import { openRuntimeStore } from '../../src/storage/store.ts';
import { createTariffSource } from '../../src/runtime/prices.ts';
import { ManualClock } from '../../src/time/clock.ts';
import { freePort } from '../../src/bench/free-ports.ts';

const HOUR_MS = 3_600_000;
const root = fileURLToPath(new URL('../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'pe-price-file-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const h0 = Date.UTC(2026, 11, 4);
function writePrices(file: string, prices: number[]): void {
  const rows = prices.map((p, h) => `${new Date(h0 + h * HOUR_MS).toISOString().replace('.000Z', 'Z')},${p}`);
  writeFileSync(file, `timestamp,price_eur_per_mwh\n${rows.join('\n')}\n`);
}

/** Lets the watcher's check, woken by the clock, run. */
const settle = () => new Promise((r) => setTimeout(r, 10));

describe('the watched price file', () => {
  it("plans on a new download at the next check, and on the last good prices when the new file is broken, saying why", async () => {
    const file = join(work, 'prices.csv');
    writePrices(file, [100, 110, 120]);
    const clock = new ManualClock(h0);
    const lines: string[] = [];
    const log = (level: string, text: string) => lines.push(`${level} ${text}`);
    const source = watchPriceFile({ file, wallClock: clock, checkEveryMs: 60_000, log });
    const tariff = createTariffSource({ ...tariffParams, fallbackDayAheadEurPerMwh: 30, pricesFile: file }, { prices: source, log });
    const buy = (p: number) => hourTariff(p, tariffParams).buyEurPerKwh;
    try {
      expect(tariff.window(h0, [1, 1, 1]).buyEurPerKwh).toEqual([buy(100), buy(110), buy(120)]);

      // The next day's download replaces the file (a different length, so the change shows even at a coarse mtime).
      writePrices(file, [100, 110, 120, 130, 140.5]);
      // Not before the next check: the 5th hour is still unknown, so at the flat fallback.
      expect(tariff.hour(h0 + 4 * HOUR_MS).buyEurPerKwh).toBe(buy(30));
      clock.advance(60_000);
      await settle();
      expect(tariff.window(h0 + 3 * HOUR_MS, [1, 1]).buyEurPerKwh).toEqual([buy(130), buy(140.5)]);
      expect(lines).toContain(`info prices: ${file} reloaded, 5 hours 2026-12-04T00:00Z – 2026-12-04T04:00Z`);

      // A download cut off mid-line: reported with the file, line and column; the last good prices stay.
      writeFileSync(file, 'timestamp,price_eur_per_mwh\n2026-12-04T00:00:00Z,1oo\n');
      clock.advance(60_000);
      await settle();
      expect(tariff.hour(h0 + 4 * HOUR_MS).buyEurPerKwh).toBe(buy(140.5));
      expect(lines.at(-1)).toMatch(new RegExp(`^error prices: keeping the last good prices, the changed file is unusable: ${file}:2 column "price_eur_per_mwh"`));
      // Reported once, not at every check.
      clock.advance(60_000);
      await settle();
      expect(lines.filter((l) => l.startsWith('error'))).toHaveLength(1);

      // A file that disappears is reported the same way; one that comes back is planned on again.
      rmSync(file);
      clock.advance(60_000);
      await settle();
      expect(lines.at(-1)).toMatch(/^error prices: keeping the last good prices, the changed file is unusable: cannot read the day-ahead price file/);
      writePrices(file, [90]);
      clock.advance(60_000);
      await settle();
      expect(tariff.hour(h0).buyEurPerKwh).toBe(buy(90));
    } finally {
      source.close();
    }
  });
});

/** The shipped simulator example with `pricesFile`, its storage in this test's folder. */
function simConfig(name: string, pricesFile: string, change: (config: Record<string, any>) => void = () => undefined): string {
  const config = parse(readFileSync(join(root, 'config/gateway.sim.yaml'), 'utf8')) as Record<string, any>;
  const absolute = (p: string) => resolve(join(root, 'config'), p);
  config.board.file = absolute(config.board.file);
  config.forecast.historyFile = absolute(config.forecast.historyFile);
  config.tariff.pricesFile = pricesFile;
  config.storage.dir = join(work, name, 'store');
  change(config);
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, stringify(config));
  return file;
}

describe('a gateway running on the simulator', () => {
  it('prices its hours from a new price file without a restart, and goes on through a broken one', async () => {
    const shipped = readFileSync(join(root, 'data/community/prices/day_ahead_DE_2015-2016.csv'), 'utf8');
    const pricesFile = join(work, 'running.csv');
    writeFileSync(pricesFile, shipped);
    const statusPort = await freePort();
    const config = loadGatewayConfig(simConfig('running', pricesFile, (c) => {
      c.simulator.hours = 5;
      c.tariff.reloadCheckS = 1;
      // No MQTT; the status page only to see the hours close (the run is stopped after the first one the reload priced).
      c.telemetry = { statusPage: { port: statusPort } };
    }));
    const lines: string[] = [];
    // The run would end by itself after its 5 simulated hours (30 s of wall time); it is stopped as
    // soon as an hour has closed after the reload, which is all the checks below need.
    const stop = new AbortController();
    const running = runGateway(config, { write: (line) => lines.push(line), signal: stop.signal });
    const until = async (what: string, test: () => boolean | Promise<boolean>) => {
      for (const start = Date.now(); !(await test()); await new Promise((r) => setTimeout(r, 50))) if (Date.now() - start > 60_000) throw new Error(`no ${what}`);
    };
    /** The start of the last hour the gateway closed (and priced), from its status page. */
    const lastClosedHourMs = async (): Promise<number> => {
      const { hours } = (await (await fetch(`http://127.0.0.1:${statusPort}/api/state`)).json()) as { hours: { hourStartMs: number }[] };
      return hours.at(-1)?.hourStartMs ?? -Infinity;
    };
    // A download broken off mid-file first: reported, the gateway goes on with what it had.
    await until('loops', () => lines.some((l) => l.includes('running: fast loop')));
    writeFileSync(pricesFile, 'timestamp,price_eur_per_mwh\n2016-07-01T00:00:00Z,4o.2\n');
    await until('the report of the broken file', () => lines.some((l) => l.includes('keeping the last good prices')));
    // Then a good one: every hour of 2016 at 500 EUR/MWh.
    const day = shipped.split('\n').filter((l) => l.startsWith('2016-'));
    writeFileSync(pricesFile, `timestamp,price_eur_per_mwh\n${day.map((l) => `${l.split(',')[0]},500`).join('\n')}\n`);
    await until('the reload', () => lines.some((l) => l.includes(`prices: ${pricesFile} reloaded`)));
    const reloadedAt = lines.findIndex((l) => l.includes(`prices: ${pricesFile} reloaded`));
    // Read after the reload: every hour that closes later than this one was priced after it.
    const closedBeforeReload = await lastClosedHourMs();
    await until('an hour closed after the reload', async () => (await lastClosedHourMs()) > closedBeforeReload);
    stop.abort();
    const result = await running;
    expect(result.slowTicks).toBeGreaterThan(0);
    const store = openRuntimeStore(config.storage.dir);
    try {
      // The hours accounted after the reload are priced from the new file.
      const last = store.hours().at(-1)!;
      expect(last.buyEurPerKwh).toBeCloseTo(hourTariff(500, config.tariff).buyEurPerKwh, 9);
    } finally {
      store.close();
    }
    expect(lines.slice(0, reloadedAt).some((l) => /error .*prices: keeping the last good prices, the changed file is unusable: .*running\.csv:2 column "price_eur_per_mwh"/.test(l))).toBe(true);
  }, 120_000);
});

describe('prosumer-edge run with a bad price file', () => {
  function runCli(args: string[]): Promise<{ code: number | null; stderr: string }> {
    return new Promise((done) => {
      const child = spawn(process.execPath, [join(root, 'src/cli/prosumer-edge.mjs'), ...args], { cwd: work });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (code) => done({ code, stderr }));
    });
  }

  it('exits 2 naming the config, the field and the price file, before the simulator or a device is opened', async () => {
    const malformed = join(work, 'malformed.csv');
    writeFileSync(malformed, 'timestamp,price_eur_per_mwh\n2016-07-01T00:00:00Z,12\nyesterday,13\n');
    for (const [name, prices, why] of [['missing', join(work, 'nowhere.csv'), 'cannot read the day-ahead price file'], ['malformed', malformed, `${malformed}:3 column "timestamp"`]] as const) {
      const config = simConfig(name, prices);
      const { code, stderr } = await runCli(['run', '--config', config]);
      expect(code, stderr).toBe(2);
      expect(stderr).toContain(`${config}: /tariff/pricesFile: `);
      expect(stderr).toContain(why);
      // No stack trace, and nothing was opened: no device discovery, no store.
      expect(stderr).not.toMatch(/\n\s+at /);
      expect(stderr).not.toContain('devices:');
      expect(existsSync(join(work, name, 'store'))).toBe(false);
    }
  });
});
