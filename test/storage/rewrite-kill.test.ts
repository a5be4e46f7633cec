/**
 * The atomic rewrite (salvaging a damaged segment, the market's replay-window compaction) killed
 * with SIGKILL at random instants: half of the kills at a random time, half the moment the
 * temporary file appears, so they land while it is written, fsync'd or renamed.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal } from '../../src/storage/journal.ts';
import { StoreChild } from './child-handle.ts';
import { TempDirs, rewriteSets, type RewriteRecord } from './fixtures.ts';
import { sleep } from './reported.ts';

const KILLS = 16;
const temp = new TempDirs();
let child: StoreChild | undefined;
afterEach(async () => {
  await child?.kill();
  temp.cleanup();
});

describe('a journal rewrite killed at any instant', () => {
  it('leaves the old journal or the new one, complete, never neither and never a mix', async () => {
    const path = join(temp.make(), 'journal.jsonl');
    const temporary = `${path}.tmp`;
    const [first, second] = rewriteSets();
    const seed = Journal.open<RewriteRecord>(path).journal;
    seed.rewrite(first);
    seed.close();
    let killedMidRewrite = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      child = new StoreChild({ mode: 'rewrite', path });
      await child.waitForLine('ready');
      if (kill % 2 === 0) await sleep(Math.random() * 200);
      else while (!existsSync(temporary)) await new Promise((resolve) => setImmediate(resolve));
      await child.kill();
      if (existsSync(temporary)) killedMidRewrite++;

      const { journal, records, tornTail } = Journal.open<RewriteRecord>(path);
      journal.close();
      expect(tornTail).toBe(false);
      expect(existsSync(temporary)).toBe(false);
      const content = JSON.stringify(records);
      expect(content === JSON.stringify(first) || content === JSON.stringify(second)).toBe(true);
    }
    expect(killedMidRewrite).toBeGreaterThan(0);
  });
});
