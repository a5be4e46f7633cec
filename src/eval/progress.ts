/**
 * A one-line progress report with ETA on stderr, at most every `intervalMs` (every 5 × intervalMs
 * as plain lines when stderr is not a terminal). The ETA uses the rate of the last minute, since
 * steps of the rule-based controllers are a thousand times cheaper than optimizer steps.
 */
export function progressLine(total: number, intervalMs = 2000, stream: NodeJS.WriteStream = process.stderr): (done: number, what: string) => void {
  const startedMs = performance.now();
  let lastMs = -Infinity;
  const recent: [number, number][] = [[startedMs, 0]];
  return (done, what) => {
    const nowMs = performance.now();
    if (nowMs - lastMs < (stream.isTTY ? intervalMs : intervalMs * 5) && done < total) return;
    lastMs = nowMs;
    recent.push([nowMs, done]);
    while (recent.length > 2 && nowMs - recent[1]![0] > 60_000) recent.shift();
    const [fromMs, fromDone] = recent[0]!;
    const rate = (done - fromDone) / Math.max(nowMs - fromMs, 1);
    const etaS = rate > 0 ? (total - done) / rate / 1000 : NaN;
    const clock = (s: number) => (Number.isFinite(s) ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : '?');
    const text = `[eval] ${done}/${total} steps (${((100 * done) / total).toFixed(1)}%) ${what} elapsed ${clock((nowMs - startedMs) / 1000)} ETA ${clock(etaS)}`;
    stream.write(stream.isTTY ? `\r${text.padEnd(100)}${done >= total ? '\n' : ''}` : `${text}\n`);
  };
}
