/**
 * A token bucket per sender: `perSecond` sustained, `burst` at once. Keyed by verified member ids
 * only, so the map is bounded by the membership however many names an outsider makes up.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {}

  /** Takes one token from `key`'s bucket; false when it is empty. */
  take(key: string, nowMs: number): boolean {
    const bucket = this.refilled(key, nowMs);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Whether `take` would succeed now, taking nothing. */
  has(key: string, nowMs: number): boolean {
    return this.refilled(key, nowMs).tokens >= 1;
  }

  private refilled(key: string, nowMs: number): { tokens: number; atMs: number } {
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, atMs: nowMs };
    bucket.tokens = Math.min(this.burst, bucket.tokens + (Math.max(0, nowMs - bucket.atMs) * this.perSecond) / 1000);
    bucket.atMs = nowMs;
    this.buckets.set(key, bucket);
    return bucket;
  }
}
