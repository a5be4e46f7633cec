/** socat with fixed link paths, so the "same" serial port can vanish and come back (a USB adapter pulled and replugged). */
import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';

export interface PluggedPtys {
  devicePath: string;
  simPath: string;
  /** Pulls the plug: socat exits and both ends go away. */
  unplug(): Promise<void>;
}

export async function plugPtys(dir: string): Promise<PluggedPtys> {
  const devicePath = join(dir, 'device');
  const simPath = join(dir, 'sim');
  const child = spawn('socat', [`pty,raw,echo=0,link=${devicePath}`, `pty,raw,echo=0,link=${simPath}`], { stdio: 'ignore' });
  for (let i = 0; i < 300; i++) {
    try {
      await access(devicePath);
      await access(simPath);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  return {
    devicePath,
    simPath,
    unplug: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill();
      }),
  };
}
