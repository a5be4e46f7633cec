/** The start-up report as people read it: one line a device, found or not and why. */
import type { DeviceReport } from './assemble.ts';

export function formatDiscoveryReport(report: DeviceReport[]): string {
  const found = report.filter((r) => r.found).length;
  const lines = report.map((r) => `  ${r.found ? 'found  ' : 'MISSING'} ${r.id.padEnd(16)} ${r.kind.padEnd(15)} ${r.endpoint}  ${r.detail}`);
  return [`devices: ${found} of ${report.length} found`, ...lines].join('\n');
}
