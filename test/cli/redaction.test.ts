/**
 * Broker passwords stay out of the log (issue 13 item 7). End to end, a gateway whose telemetry
 * broker URL has a login is checked in test/build/compiled.test.ts; here the log itself, with the
 * URL forms the market and telemetry configs allow.
 */
import { describe, expect, it } from 'vitest';
import { createRuntimeLog } from '../../src/runtime/log.ts';
import { systemClock } from '../../src/time/clock.ts';

function logged(message: string): string {
  const lines: string[] = [];
  createRuntimeLog('gw-1', systemClock, (line) => lines.push(line))('warn', message);
  return lines[0]!;
}

describe('the runtime log', () => {
  it.each([
    ['telemetry: connected to mqtt://prosumer-edge:change-me@homeassistant.local:1883', 'mqtt://prosumer-edge:***@homeassistant.local:1883', 'change-me'],
    ['market: no connection to mqtts://gw-1:p%40ss@192.168.1.10:8883', 'mqtts://gw-1:***@192.168.1.10:8883', 'p%40ss'],
    ['telemetry: broker wss://ha:s3cret@example.org:8884/mqtt unreachable (ECONNREFUSED)', 'wss://ha:***@example.org:8884/mqtt unreachable', 's3cret'],
    ['broker mqtt://u:an@unescaped@host:1883 unreachable', 'mqtt://u:***@host:1883', 'an@unescaped'],
  ])('writes %s with the password as ***', (message, shown, password) => {
    const line = logged(message);
    expect(line).toContain(shown);
    expect(line).not.toContain(password);
  });

  it('leaves URLs without a password as they are', () => {
    for (const url of ['mqtt://homeassistant.local:1883', 'mqtt://gateway@host:1883', 'embedded:1884', 'http://127.0.0.1:8080/']) expect(logged(`at ${url}`)).toContain(`at ${url}`);
  });
});
