import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createModbusTcpBus } from '../../drivers/modbus/tcp.ts';
import { SunSpecBattery } from '../../drivers/sunspec/battery.ts';
import { systemClock } from '../../src/time/clock.ts';

const cli = fileURLToPath(new URL('../../src/cli/prosumer-edge.mjs', import.meta.url));

describe('prosumer-edge sim', () => {
  it('prints the vars of boards/sim.yaml, runs until SIGTERM, then closes its endpoints and exits 0, even with a revert timer armed', async () => {
    const child = spawn(process.execPath, [cli, 'sim', '--speed', '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no vars printed within 30 s: ${out}`)), 30_000);
      child.stdout.on('data', () => {
        if (out.includes('}')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const vars = JSON.parse(out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1)) as Record<string, string>;
    expect(Object.keys(vars).sort()).toEqual(['bmsPty', 'firmataPty', 'modbusTcpPort', 'rs485Pty']);
    expect(existsSync(vars.bmsPty!)).toBe(true);
    // A setpoint whose revert time (1 simulated hour = 60 s of wall time at 60×) outlasts this test's timeout.
    const bus = createModbusTcpBus({ host: '127.0.0.1', port: Number(vars.modbusTcpPort), clock: systemClock });
    try {
      await new SunSpecBattery({ id: 'battery', bus, unitId: 3, clock: systemClock, capacityKwh: 10 }).setPowerSetpoint(-1, 3_600_000);
    } finally {
      await bus.close();
    }
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toMatch(/simulator stopped/);
    expect(existsSync(vars.bmsPty!)).toBe(false);
  }, 40_000);

  it('rejects a bad option with a usage line and exit code 2', async () => {
    const child = spawn(process.execPath, [cli, 'sim', '--speed', 'fast'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(2);
    expect(err).toMatch(/usage: prosumer-edge sim/);
  }, 30_000);
});
