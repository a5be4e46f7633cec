import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { BenchRecord } from '../../src/bench/report.ts';

const cli = fileURLToPath(new URL('../../src/cli/prosumer-edge.mjs', import.meta.url));

describe('bench gateway', () => {
  it('runs real gateway processes at a tiny size and prints one JSON record per figure, with its conditions', async () => {
    const env = { ...process.env, PE_BENCH_GATEWAY_HOURS: '0.5', PE_BENCH_GATEWAY_SPEED: '600', PE_BENCH_GATEWAY_PROCESSES: '1', PE_BENCH_GATEWAY_SECONDS: '4' };
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'bench', 'gateway', '--json'], { env, maxBuffer: 1 << 20 });
    const records = stdout.trim().split('\n').map((line) => JSON.parse(line) as BenchRecord);
    const byMetric = new Map(records.map((r) => [r.metric, r]));

    for (const r of records) {
      expect(r.suite).toBe('gateway');
      expect(typeof r.unit).toBe('string');
    }
    // The simulated day: memory against the goal, loop costs, slow-loop latency, and their conditions.
    const rss = byMetric.get('day peak RSS (VmHWM)')!;
    expect(rss).toMatchObject({ unit: 'MiB', goal: { op: '<=', value: 150 }, params: { speed: 600, hours: 0.5, fastPeriodS: 60 } });
    expect(rss.value).toBeGreaterThan(10); // a node process, not an empty reading
    for (const metric of ['day final RSS', 'day process CPU']) expect(byMetric.get(metric)?.value, metric).toBeGreaterThan(0);
    // A figure over iterations or plans: positive when there were any, null (not 0) when a machine too busy gave the
    // half hour at 600× (3 s of wall time) none — the suite's runs beside a community run once had no plan in it.
    const counts = { fast: byMetric.get('fast iteration CPU median')!.params!['iterations'] as number, tick: byMetric.get('tick to setpoint median')!.params!['ticks'] as number };
    for (const metric of ['fast iteration CPU median', 'fast iteration CPU p95', 'fast iteration wall median', 'fast iteration wall p95', 'tick to setpoint median', 'tick to setpoint p95', 'tick to setpoint max']) {
      const value = byMetric.get(metric)!.value;
      if (counts[metric.startsWith('tick') ? 'tick' : 'fast'] > 0) expect(value, metric).toBeGreaterThan(0);
      else expect(value, metric).toBeNull();
    }
    for (const metric of ['skipped fast iterations', 'fallback plans', 'safety events']) {
      expect(byMetric.get(metric)?.value, metric).toBeGreaterThanOrEqual(0);
    }
    expect(byMetric.get('fast iteration CPU median')!.params!['iterations']).toBeGreaterThan(0);

    // Real time: one process, every figure present, no failure, and the count it sustained stated.
    for (const metric of ['rt skipped fast iterations', 'rt fallback plans', 'rt tick to setpoint max', 'rt total RSS (sum VmHWM)', 'rt machine CPU busy', 'rt failed processes']) {
      expect(byMetric.get(metric)?.params, metric).toMatchObject({ processes: 1, speed: 1, fastPeriodS: 1, stepMinutes: 1 });
    }
    expect(byMetric.get('rt failed processes')!.value).toBe(0);
    expect(byMetric.get('rt fallback plans')!.params!['minTicksPerProcess']).toBeGreaterThanOrEqual(1);
    const sustained = byMetric.get('real-time gateways sustained')!;
    expect(sustained.unit).toBe('processes');
    expect([0, 1]).toContain(sustained.value);
    expect(sustained.params).toMatchObject({ tried: '1' });
  }, 180_000);
});
