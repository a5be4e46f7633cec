/**
 * The runtime's log: one line per event, stamped with the gateway clock (simulated time in a
 * simulation) so a log reads like the plant's own history. systemd's journal adds wall time.
 */
import type { Clock } from '../time/clock.ts';

export type LogLevel = 'info' | 'warn' | 'error';

export interface RuntimeLog {
  (level: LogLevel, message: string): void;
}

export function createRuntimeLog(gatewayId: string, clock: Clock, write: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): RuntimeLog {
  return (level, message) => {
    const at = new Date(clock.nowMs()).toISOString().replace('.000Z', 'Z');
    write(`${at} ${gatewayId} ${level.padEnd(5)} ${redactPasswords(message)}`);
  };
}

/**
 * `mqtt://user:password@host` → `mqtt://user:***@host` in any text. Every log line passes here:
 * broker URLs with a login (the telemetry's, the market's) appear in connection messages and in
 * errors, and the journal is readable by more people than the config file (0640).
 */
export function redactPasswords(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/]*):[^\s/]*@/gi, '$1:***@');
}
