/**
 * Exponential back-off for a Modbus unit that stopped answering: after the n-th consecutive
 * failed operation the unit is left alone for initialMs × factor^(n−1), capped at maxMs, so a
 * dead device costs the shared line one probe per window instead of a timeout per request.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
}

export const defaultBackoff: BackoffOptions = { initialMs: 1_000, maxMs: 60_000, factor: 2 };

export function backoffDelayMs(options: BackoffOptions, consecutiveFailures: number): number {
  if (consecutiveFailures <= 0) return 0;
  return Math.min(options.maxMs, options.initialMs * options.factor ** (consecutiveFailures - 1));
}

export function checkBackoffOptions(options: BackoffOptions): BackoffOptions {
  const { initialMs, maxMs, factor } = options;
  if (!(initialMs >= 0) || !(maxMs >= initialMs) || !(factor >= 1)) {
    throw new RangeError(`back-off needs 0 <= initialMs <= maxMs and factor >= 1, got ${JSON.stringify(options)}`);
  }
  return options;
}
