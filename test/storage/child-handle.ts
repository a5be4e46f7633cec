import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RuntimeStoreOptions } from '../../src/storage/store.ts';
import type { StreamName } from './fixtures.ts';
import { compiledScript } from '../child-bundle.ts';
import { collectLines } from '../child-lines.ts';

const SCRIPT = fileURLToPath(new URL('./store-child.ts', import.meta.url));

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
    this.child = spawn(process.execPath, [compiledScript(SCRIPT), JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
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
