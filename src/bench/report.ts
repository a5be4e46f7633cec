/** One benchmark figure. Every suite prints through here so `--json` gives uniform JSON lines. */
export interface BenchRecord {
  suite: string;
  metric: string;
  value: number;
  unit: string;
  /** The conditions the figure was measured under (baud rate, model size, peers, ...). */
  params?: Record<string, string | number | boolean>;
  /** The goal it is compared against, in the same unit, when the issue names one. */
  goal?: { op: '<=' | '>='; value: number };
}

export interface BenchOptions {
  json: boolean;
  /** Fewer repetitions: for a smoke run in CI, not for the figures in a closing note. */
  quick: boolean;
}

export function report(options: BenchOptions, record: BenchRecord): void {
  if (options.json) {
    process.stdout.write(`${JSON.stringify(record)}\n`);
    return;
  }
  const params = record.params ? ` ${Object.entries(record.params).map(([k, v]) => `${k}=${v}`).join(' ')}` : '';
  const goal = record.goal ? `  (goal ${record.goal.op} ${record.goal.value} ${record.unit}: ${meets(record) ? 'met' : 'NOT met'})` : '';
  process.stdout.write(`${record.suite.padEnd(12)} ${record.metric.padEnd(28)} ${formatValue(record.value).padStart(12)} ${record.unit}${params}${goal}\n`);
}

export function meets(record: BenchRecord): boolean {
  if (!record.goal) return true;
  return record.goal.op === '<=' ? record.value <= record.goal.value : record.value >= record.goal.value;
}

function formatValue(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(3);
}
