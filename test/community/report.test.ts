import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HourRecord } from '../../src/runtime/types.ts';
import { formatSummary, gainSentences, writeReport } from '../../src/community/report.ts';
import type { CommunitySummary } from '../../src/community/runner.ts';
import { summariseRun, type HouseholdRecords } from '../../src/community/summary.ts';

const HOUR_MS = 3_600_000;
const days = [Date.parse('2016-07-01T00:00:00Z'), Date.parse('2016-07-04T00:00:00Z')];

function records(household: string, importKw: (h: number) => number): HouseholdRecords {
  const hours = days.flatMap((day) =>
    Array.from({ length: 24 }, (_, h): HourRecord => ({
      hourStartMs: day + h * HOUR_MS, importKwh: importKw(h), exportKwh: 0, peakImportKw: importKw(h), pvKwh: 0, batteryDischargeKwh: 0, batteryChargeKwh: 0,
      shiftableRequestedKwh: 0, shiftableServedKwh: 0, scheduledGridKw: importKw(h), buyEurPerKwh: 0.3, sellEurPerKwh: 0.08, realtimeBuyEurPerKwh: 0.4,
      realtimeSellEurPerKwh: 0.04, tradeKwh: 0, tradeCostEur: 0, trades: [], socMinFraction: 0.5, socMaxFraction: 0.5, violations: [], safeIterations: 0, iterations: 4,
    })),
  );
  return { household, hours, energy: [{ atMs: days[0]!, energyKwh: 5 }], safetyEvents: [{ atMs: days[0]! + 3 * HOUR_MS, reason: 'bms-limit', action: 'clip', detail: 'x' }] };
}

function summary(dir: string): CommunitySummary {
  const controlled = summariseRun([records('residential1', () => 0.5), records('residential2', (h) => (h === 18 ? 2 : 0.4))], days);
  const noControl = summariseRun([records('residential1', (h) => (h === 19 ? 3 : 0.6)), records('residential2', (h) => (h === 18 ? 2.5 : 0.4))], days);
  return {
    runDir: dir, reportFile: join(dir, 'report.html'), summaryFile: join(dir, 'summary.json'), dataDir: 'data/community',
    households: ['residential1', 'residential2', 'residential4'], speed: 3600, communityImportEpsilon: null, liveGuard: true, samples: null, fittedBefore: '2016-07-01', startIso: '2016-06-30T23:00:00.000Z', endIso: '2016-07-05T00:00:00.000Z',
    requestedDays: ['2016-07-01', '2016-07-04'], summarisedDays: ['2016-07-01', '2016-07-04'], wallSeconds: 125, interrupted: false,
    gateways: [
      { household: 'residential1', status: 'ok', exitCode: 0, signal: null, stderrTail: '', logFile: join(dir, 'residential1/gateway.log'), configFile: join(dir, 'residential1/gateway.yaml') },
      { household: 'residential2', status: 'ok', exitCode: 0, signal: null, stderrTail: '', logFile: join(dir, 'residential2/gateway.log'), configFile: join(dir, 'residential2/gateway.yaml') },
      { household: 'residential4', status: 'crashed', exitCode: 1, signal: null, stderrTail: 'residential4: stopped on an error: <boom>', logFile: join(dir, 'residential4/gateway.log'), configFile: join(dir, 'residential4/gateway.yaml') },
    ],
    controlled,
    noControl,
  };
}

