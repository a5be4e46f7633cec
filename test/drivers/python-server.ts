/**
 * A Modbus TCP server written in Python (pymodbus, Debian's /usr/bin/python3): the independent
 * device the interop tests read. `script` reads one JSON request line on stdin, prints its port,
 * and serves until stdin closes.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Starts `script` with `request`; resolves its port. `stop` is pushed to `cleanups`. */
export async function startPythonServer(script: URL, request: unknown, cleanups: (() => Promise<void>)[]): Promise<number> {
  const child = spawn('/usr/bin/python3', [script.pathname], { stdio: ['pipe', 'pipe', 'pipe'] });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.stdin.end();
        setTimeout(() => child.kill(), 3_000).unref();
      }),
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.write(`${JSON.stringify(request)}\n`);
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`pymodbus server exited with ${code}: ${stderr}`)));
  });
  return Number(line);
}
