/**
 * A stand-in for systemd's end of NOTIFY_SOCKET, shared by the watchdog and runtime tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * What systemd's side of NOTIFY_SOCKET sees: a real unix datagram socket (Debian's python3),
 * printing each datagram with its arrival time. systemd-notify's BARRIER=1 datagrams carry a
 * file descriptor that the receiver drops unread, which releases the barrier as systemd does.
 */
const receiverScript = `
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps({"bound": True}), flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps({"atMs": time.time() * 1000, "text": data.decode()}), flush=True)
`;

export interface Datagram {
  atMs: number;
  text: string;
}

export interface Receiver {
  path: string;
  datagrams: Datagram[];
  /** Assignments received, BARRIER messages left out. */
  assignments(): string[];
  waitFor(test: (d: Datagram[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): void;
}

const dir = mkdtempSync(join(tmpdir(), 'prosumer-edge-notify-'));
const running: ChildProcess[] = [];
let sockets = 0;

/** Stops every receiver started so far and removes their sockets' folder (afterAll). */
export function closeReceivers(): void {
  for (const child of running.splice(0)) child.kill();
}

export function removeReceiverDir(): void {
  rmSync(dir, { recursive: true, force: true });
}

export async function startReceiver(): Promise<Receiver> {
  const path = join(dir, `notify-${++sockets}.sock`);
  const child = spawn('/usr/bin/python3', ['-c', receiverScript, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  running.push(child);
  const datagrams: Datagram[] = [];
  const waiters = new Set<() => void>();
  const bound = new Promise<void>((ready, fail) => {
    child.once('exit', (code) => fail(new Error(`notify receiver exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const message = JSON.parse(line) as { bound?: true } & Datagram;
      if (message.bound) return ready();
      if (message.text !== 'BARRIER=1') datagrams.push(message);
      for (const w of waiters) w();
    });
  });
  await bound;
  return {
    path,
    datagrams,
    assignments: () => datagrams.flatMap((d) => d.text.split('\n')),
    waitFor: (test, timeoutMs = 20_000) =>
      new Promise<void>((done, fail) => {
        const check = () => {
          if (!test(datagrams)) return;
          waiters.delete(check);
          clearTimeout(timer);
          done();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          fail(new Error(`timed out; received: ${JSON.stringify(datagrams.map((d) => d.text))}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    close: () => child.kill(),
  };
}

