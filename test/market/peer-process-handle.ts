import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { saveIdentity } from '../../src/market/index.ts';
import type { ClearedTrade } from '../../src/market/index.ts';
import { FAST_TIMING, type TestCommunity } from './fixtures.ts';
import type { PeerProcessSpec } from './peer-process.ts';
import { compiledScript } from '../child-bundle.ts';
import { collectLines } from '../child-lines.ts';

const SCRIPT = fileURLToPath(new URL('./peer-process.ts', import.meta.url));

/** A gateway running in a child process (see peer-process.ts). */
export class PeerProcess {
  readonly lines: string[] = [];
  private constructor(readonly child: ChildProcess) {
    collectLines(child.stdout!, this.lines);
    child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(`[${child.pid}] ${chunk.toString()}`));
  }

  static async start(community: TestCommunity, peerId: string, brokerUrl: string, trades: ClearedTrade[] = []): Promise<PeerProcess> {
    const identityPath = join(community.root, `${peerId}.identity.json`);
    saveIdentity(community.identity(peerId), identityPath);
    const spec: PeerProcessSpec = {
      identityPath,
      community: community.config,
      brokerUrl,
      dataDir: community.dataDir(peerId),
      timing: FAST_TIMING,
      trades,
      timeoutMs: 15_000,
    };
    const specPath = join(community.root, `${peerId}.spec.json`);
    writeFileSync(specPath, JSON.stringify(spec));
    const peer = new PeerProcess(spawn(process.execPath, [compiledScript(SCRIPT), specPath], { stdio: ['ignore', 'pipe', 'pipe'] }));
    try {
      await peer.waitForLine('started', 20_000);
    } catch (error) {
      await peer.kill();
      throw error;
    }
    return peer;
  }

  async waitForLine(prefix: string, timeoutMs = 15_000): Promise<string> {
    const start = performance.now();
    for (;;) {
      const line = this.lines.find((l) => l.startsWith(prefix));
      if (line !== undefined) return line;
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`peer process exited before printing "${prefix}"`);
      if (performance.now() - start > timeoutMs) throw new Error(`peer process did not print "${prefix}"`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Freezes the gateway: its socket stays open, it reads nothing and answers nothing. */
  freeze(): void {
    this.child.kill('SIGSTOP');
  }

  /** Kills it without a chance to clean up, like a power cut. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}
