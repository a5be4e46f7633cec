/**
 * END TO END — needs the gateway runtime (`prosumer-edge run --config`, src/runtime): four real
 * `prosumer-edge run` processes, each with its simulator on real sockets and ptys, on the
 * runner's embedded broker, over one simulated day (one to two minutes of wall time each run).
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { householdIds } from '../../src/data/households.ts';
import { runCommunity } from '../../src/community/runner.ts';

/** These runs check the run's mechanics, not its figures: 5 error samples per solve instead of 20 solve faster. */
const samples = 5;

/** Pids of this test's gateway processes whose command line names every one of `needles` (read from /proc: they are our own children). */
function gatewayPids(...needles: string[]): number[] {
  return processes()
    .filter((p) => needles.every((needle) => p.cmdline.includes(needle)))
    .map((p) => p.pid);
}

/** The processes a gateway started itself (its simulator's socat ptys), which a SIGKILL leaves behind. */
function childPids(parent: number): number[] {
  return processes()
    .filter((p) => p.ppid === parent)
    .map((p) => p.pid);
}

function processes(): { pid: number; ppid: number; cmdline: string }[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .flatMap((pid) => {
      try {
        const ppid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
        return [{ pid: Number(pid), ppid, cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8') }];
      } catch {
        return [];
      }
    });
}

describe('the community run (end to end: needs `prosumer-edge run`)', () => {
  it('gives the same figures in two lock-step runs of the same day, whatever the load of the machine', async () => {
    const run = () => runCommunity({ days: 1, samples, outDir: mkdtempSync(join(tmpdir(), 'community-e2e-')), progress: { write: () => undefined } });
    // Side by side: each run loads the machine for the other, and neither's figures may notice.
    const [first, second] = await Promise.all([run(), run()]);
    expect(first.speed).toBe('lockstep');
    expect(first.summarisedDays).toEqual(['2016-07-01']);
    expect(first.gateways.map((g) => g.status)).toEqual(householdIds.map(() => 'ok'));
    expect(second.controlled).toEqual(first.controlled);
    // The clearing's P2P trades are part of it: the households traded with each other.
    expect(first.controlled!.community.tradedKwh).toBeGreaterThan(0);
    // The gateways settled the day among themselves against their shadows: booked, every household
    // ends at its bill alone less a quarter of the saving; refused only when there was none.
    const community = first.controlled!.community.noLoss!;
    expect(community.days).toBe(1);
    const savingEur = community.aloneEur - community.withCommunityEur;
    expect(community.transferEur).toBeCloseTo(0, 9);
    for (const h of first.controlled!.households) {
      const n = h.noLoss!;
      expect(n.days).toBe(1);
      expect(n.bookedDays).toBe(community.bookedDays);
      if (n.bookedDays === 1) expect(n.withCommunityEur + n.transferEur).toBeCloseTo(n.aloneEur - savingEur / householdIds.length, 9);
      else expect(n.transferEur).toBe(0);
    }
    if (community.bookedDays === 0) expect(savingEur).toBeLessThan(0);
  }, 420_000);

  it('survives a gateway killed halfway (lock-step time goes on without it): the crash is reported with its stderr, the other three are summarised against no control', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'community-e2e-'));
    const lines: string[] = [];
    let killed = false;
    const orphans: number[] = [];
    const summary = await runCommunity({
      days: 1,
      samples,
      outDir,
      progress: {
        write(text) {
          lines.push(text);
          const percent = Number(/\]\s+([\d.]+) %/.exec(text)?.[1]);
          if (!killed && percent >= 40) {
            killed = true;
            // This run's gateway only: another community run on the machine has its own residential6.
            for (const pid of gatewayPids(outDir, join('residential6', 'gateway.yaml'))) {
              orphans.push(...childPids(pid));
              process.kill(pid, 'SIGKILL');
            }
          }
        },
      },
    });
    // What the killed gateway left running (its simulator's ptys) is ours to end.
    for (const pid of orphans) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    expect(killed).toBe(true);
    expect(orphans.length).toBeGreaterThan(0);
    expect(Math.max(...lines.map((l) => Number(/\]\s+([\d.]+) %/.exec(l)?.[1] ?? 0)))).toBeGreaterThanOrEqual(90);

    const status = Object.fromEntries(summary.gateways.map((g) => [g.household, g.status]));
    expect(status).toEqual({ residential1: 'ok', residential2: 'ok', residential4: 'ok', residential6: 'crashed' });
    const crashed = summary.gateways.find((g) => g.household === 'residential6')!;
    expect(crashed.signal).toBe('SIGKILL');
    expect(crashed.stderrTail).toMatch(/residential6/);

    expect(summary.summarisedDays).toEqual(['2016-07-01']);
    const ran = householdIds.filter((id) => id !== 'residential6');
    expect(summary.controlled!.households.map((h) => h.household)).toEqual(ran);
    expect(summary.noControl!.households.map((h) => h.household)).toEqual(ran);
    for (const h of summary.controlled!.households) {
      expect(h.hourlyImportKw).toHaveLength(24);
      expect(Number.isFinite(h.cost.total)).toBe(true);
      expect(h.hourlyEnergyKwh.every((e) => e !== null && e >= 0 && e <= 10)).toBe(true);
    }
    expect(summary.controlled!.community.hourlyImportKw).toHaveLength(24);

    const html = readFileSync(summary.reportFile, 'utf8');
    expect(html.match(/<figure id="[a-z-]+"><svg /g)).toHaveLength(6);
    expect(html).toContain('residential6: last stderr lines');
    expect(JSON.parse(readFileSync(summary.summaryFile, 'utf8')).summarisedDays).toEqual(['2016-07-01']);
    for (const id of householdIds) expect(existsSync(join(summary.runDir, id, 'gateway.yaml'))).toBe(true);
  }, 300_000);

  it('stops every gateway cleanly when aborted (Ctrl-C), and reports the run as interrupted', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'community-e2e-'));
    const stop = new AbortController();
    const summary = await runCommunity({
      days: 1,
      samples,
      speed: 1800,
      outDir,
      signal: stop.signal,
      progress: {
        write(text) {
          // As soon as a gateway reports: the others may still be starting, and must stop as cleanly.
          if (/ [1-4]\/4 gateways reporting/.test(text)) stop.abort();
        },
      },
    });
    expect(summary.interrupted).toBe(true);
    expect(summary.gateways.map((g) => [g.status, g.exitCode])).toEqual(householdIds.map(() => ['stopped', 0]));
    for (const g of summary.gateways) expect(readFileSync(g.logFile, 'utf8')).toMatch(/stopped: \d+ fast iterations/);
    expect(gatewayPids(outDir)).toEqual([]);
    expect(summary.summarisedDays).toEqual([]);
    expect(existsSync(summary.reportFile)).toBe(true);
  }, 180_000);
});
