/**
 * END TO END — the community run with a CES (`--ces`): four `prosumer-edge run` gateways and
 * `prosumer-edge ces-agent` on one broker and one lock-step time, over one simulated day (two to
 * four minutes of wall time on two shared cores). The CES clears the day's rental with the gateways,
 * the bookings are in both parties' rental ledgers with opposite signs, the account energy is
 * committed as trades in both parties' market ledgers, and the CES's battery, metered, did what its
 * schedule said.
 */
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { MeteredHour } from '../../src/ces/storage.ts';
import { runCommunity } from '../../src/community/runner.ts';
import { householdIds } from '../../src/data/households.ts';

describe('the community run with a CES (end to end)', () => {
  it('clears, books and commits the rental with the gateways on lock-step time; the ledgers mirror each other and the CES battery meters its schedule', async () => {
    const summary = await runCommunity({ days: 1, ces: true, outDir: mkdtempSync(join(tmpdir(), 'community-ces-')), progress: { write: () => undefined } });
    expect(summary.gateways.map((g) => g.status)).toEqual(householdIds.map(() => 'ok'));
    expect(summary.ces?.outcome.status, summary.ces?.outcome.stderrTail).toBe('ok');
    const market = summary.ces!.market!;
    expect(market.days.map((d) => d.day)).toEqual(summary.summarisedDays);
    const [day] = market.days;
    // Every household answered every round (none silent) and accepted what it was booked.
    expect(day!.rounds).toBeGreaterThan(0);
    expect(day!.committedTrades).toBe(day!.accountTrades);
    expect(market.mirrored).toBe(true);
    expect(market.tradesMirrored).toBe(true);
    const lines = readFileSync(join(summary.runDir, 'ces', 'data', 'ces-days.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { silent: string[]; unbooked: unknown[]; schedule: { physicalChargeKw: number[]; physicalDischargeKw: number[] } });
    expect(lines.map((l) => [l.silent, l.unbooked])).toEqual([[[], []]]);

    // The CES's battery did what the schedule says, hour by hour (within the registers' resolution).
    const dayMs = Date.parse(`${day!.day}T00:00:00Z`);
    const { hours } = JSON.parse(readFileSync(join(summary.runDir, 'ces', 'data', 'ces-metered.json'), 'utf8')) as { hours: MeteredHour[] };
    const { physicalChargeKw: charge, physicalDischargeKw: discharge } = lines[0]!.schedule;
    const dayHours = hours.filter((h) => h.hourStartMs >= dayMs && h.hourStartMs < dayMs + 86_400_000);
    expect(dayHours).toHaveLength(24);
    dayHours.forEach((h, t) => {
      const both = Math.min(charge[t]!, discharge[t]!);
      expect(Math.abs(h.chargeKwh - (charge[t]! - both))).toBeLessThan(0.02);
      expect(Math.abs(h.dischargeKwh - (discharge[t]! - both))).toBeLessThan(0.02);
    });
    expect(market.chargeKwh).toBeCloseTo(dayHours.reduce((s, h) => s + h.chargeKwh, 0), 9);
  }, 600_000);
});
