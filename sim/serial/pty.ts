/**
 * A linked pair of pseudo-terminals: the simulator opens one end, the gateway the other,
 * and both see a real serial port (termios, serialport, the same code path as a USB RS-485
 * adapter). socat does the linking; it is a Debian package on every supported machine. It
 * never outlives the process that started it (the simulator killed with SIGKILL included).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PtyPair {
  /** Path the gateway (or a test client) opens. */
  readonly devicePath: string;
  /** Path the simulated device opens. */
  readonly simPath: string;
  close(): Promise<void>;
}

export async function openPtyPair(name = 'pty'): Promise<PtyPair> {
  const dir = await mkdtemp(join(tmpdir(), `prosumer-edge-${name}-`));
  const devicePath = join(dir, 'device');
  const simPath = join(dir, 'sim');
  let child: ChildProcess;
  // socat gets SIGTERM from the kernel when this process dies, however it dies (SIGKILL, a crash):
  // setpriv (util-linux) sets the parent-death signal and then execs socat, so the pid is socat's.
  const socat = ['setpriv', '--pdeathsig', 'TERM', '--', 'socat', `pty,raw,echo=0,link=${devicePath}`, `pty,raw,echo=0,link=${simPath}`];
  try {
    child = spawn(socat[0]!, socat.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    throw new Error(`cannot start socat to create pseudo-terminals (install it: apt-get install socat util-linux): ${String(e)}`);
  }
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (e) => reject(new Error(`cannot start setpriv and socat (install them: apt-get install socat util-linux): ${e.message}`)));
    child.once('exit', (code) => reject(new Error(`socat exited with ${code}: ${stderr.trim()}`)));
  });
  const ready = (async () => {
    for (let i = 0; i < 200; i++) {
      try {
        await access(devicePath);
        await access(simPath);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    throw new Error('socat did not create the pseudo-terminals within 2 s');
  })();
  try {
    await Promise.race([ready, failed]);
  } catch (e) {
    child.kill();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  failed.catch(() => undefined);
  return {
    devicePath,
    simPath,
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill();
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
