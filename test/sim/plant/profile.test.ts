import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { defaultProfileFile, loadProfile, parseProfile } from '../../../sim/plant/profile.ts';

const HOUR_MS = 3_600_000;
const csvRows = readFileSync(defaultProfileFile, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));

describe('the replayed household profile', () => {
  const profile = loadProfile();

  it('replays every measured hour of the slice, held for the whole hour', () => {
    for (const [ts, load, pv] of csvRows) {
      const startMs = Date.parse(ts!);
      for (const offsetMs of [0, 1, 30 * 60_000, HOUR_MS - 1]) {
        expect(profile.at(startMs + offsetMs)).toEqual({ loadKw: Number(load), pvKw: Number(pv) });
      }
    }
  });

  it('maps a day outside the slice onto the week of its season at the same time of day', () => {
    const julyNoon = Date.parse('2016-07-15T12:00:00Z');
    const summerNoons = csvRows.filter(([ts]) => ts!.startsWith('2016-06') && ts!.endsWith('T12:00:00Z')).map(([, l, p]) => ({ loadKw: Number(l), pvKw: Number(p) }));
    expect(summerNoons).toContainEqual(profile.at(julyNoon));
    expect(profile.at(julyNoon).pvKw).toBeGreaterThan(1);
    const decemberMidnight = Date.parse('2025-12-03T00:30:00Z');
    expect(profile.at(decemberMidnight).pvKw).toBe(0);
    const winterMidnights = csvRows.filter(([ts]) => ts!.startsWith('2016-01') && ts!.endsWith('T00:00:00Z')).map(([, l, p]) => ({ loadKw: Number(l), pvKw: Number(p) }));
    expect(winterMidnights).toContainEqual(profile.at(decemberMidnight));
  });

  it('changes values only at whole UTC hours', () => {
    expect(profile.nextChangeMs(Date.parse('2016-06-20T10:20:00Z'))).toBe(Date.parse('2016-06-20T11:00:00Z'));
    expect(profile.nextChangeMs(Date.parse('2016-06-20T11:00:00Z'))).toBe(Date.parse('2016-06-20T12:00:00Z'));
  });

  it('rejects a profile with a missing value or a timestamp off the hour, naming the line', () => {
    expect(() => parseProfile('timestamp,load_kw,pv_kw\n2016-01-01T00:00:00Z,0.5,\n')).toThrow(/line 2/);
    expect(() => parseProfile('timestamp,load_kw,pv_kw\n2016-01-01T00:30:00Z,0.5,0\n')).toThrow(/whole UTC hour/);
    expect(() => parseProfile('timestamp,load_kw\n2016-01-01T00:00:00Z,0.5\n')).toThrow(/pv_kw/);
  });
});
