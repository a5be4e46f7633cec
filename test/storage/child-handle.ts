import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RuntimeStoreOptions } from '../../src/storage/store.ts';
import type { StreamName } from './fixtures.ts';
import { collectLines } from '../child-lines.ts';

const SCRIPT = fileURLToPath(new URL('./store-child.ts', import.meta.url));

let bundled: string | undefined;
/**
 * store-child.ts and the store modules it runs (src/storage, src/market/ledger.ts: node builtins
 * only), compiled into one plain ES module by esbuild (the compiler tsx uses) once per test file:
 * each child then starts in plain `node` instead of booting the tsx loader and its esbuild
 * service, which took most of each kill cycle. The store code the children run is the same. The
 * file is named by its content, so test files in parallel and later runs share it.
 */
function childScript(): string {
  if (bundled === undefined) {
    // Required here, not imported: store-child.ts imports this module, and its bundle must not hold esbuild.
    const { buildSync } = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
    const [output] = buildSync({ entryPoints: [SCRIPT], bundle: true, write: false, platform: 'node', format: 'esm', target: `node${process.versions.node}`, logLevel: 'error' }).outputFiles;
    const file = join(tmpdir(), `prosumer-edge-store-child-${createHash('sha256').update(output!.contents).digest('hex').slice(0, 16)}.mjs`);
    if (!existsSync(file)) {
      const partial = `${file}.${process.pid}.tmp`;
      writeFileSync(partial, output!.contents);
      renameSync(partial, file);
    }
    bundled = file;
  }
  return bundled;
}

export const SELF_ID = 'gw';

export interface StoreChildSpec {
  mode: 'write' | 'hold' | 'rewrite';
  /** The store's folder (write, hold) or the journal's path (rewrite). */
  path: string;
  options?: Pick<RuntimeStoreOptions, 'retention' | 'measurementSync'>;
  /** write: the first id of each stream and of the trades, so ids stay unique across runs. */
  firstIds?: Record<StreamName | 'trades', number>;
  recordFsyncs?: boolean;
}

/** A store-child.ts process and every line it printed. */
export class StoreChild {
  readonly lines: string[] = [];
  readonly child: ChildProcess;
  /** Resolves once the process has exited and its output has been read to the end. */
  private readonly closed: Promise<void>;

  constructor(spec: StoreChildSpec) {
    this.child = spawn(process.execPath, [childScript(), JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.closed = new Promise((resolve) => this.child.once('close', () => resolve()));
    collectLines(this.child.stdout!, this.lines);
    this.child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(`[store child ${this.child.pid}] ${chunk.toString()}`));
  }

  get pid(): number {
    return this.child.pid!;
  }

  async waitForLine(line: string, timeoutMs = 20_000): Promise<void> {
    const start = performance.now();
    while (!this.lines.includes(line)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`store child exited before printing "${line}"`);
      if (performance.now() - start > timeoutMs) throw new Error(`store child did not print "${line}"`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** SIGKILL: no chance to clean up. Resolves once the process is gone and all it printed is read. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.closed;
  }
}
