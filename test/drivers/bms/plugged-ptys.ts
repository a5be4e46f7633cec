/**
 * A serial port that can vanish and come back under the same path (a USB adapter pulled and
 * replugged): a fixed link in `dir` to a fresh pseudo-terminal pair each time it is plugged.
 */
import { symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { openPtyPair } from '../../../sim/serial/pty.ts';

export interface PluggedPtys {
  /** The fixed path the driver opens. */
  devicePath: string;
  simPath: string;
  /** Pulls the plug: both ends and the fixed path go away. */
  unplug(): Promise<void>;
}

export async function plugPtys(dir: string): Promise<PluggedPtys> {
  const pair = await openPtyPair('plugged');
  const devicePath = join(dir, 'device');
  await symlink(pair.devicePath, devicePath);
  return {
    devicePath,
    simPath: pair.simPath,
    unplug: async () => {
      await unlink(devicePath).catch(() => undefined);
      await pair.close();
    },
  };
}
