/**
 * Two test files at a time: most files wait on sockets, ptys, child processes and a broker far more
 * than they compute (one worker kept 0.75 of the 2 cores busy), so a second worker overlaps those
 * waits. The longest files go first, so they do not end up alone at the end of the run.
 */
import { relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The slowest files, in the order they start. The two community runs (lock-step time: the machine's
 * load cannot change what they check) go side by side, so that the files on scaled simulated time,
 * whose hours pass on the wall clock, never share the machine with eight gateway processes.
 */
const LONGEST_FIRST = [
  'test/community/end-to-end.test.ts',
  'test/community/ces-run.test.ts',
  'test/runtime/gateway-runtime.test.ts',
  'test/telemetry/ha-commands.test.ts',
  'test/market/clearing/sharing.test.ts',
  'test/prices/price-file.test.ts',
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) => {
      const i = LONGEST_FIRST.indexOf(relative(process.cwd(), f.moduleId));
      return i === -1 ? LONGEST_FIRST.length : i;
    };
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    maxWorkers: 2,
    sequence: { sequencer: LongestFirst },
  },
});
