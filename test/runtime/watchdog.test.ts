import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { closeReceivers, removeReceiverDir, startReceiver, type Datagram } from './notify-receiver.ts';
import { startWatchdog } from '../../src/runtime/watchdog.ts';
import type { LogLevel } from '../../src/runtime/log.ts';

function recordingLog() {
  const lines: { level: LogLevel; message: string }[] = [];
  return { lines, log: (level: LogLevel, message: string) => void lines.push({ level, message }) };
}

const pings = (datagrams: Datagram[]) => datagrams.filter((d) => d.text.split('\n').includes('WATCHDOG=1'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterEach(closeReceivers);
afterAll(removeReceiverDir);

describe('systemd notifications', () => {
  it('without NOTIFY_SOCKET (not started by systemd) the watchdog does nothing and says nothing', async () => {
    const { lines, log } = recordingLog();
    const watchdog = startWatchdog({ env: { WATCHDOG_USEC: '100000' }, log });
    watchdog.ready('running');
    watchdog.status('still running');
    watchdog.stopping();
    await watchdog.close();
    expect(lines).toEqual([]);
  });

  it('READY and the status arrive once started, STOPPING at shutdown, a multi-line status stays one assignment', async () => {
    const receiver = await startReceiver();
    const { log } = recordingLog();
    const watchdog = startWatchdog({ env: { NOTIFY_SOCKET: receiver.path }, log });
    watchdog.ready('running: 4 devices\nplan every 60 min');
    await receiver.waitFor((d) => d.some((x) => x.text.includes('READY=1')));
    watchdog.status('safe mode: battery-unavailable');
    watchdog.stopping();
    await watchdog.close();
    await receiver.waitFor((d) => d.some((x) => x.text.includes('STOPPING=1')));
    const got = receiver.assignments();
    expect(got).toContain('READY=1');
    expect(got).toContain('STATUS=running: 4 devices plan every 60 min');
    expect(got).toContain('STATUS=safe mode: battery-unavailable');
    // systemd-notify --pid names this process as the service's main PID.
    expect(got).toContain(`MAINPID=${process.pid}`);
    // No WATCHDOG_USEC: the unit has no watchdog, so no pings.
    expect(got).not.toContain('WATCHDOG=1');
  });

  it('watchdog pings keep arriving every half interval, stop while the event loop is blocked, resume after it, and end when closed', async () => {
    const receiver = await startReceiver();
    const { lines, log } = recordingLog();
    // WatchdogSec=0.2 s: a ping every 100 ms.
    const watchdog = startWatchdog({ env: { NOTIFY_SOCKET: receiver.path, WATCHDOG_USEC: '200000' }, log });
    expect(lines.map((l) => l.message)).toEqual(['systemd watchdog: a ping every 0.1 s (WatchdogSec 0.2 s)']);
    await receiver.waitFor((d) => pings(d).length >= 5);

    // A hung main loop: nothing may ping for it (a ping spawned just before has 500 ms to land).
    const blockedFromMs = Date.now();
    while (Date.now() - blockedFromMs < 2000) {
      /* busy: the event loop is stuck */
    }
    const blockedToMs = Date.now();
    const countAfterBlock = pings(receiver.datagrams).length;
    await receiver.waitFor((d) => pings(d).length >= countAfterBlock + 3);
    expect(pings(receiver.datagrams).filter((d) => d.atMs > blockedFromMs + 500 && d.atMs < blockedToMs)).toEqual([]);

    await watchdog.close();
    const closedAtMs = Date.now();
    await sleep(500);
    expect(pings(receiver.datagrams).filter((d) => d.atMs > closedAtMs)).toEqual([]);
    expect(lines.filter((l) => l.level !== 'info')).toEqual([]);
  });

  it('a watchdog meant for another process (WATCHDOG_PID) is not pinged from here; READY still goes', async () => {
    const receiver = await startReceiver();
    const { log } = recordingLog();
    const watchdog = startWatchdog({ env: { NOTIFY_SOCKET: receiver.path, WATCHDOG_USEC: '100000', WATCHDOG_PID: String(process.pid + 1) }, log });
    watchdog.ready('running');
    await receiver.waitFor((d) => d.some((x) => x.text.includes('READY=1')));
    await sleep(300);
    await watchdog.close();
    expect(pings(receiver.datagrams)).toEqual([]);
  });

  it('a notify socket nobody listens on is logged once as an error, not on every ping', async () => {
    const { lines, log } = recordingLog();
    const watchdog = startWatchdog({ env: { NOTIFY_SOCKET: join(tmpdir(), `prosumer-edge-nobody-${process.pid}.sock`), WATCHDOG_USEC: '100000' }, log });
    await sleep(500);
    await watchdog.close();
    const errors = lines.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/^systemd notification failed \(WATCHDOG=1\)/);
  });
});

describe('deploy/prosumer-edge.service', () => {
  it('passes systemd-analyze verify without a warning', (context) => {
    if (!existsSync('/usr/bin/systemd-analyze')) {
      console.log('skipped: /usr/bin/systemd-analyze is not installed, the unit file cannot be verified here');
      context.skip();
    }
    const result = spawnSync('/usr/bin/systemd-analyze', ['verify', resolve('deploy/prosumer-edge.service')], { encoding: 'utf8' });
    expect(`${result.stdout}${result.stderr}`).toBe('');
    expect(result.status).toBe(0);
  });
});