describe('the community report', () => {
  it('says which days were run but not summarised, and why the peak-to-average ratio rose', () => {
    const s = { ...summary('/tmp/run'), requestedDays: ['2016-07-01', '2016-07-02', '2016-07-04'] };
    const sentences = gainSentences(s);
    expect(sentences.at(-1)).toBe('Not summarised: 1 of the 3 days run (2016-07-02), because not every gateway that finished recorded them whole (a gateway started late, stopped early or crashed).');
    // residential2's flatter average with the same 2 kW evening peak: its ratio rises.
    const flat = { ...s, controlled: summariseRun([records('residential1', () => 0.5), records('residential2', (h) => (h === 18 ? 2.4 : 0.1))], days) };
    expect(gainSentences(flat)[1]).toMatch(/Its daily peak-to-average ratio rose \(\d+\.\d\d → \d+\.\d\d\): the battery and the PV lowered its average import more than its peak, so judge by the peak in kW\.$/);
  });

  it('says how much the live community guard discharged beyond the households’ own commands, and nothing when it did not act', () => {
    const s = summary('/tmp/run');
    expect(gainSentences(s).find((x) => x.startsWith('The community'))).not.toMatch(/live community guard/);
    const guarded = (r: HouseholdRecords, kwh: number): HouseholdRecords => ({ ...r, hours: r.hours.map((h) => (h.hourStartMs % (24 * HOUR_MS) === 18 * HOUR_MS ? { ...h, communityGuardKwh: kwh } : h)) });
    // 0.4 and 0.25 kWh at 18:00 on each of the two days.
    const controlled = summariseRun([guarded(records('residential1', () => 0.5), 0.4), guarded(records('residential2', (h) => (h === 18 ? 2 : 0.4)), 0.25)], days);
    expect(controlled.households.map((h) => h.communityGuardKwh)).toEqual([0.8, 0.5]);
    expect(gainSentences({ ...s, controlled }).find((x) => x.startsWith('The community'))).toMatch(/ To hold the connection point at the peak it pays for, the live community guard discharged the batteries 1\.3 kWh beyond the households' own commands\.$/);
  });

  it('gives the no-loss account over every day settled in the run when the run settled days the summary leaves out', () => {
    const s = summary('/tmp/run');
    // Settled on both test days and on 2016-07-02 between them; the running account after the last: 0.50 € above alone.
    const line = (dayMs: number, transferEur: number, account: { aloneEur: number; withCommunityEur: number; transferEur: number }) => ({
      dayMs, participants: ['residential1', 'residential2'], transfersEur: {}, ownTransferEur: transferEur, aloneEur: 10, withCommunityEur: 10.5, booked: true, reason: 'test',
      household: { billEur: 10.5, shadowBillEur: 10 }, account,
    });
    const settlements = [line(days[0]!, -1, { aloneEur: 10, withCommunityEur: 10.5, transferEur: -1 }), line(days[0]! + 24 * HOUR_MS, 0, { aloneEur: 20, withCommunityEur: 21, transferEur: -1 }), line(days[1]!, 0, { aloneEur: 30, withCommunityEur: 31.5, transferEur: -1 })];
    const controlled = summariseRun([{ ...records('residential1', () => 0.5), settlements }, records('residential2', (h) => (h === 18 ? 2 : 0.4))], days);
    const sentence = gainSentences({ ...s, controlled }).find((x) => x.startsWith('residential1'))!;
    expect(sentence).toMatch(/it would have paid 20\.00 € on the 2 settled day\(s\); with the community 21\.00 €, receiving 1\.00 € in the no-loss settlement: 20\.00 €, 0\.00 € below its bill alone\. Over all 3 day\(s\) settled in the run, the days between test days included \(the settlement makes up a loss over all of them\): 30\.50 € against 30\.00 € alone, 0\.50 € above\.$/);
  });

  it('writes an HTML page with the six plots inline and the summary as JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'community-report-'));
    const s = summary(dir);
    await writeReport(s);
    const html = readFileSync(s.reportFile, 'utf8');
    for (const id of ['community-import', 'peak-day', 'daily-cost', 'soc', 'trades', 'safety']) {
      expect(html).toMatch(new RegExp(`<figure id="${id}"><svg [^>]*>[\\s\\S]*?<polyline[\\s\\S]*?</svg></figure>`));
    }
    expect(html).not.toContain('<?xml');
    expect(html).toContain('Community import on 2016-07-01, the day of the highest peak without control');
    expect(html).toContain('&lt;boom&gt;');
    const json = JSON.parse(readFileSync(s.summaryFile, 'utf8')) as CommunitySummary;
    expect(json.controlled!.community.peakImportKw).toBe(2.5);
    expect(json.noControl!.community.peakImportKw).toBeCloseTo(3 + 0.4, 9);
  });

  it('prints controlled against no control per household and for the community, and each crash with its stderr', () => {
    const text = formatSummary(summary('/tmp/run'));
    expect(text).toMatch(/^Community run: 2 of 2 test day\(s\) 2016-07-01\.\.2016-07-04, 3 households/);
    expect(text).toMatch(/\ncommunity +\d/);
    expect(text).toMatch(/residential1 .* -\d+\.\d %/);
    expect(text).toContain('residential4 CRASHED (exit 1)');
    // It leads with what each household and the community gained, in € and kW against no control.
    const [, , first, second, community] = text.split('\n');
    expect(first).toMatch(/^residential1: saved \d+\.\d\d € \(\d+\.\d %\) over 2 day\(s\) against no control .*; its average daily peak import from the grid down 2\.50 kW \(3\.00 → 0\.50 kW\)\./);
    // residential2 now carries the community's coincident peak: a bill that rose says so.
    expect(second).toMatch(/^residential2: paid \d+\.\d\d € more \(\d+\.\d %\) over 2 day\(s\).*down 0\.50 kW \(2\.50 → 2\.00 kW\)\./);
    expect(community).toMatch(/^The community: saved .* at its connection point down/);
    expect(text).toContain('  residential4: stopped on an error: <boom>');
  });
});
