/**
 * The community run's progress bar: how far the slowest gateway has got in simulated time (from
 * its telemetry, or the lock-step time every gateway has reached), and the wall time left at the
 * run's speed (lock-step: at the rate measured so far). On a terminal one line is
 * rewritten at most every 200 ms; otherwise (a log, CI) a line is written at every 10 %.
 */

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  /** Terminal width: the rewritten line must not wrap, or `\r` would only rewrite its last row. */
  columns?: number;
}

export interface CommunityProgress {
  /** `reportedMs`: simulated time the slowest live gateway reported (null before any did). */
  update(reportedMs: number | null, reporting: number, live: number): void;
  /** Ends the bar's line. */
  done(): void;
}

const barWidth = 24;

/** `speed`: simulated per wall second, or 'lockstep' (the ETA then follows the rate measured so far). */
export function communityProgress(stream: ProgressStream, startMs: number, endMs: number, speed: number | 'lockstep'): CommunityProgress {
  const startedWallMs = Date.now();
  let lastDrawMs = -Infinity;
  let lastDecile = -1;
  let drawn = false;
  const clock = (ms: number) => {
    const s = Math.max(0, Math.round(ms / 1000));
    return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  };
  return {
    update(reportedMs, reporting, live) {
      const fraction = reportedMs === null ? 0 : Math.min(1, Math.max(0, (reportedMs - startMs) / (endMs - startMs)));
      const nowMs = Date.now();
      const decile = Math.floor(fraction * 10);
      if (stream.isTTY ? nowMs - lastDrawMs < 200 : decile <= lastDecile) return;
      lastDrawMs = nowMs;
      lastDecile = decile;
      const filled = Math.round(fraction * barWidth);
      const at = reportedMs === null ? 'starting' : new Date(reportedMs).toISOString().slice(0, 16).replace('T', ' ');
      const rate = speed === 'lockstep' ? (reportedMs === null ? NaN : (reportedMs - startMs) / (nowMs - startedWallMs)) : speed;
      const etaMs = reportedMs === null || !(rate > 0) ? NaN : (endMs - Math.max(reportedMs, startMs)) / rate;
      const text = `[community] [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${(100 * fraction).toFixed(1).padStart(5)} % ${at} · ${reporting}/${live} gateways reporting · elapsed ${clock(nowMs - startedWallMs)} · ETA ${Number.isFinite(etaMs) ? clock(etaMs) : '?'}`;
      const width = Math.max(20, (stream.columns ?? 120) - 1);
      stream.write(stream.isTTY ? `\r${text.slice(0, width).padEnd(width)}` : `${text}\n`);
      drawn = true;
    },
    done() {
      if (stream.isTTY && drawn) stream.write('\n');
    },
  };
}
