/**
 * The Energy dashboard's counters across restarts: each hour counted once, the totals kept in
 * their own file so they never go down when the store forgets old hours, the hours a crash left
 * uncounted added on the next start, and a damaged file reported rather than fatal.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EnergyCounters } from '../../src/telemetry/energy-totals.ts';
import { energyMessage } from '../../src/telemetry/messages.ts';
import { hourRecord } from './fixtures.ts';

const HOUR_MS = 3_600_000;
const h0 = Date.UTC(2026, 11, 1);
const hours = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => hourRecord(h0 + (from + k) * HOUR_MS));
const quiet = () => undefined;

describe('the energy counters', () => {
  it('sum the hour records into totals that only grow, each hour once, and go on from their file after a restart', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pe-energy-')), 'energy-totals.json');
    const first = new EnergyCounters(file, hours(0, 3), quiet);
    // Per hour: import 0.4, export 1.9, PV 3.1, charge 1.1, discharge 0.2 kWh.
    expect(first.totals()).toMatchObject({ throughHourStartMs: h0 + 2 * HOUR_MS });
    expect(first.totals().gridImportKwh).toBeCloseTo(1.2, 12);
    first.add(hourRecord(h0 + 3 * HOUR_MS));
    // The same hour again (a replay) is not counted twice.
    expect(first.add(hourRecord(h0 + 3 * HOUR_MS)).pvKwh).toBeCloseTo(4 * 3.1, 12);

    // Restarted a year later, when the store has forgotten hours 0–3: the totals go on, not back.
    const restarted = new EnergyCounters(file, hours(4, 6), quiet);
    expect(restarted.totals().gridExportKwh).toBeCloseTo(6 * 1.9, 12);
    expect(restarted.totals().batteryChargeKwh).toBeCloseTo(6 * 1.1, 12);
    expect(restarted.totals().batteryDischargeKwh).toBeCloseTo(6 * 0.2, 12);
    expect(energyMessage(restarted.totals())).toEqual({
      gridImportKwh: 2.4,
      gridExportKwh: 11.4,
      pvKwh: 18.6,
      batteryChargeKwh: 6.6,
      batteryDischargeKwh: 1.2,
      throughIso: new Date(h0 + 6 * HOUR_MS).toISOString(),
    });
    // Hours the store holds from before the file's last one are not counted again.
    expect(new EnergyCounters(file, hours(0, 6), quiet).totals().gridImportKwh).toBeCloseTo(2.4, 12);
  });

  it('count again from the stored hours when their file is damaged, and say so', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pe-energy-')), 'energy-totals.json');
    writeFileSync(file, '{"gridImportKwh": -3}');
    const lines: string[] = [];
    const counters = new EnergyCounters(file, hours(0, 2), (level, text) => lines.push(`${level} ${text}`));
    expect(counters.totals().gridImportKwh).toBeCloseTo(0.8, 12);
    expect(lines).toEqual([`warn telemetry: the energy counters in ${file} are damaged (gridImportKwh must be a non-negative number of kWh, got -3); counting again from the stored hours`]);
  });

  it('leave out a missing or negative reading of an hour rather than lowering a total', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pe-energy-')), 'energy-totals.json');
    const counters = new EnergyCounters(file, hours(0, 1), quiet);
    const after = counters.add({ ...hourRecord(h0 + HOUR_MS), importKwh: -0.5, pvKwh: Number.NaN });
    expect(after.gridImportKwh).toBeCloseTo(0.4, 12);
    expect(after.pvKwh).toBeCloseTo(3.1, 12);
  });
});
