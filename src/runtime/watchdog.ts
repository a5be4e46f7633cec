/**
 * systemd notifications (the sd_notify protocol): READY=1 once the gateway runs, STATUS=<text>
 * for `systemctl status`, WATCHDOG=1 every half of the watchdog interval, STOPPING=1 at
 * shutdown. Without $NOTIFY_SOCKET (not started by systemd with Type=notify) it does nothing.
 *
 * Node's dgram has no unix datagram sockets and native addons do not build here, so each
 * notification is sent by `systemd-notify` (part of systemd, so present wherever there is a
 * NOTIFY_SOCKET). It is chosen over `socat … UNIX-SENDTO` because systemd attributes a
 * notification to the sender's cgroup, which it cannot look up once a short-lived sender has
 * exited: socat exits right after sending and the message can be dropped ("Cannot find unit
 * for notify message"), while systemd-notify (systemd ≥ 246) waits on a BARRIER until the
 * manager has processed the message. It also handles abstract sockets (`@…`). The sender is a
 * child process, so the unit needs NotifyAccess=all; `--pid` names this process as the main
 * PID, which lets systemd credit the message to it directly when the gateway runs as root.
 *
 * The pings are timers of the main event loop: a loop that hangs stops them, and systemd
 * restarts the process after WatchdogSec.
 */
import { execFile } from 'node:child_process';
import type { RuntimeLog } from './log.ts';

export interface Watchdog {
  /** READY=1 with a status line: the gateway is up (systemd's start job completes). */
  ready(status: string): void;
  /** STATUS=<text>, shown by `systemctl status`. */
  status(text: string): void;
  /** STOPPING=1: shutdown has begun (a slow stop is not a hang). */
  stopping(): void;
  /** Stops the pings; resolves once every notification sent so far has been delivered or has failed. */
  close(): Promise<void>;
}

export interface WatchdogOptions {
  /** Where NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  log: RuntimeLog;
}

/** A notification that does not finish in this time is given up (systemd-notify's own barrier wait is 5 s). */
const SEND_TIMEOUT_MS = 10_000;

export function startWatchdog(options: WatchdogOptions): Watchdog {
  const env = options.env ?? process.env;
  const { log } = options;
  const socket = env['NOTIFY_SOCKET'];
  if (!socket) return { ready() {}, status() {}, stopping() {}, close: async () => {} };

  // Assignments waiting for the next systemd-notify run: one run at a time, later values of a
  // key replace earlier ones (a newer STATUS supersedes an unsent one; pings coalesce).
  const pending = new Map<string, string>();
  let inFlight: Promise<void> | null = null;
  let failing = false;
  const childEnv = { ...process.env, NOTIFY_SOCKET: socket };

  const flush = (): Promise<void> => {
    if (inFlight || pending.size === 0) return inFlight ?? Promise.resolve();
    const assignments = [...pending].map(([key, value]) => `${key}=${value}`);
    pending.clear();
    inFlight = new Promise<void>((done) => {
      execFile('systemd-notify', [`--pid=${process.pid}`, ...assignments], { env: childEnv, timeout: SEND_TIMEOUT_MS }, (error, _stdout, stderr) => {
        if (error) {
          // Once per outage, not on every ping: the journal would fill with the same line.
          if (!failing) log('error', `systemd notification failed (${assignments.join(', ')}): ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'systemd-notify is not installed' : String(stderr).trim() || error.message}`);
          failing = true;
        } else if (failing) {
          log('info', 'systemd notifications are delivered again');
          failing = false;
        }
        inFlight = null;
        done();
        void flush();
      });
    });
    return inFlight;
  };
  const send = (...assignments: [key: string, value: string][]) => {
    for (const [key, value] of assignments) pending.set(key, value);
    void flush();
  };

  let timer: NodeJS.Timeout | null = null;
  const intervalUs = Number(env['WATCHDOG_USEC']);
  const watchdogPid = env['WATCHDOG_PID'];
  // WATCHDOG_PID names the process the watchdog is meant for; a child that inherited the variables must not ping.
  if (Number.isFinite(intervalUs) && intervalUs > 0 && (watchdogPid === undefined || Number(watchdogPid) === process.pid)) {
    const everyMs = Math.max(1, Math.floor(intervalUs / 2000));
    send(['WATCHDOG', '1']);
    timer = setInterval(() => send(['WATCHDOG', '1']), everyMs);
    // The pings must not keep a process alive that has nothing else left to do.
    timer.unref();
    log('info', `systemd watchdog: a ping every ${everyMs / 1000} s (WatchdogSec ${intervalUs / 1e6} s)`);
  }

  return {
    ready(status) {
      send(['READY', '1'], ['STATUS', oneLine(status)]);
    },
    status(text) {
      send(['STATUS', oneLine(text)]);
    },
    stopping() {
      send(['STOPPING', '1']);
    },
    async close() {
      if (timer) clearInterval(timer);
      timer = null;
      pending.delete('WATCHDOG');
      while (inFlight || pending.size > 0) await flush();
    },
  };
}

/** The protocol is newline-separated assignments: a status must stay on one line. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}
