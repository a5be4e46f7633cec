import { describe, expect, it } from 'vitest';
import { runDemo } from '../../src/demo/run.ts';

describe('the demo', () => {
  it('runs a gateway on the simulator and summarises numbers that agree with the plant’s own counters', async () => {
    const lines: string[] = [];
    const { summary, plantAroundFirstReading: first, plantAroundLastReading: last, discovered } = await runDemo({
      hours: 2,
      speed: 1800, // 4 s of wall time; slower than `npm start` so a loaded machine keeps up
      startMs: Date.parse('2016-06-22T10:00:00Z'),
      write: (line) => lines.push(line),
    });
    expect(discovered).toHaveLength(8);
    expect(lines.some((l) => /^2016-06-22 1[01]:[0-5][05] /.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(/device errors/);
    // Every 5-minute control instant of the two hours either ran or was counted as skipped.
    expect(summary.controlSteps + summary.skippedControlSteps).toBeGreaterThanOrEqual(24);
    expect(lines).toContain(`  control steps          ${summary.controlSteps} ran, ${summary.skippedControlSteps} skipped (the gateway was still busy with an earlier one)`);

    // The gateway read the meter and PV counters (Wh resolution) somewhere inside the first and
    // the last control step; the plant's integrals just before and after each step bracket them.
    const WH = 0.001;
    for (const [measured, counter] of [[summary.importedKwh, 'importedKwh'], [summary.exportedKwh, 'exportedKwh'], [summary.pvKwh, 'pvKwh']] as const) {
      expect(measured).toBeGreaterThanOrEqual(last.before[counter] - first.after[counter] - 2 * WH);
      expect(measured).toBeLessThanOrEqual(last.after[counter] - first.before[counter] + 2 * WH);
    }
    expect(summary.pvKwh).toBeGreaterThan(8); // two June noon hours at about 7 kW
    expect(summary.selfConsumptionFraction).toBeCloseTo(1 - summary.exportedKwh / summary.pvKwh, 9);
    // The SoC the gateway saw stays within what the plant went through.
    expect(summary.socMinFraction).toBeGreaterThanOrEqual(last.after.minSocFraction - 0.001);
    expect(summary.socMaxFraction).toBeLessThanOrEqual(last.after.maxSocFraction + 0.001);
    // Self-consumption at work: the battery charged from the surplus while it could.
    expect(last.after.batteryChargeAcKwh - first.before.batteryChargeAcKwh).toBeGreaterThan(1);
    expect(summary.deviceErrors).toEqual({});
  }, 60_000);
});
