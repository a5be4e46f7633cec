/**
 * Appliance schedules on the house's clocks (site.timeZone): a load scheduled for 05:00 in
 * Europe/Berlin asks at 04:00 UTC in winter and 03:00 UTC in summer, and on the two days daylight
 * saving changes (the last Sundays of March and October 2016) still asks exactly once — an hour
 * the clocks skip when they jump past it, an hour they repeat at its first occurrence.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { ShiftableLoadConfig } from '../../src/config/gateway-config.ts';
import { GatewayConfigError, loadGatewayConfig } from '../../src/config/gateway.ts';
import { ShiftableQueue } from '../../src/runtime/shiftable.ts';
import { instantOfWallClock, wallClockMs } from '../../src/time/zone.ts';

const HOUR_MS = 3_600_000;
const boiler: ShiftableLoadConfig = {
  relay: 'boiler',
  ratedPowerKw: 3,
  maxDelayHours: 4,
  demand: { source: 'schedule', daily: [{ hour: 2, energyKwh: 1 }, { hour: 5, energyKwh: 3 }] },
};

/** What the queue collects when polled every minute (as a fast loop does) over [fromIso, toIso). */
function arrivals(fromIso: string, toIso: string, timeZone?: string): [string, number][] {
  const fromMs = Date.parse(fromIso);
  const queue = new ShiftableQueue({ loads: [boiler], feed: null, stepMinutes: 15, horizonSteps: 24, startMs: fromMs, ...(timeZone ? { timeZone } : {}) });
  const seen: [string, number][] = [];
  for (let t = fromMs + 60_000; t <= Date.parse(toIso); t += 60_000) for (const a of queue.collect(t)) seen.push([new Date(a.atMs).toISOString().replace(':00.000Z', 'Z'), a.energyKwh]);
  return seen;
}

describe('schedules in local time', () => {
  it('ask at the local hour across the spring change: the skipped 02:00 asks when the clocks jump, once', () => {
    // Europe/Berlin, Sunday 2016-03-27: 02:00 CET becomes 03:00 CEST at 01:00 UTC.
    expect(arrivals('2016-03-25T22:00:00Z', '2016-03-28T22:00:00Z', 'Europe/Berlin')).toEqual([
      ['2016-03-26T01:00Z', 1], // 02:00 CET
      ['2016-03-26T04:00Z', 3], // 05:00 CET
      ['2016-03-27T01:00Z', 1], // 02:00 does not exist: at the jump, 03:00 CEST
      ['2016-03-27T03:00Z', 3], // 05:00 CEST
      ['2016-03-28T00:00Z', 1], // 02:00 CEST
      ['2016-03-28T03:00Z', 3],
    ]);
  });

  it('ask at the local hour across the autumn change: the repeated 02:00 asks once, at its first occurrence', () => {
    // Europe/Berlin, Sunday 2016-10-30: 03:00 CEST becomes 02:00 CET at 01:00 UTC; 02:00–03:00 happens twice.
    expect(arrivals('2016-10-28T22:00:00Z', '2016-10-31T23:00:00Z', 'Europe/Berlin')).toEqual([
      ['2016-10-29T00:00Z', 1], // 02:00 CEST
      ['2016-10-29T03:00Z', 3], // 05:00 CEST
      ['2016-10-30T00:00Z', 1], // the first 02:00 (CEST), not again at 01:00 UTC (02:00 CET)
      ['2016-10-30T04:00Z', 3], // 05:00 CET
      ['2016-10-31T01:00Z', 1], // 02:00 CET
      ['2016-10-31T04:00Z', 3],
    ]);
  });

  it('stay at the UTC hour without a time zone, as before the setting existed', () => {
    expect(arrivals('2016-10-29T22:00:00Z', '2016-10-30T22:00:00Z')).toEqual([
      ['2016-10-30T02:00Z', 1],
      ['2016-10-30T05:00Z', 3],
    ]);
  });

  it('convert wall-clock times both ways around both changes', () => {
    const berlin = 'Europe/Berlin';
    for (let t = Date.parse('2016-03-26T00:00:00Z'); t < Date.parse('2016-03-28T00:00:00Z'); t += HOUR_MS / 2) expect(instantOfWallClock(wallClockMs(t, berlin), berlin)).toBe(t);
    // In the autumn the repeated hour maps back to its first occurrence.
    expect(instantOfWallClock(wallClockMs(Date.parse('2016-10-30T01:30:00Z'), berlin), berlin)).toBe(Date.parse('2016-10-30T00:30:00Z'));
    expect(wallClockMs(Date.parse('2016-10-30T01:30:00Z'), berlin)).toBe(Date.parse('2016-10-30T02:30:00Z'));
  });
});

describe('site.timeZone in the config', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'pe-zone-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const config = (zone: string | null) => {
    const file = join(dir, `${zone ?? 'none'}.yaml`.replace(/\//g, '-'));
    writeFileSync(file, `gatewayId: home\nboard: {file: ${join(root, 'boards/raspberry-pi-4.yaml')}}\nstorage: {dir: state}\n${zone === null ? '' : `site: {timeZone: ${zone}}\n`}`);
    return file;
  };

  it('is UTC when left out, takes an IANA name, and names the field when the zone is unknown', () => {
    expect(loadGatewayConfig(config(null)).site.timeZone).toBe('UTC');
    expect(loadGatewayConfig(config('Europe/Berlin')).site.timeZone).toBe('Europe/Berlin');
    const file = config('Europe/Berlln');
    expect(() => loadGatewayConfig(file)).toThrow(GatewayConfigError);
    expect(() => loadGatewayConfig(file)).toThrow(`${file}: /site/timeZone: unknown time zone "Europe/Berlln" (an IANA name such as Europe/Berlin, or UTC)`);
  });
});
