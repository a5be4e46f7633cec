/**
 * Interop with Modbus code not written here: Debian's mbpoll (libmodbus) polls our simulated
 * TCP server and RTU slave, and our TCP client talks to a pymodbus server. A missing tool
 * fails the test with the package to install; CI installs both.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { startModbusTcpServer } from '../../../sim/modbus/tcp-server.ts';
import { startModbusRtuSlave } from '../../../sim/modbus/rtu-slave.ts';
import { createModbusTcpBus } from '../../../drivers/modbus/tcp.ts';
import { openPtyPair } from '../../../sim/serial/pty.ts';
import { MemorySpace } from '../../fixtures/memory-space.ts';

const MBPOLL = '/usr/bin/mbpoll';
const PYTHON = '/usr/bin/python3';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function requireTool(path: string, install: string): Promise<void> {
  await access(path).catch(() => {
    throw new Error(`${path} is missing: install it with "apt-get install ${install}"`);
  });
}

function mbpoll(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(MBPOLL, args, { timeout: 10_000 }, (error, stdout, stderr) => (error ? reject(new Error(`mbpoll ${args.join(' ')} failed: ${stderr || error.message}`)) : resolve(stdout))),
  );
}

/** mbpoll prints one "[reference]: value" line per register. */
function polled(output: string): Record<number, string> {
  return Object.fromEntries([...output.matchAll(/^\[(\d+)\]:\s+(\S+)$/gm)].map((m) => [Number(m[1]), m[2]!]));
}

describe('interop with mbpoll and pymodbus', () => {
  it('mbpoll reads and writes the simulated TCP server', async () => {
    await requireTool(MBPOLL, 'mbpoll');
    const units = new Map([[3, new MemorySpace()]]);
    const server = await startModbusTcpServer({ units });
    cleanups.push(() => server.close());
    const common = ['-m', 'tcp', '-p', String(server.port), '-a', '3', '-0', '-1'];
    expect(polled(await mbpoll([...common, '-t', '4:hex', '-r', '10', '-c', '3', '127.0.0.1']))).toEqual({ 10: '0x03F2', 11: '0x03F3', 12: '0x03F4' });
    await mbpoll([...common, '-t', '4', '-r', '20', '127.0.0.1', '4242', '17']);
    expect(Array.from(units.get(3)!.holding.subarray(20, 22))).toEqual([4242, 17]);
    expect(polled(await mbpoll([...common, '-t', '0', '-r', '0', '-c', '4', '127.0.0.1']))).toEqual({ 0: '1', 1: '0', 2: '0', 3: '1' });
  });

  it('mbpoll reads and writes the simulated RTU slave on a pty', async () => {
    await requireTool(MBPOLL, 'mbpoll');
    const units = new Map([[5, new MemorySpace(200, 300)]]);
    const pty = await openPtyPair('modbus-interop');
    cleanups.push(() => pty.close());
    const slave = await startModbusRtuSlave({ path: pty.simPath, baudRate: 19200, units });
    cleanups.push(() => slave.close());
    const common = ['-m', 'rtu', '-b', '19200', '-P', 'none', '-a', '5', '-0', '-1', '-o', '2'];
    expect(polled(await mbpoll([...common, '-t', '4', '-r', '100', '-c', '4', pty.devicePath]))).toEqual({ 100: '400', 101: '401', 102: '402', 103: '403' });
    await mbpoll([...common, '-t', '4', '-r', '7', pty.devicePath, '9']);
    expect(units.get(5)!.holding[7]).toBe(9);
  });

  it('our TCP client reads and writes a pymodbus server', async () => {
    await requireTool(PYTHON, 'python3');
    const script = fileURLToPath(new URL('./pymodbus_server.py', import.meta.url));
    const child = spawn(PYTHON, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.stdin.end();
          setTimeout(() => child.kill(), 3_000).unref();
        }),
    );
    const port = await new Promise<number>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        const m = /^PORT (\d+)$/.exec(line);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`pymodbus server exited with ${code} (is python3-pymodbus installed? apt-get install python3-pymodbus): ${stderr}`)));
      setTimeout(() => reject(new Error(`pymodbus server did not start within 15 s: ${stderr}`)), 15_000).unref();
    });
    const bus = createModbusTcpBus({ host: '127.0.0.1', port, timeoutMs: 2_000 });
    cleanups.push(() => bus.close());
    expect(Array.from(await bus.readHoldingRegisters(1, 0, 4))).toEqual([4000, 4007, 4014, 4021]);
    expect((await bus.readHoldingRegisters(1, 0, 100))[99]).toBe(4000 + 7 * 99);
    await bus.writeRegisters(1, 50, [1, 65535, 12345]);
    expect(Array.from(await bus.readHoldingRegisters(1, 49, 5))).toEqual([4000 + 7 * 49, 1, 65535, 12345, 4000 + 7 * 53]);
    expect(await bus.readCoils(1, 0, 5)).toEqual([true, false, true, false, true]);
    await bus.writeCoil(1, 1, true);
    expect(await bus.readCoils(1, 0, 3)).toEqual([true, true, true]);
    const outside = await bus.readHoldingRegisters(1, 95, 10).catch((e: unknown) => e);
    expect(outside).toMatchObject({ kind: 'exception', detail: { code: 2 } });
  });
});
