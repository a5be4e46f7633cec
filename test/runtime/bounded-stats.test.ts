import { describe, expect, it } from 'vitest';
import { BoundedSample } from '../../src/runtime/bounded-stats.ts';
import { seededRandom } from '../../src/random/seeded-random.ts';

/** Iteration times with a long tail, like a fast loop's: mostly a few ms, now and then a GC pause. */
function iterationTimesMs(n: number, seed: number): number[] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => {
    const gaussian = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    return Math.exp(1 + 0.6 * gaussian) + (random() < 0.01 ? 40 * random() : 0);
  });
}

/** Where `value` falls among the sorted exact values, as a fraction of them. */
function rankOf(sortedExact: number[], value: number): number {
  let below = 0;
  while (below < sortedExact.length && sortedExact[below]! < value) below++;
  return below / sortedExact.length;
}

describe('bounded statistics of iteration times', () => {
  it('holds every value, in order, while they fit, so short runs report exact quantiles', () => {
    const values = iterationTimesMs(1000, 1);
    const sample = new BoundedSample(2048);
    for (const v of values) sample.add(v);
    expect(sample.values()).toEqual(values);
    const sorted = [...values].sort((a, b) => a - b);
    expect(sample.quantile(0.95)).toBe(sorted[949]);
  });

  it('stays at its capacity after a simulated year of a 5 s fast loop (6.3 million iterations)', () => {
    const sample = new BoundedSample(2048);
    const random = seededRandom(2);
    const iterationsPerYear = (365 * 24 * 3600) / 5;
    for (let i = 0; i < iterationsPerYear; i++) sample.add(random());
    expect(sample.count).toBe(iterationsPerYear);
    expect(sample.values()).toHaveLength(2048);
  });

  it('keeps a uniform sample of a long run: its median, p95 and p99 fall within 3 standard errors of the exact ranks', () => {
    const values = iterationTimesMs(200_000, 3);
    const sample = new BoundedSample(2048);
    for (const v of values) sample.add(v);
    const sorted = [...values].sort((a, b) => a - b);
    for (const q of [0.5, 0.95, 0.99]) {
      const standardError = Math.sqrt((q * (1 - q)) / 2048);
      expect(Math.abs(rankOf(sorted, sample.quantile(q)) - q)).toBeLessThan(3 * standardError);
    }
    expect(sample.min).toBe(sorted[0]);
    expect(sample.max).toBe(sorted.at(-1));
  });

  it('keeps the sample in arrival order and spread over the whole run, not just its start or end', () => {
    const sample = new BoundedSample(1000);
    const n = 100_000;
    for (let i = 0; i < n; i++) sample.add(i);
    const kept = sample.values();
    expect(kept).toEqual([...kept].sort((a, b) => a - b));
    const meanPosition = kept.reduce((s, i) => s + i, 0) / kept.length / n;
    // Uniform positions have mean ½ and standard error 1/√(12·1000) ≈ 0.009.
    expect(Math.abs(meanPosition - 0.5)).toBeLessThan(0.03);
    expect(kept.filter((i) => i < n / 10)).not.toHaveLength(0);
    expect(kept.filter((i) => i >= (9 * n) / 10)).not.toHaveLength(0);
  });
});
