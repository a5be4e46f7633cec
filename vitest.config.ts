/**
 * Three groups of test files, one group after the other (vitest projects with sequence.groupOrder).
 *
 * 1. `community`, two files at a time: the two community runs side by side (lock-step time: the
 *    machine's load cannot change what they check; eight to twelve gateway processes keep both cores
 *    busy), then gateway-runtime (lock-step time but for its systemd start) on the worker the CES run
 *    leaves first, as before. No file on scaled simulated time, whose hours pass on the wall clock,
 *    shares the machine with them.
 * 2. `rest`, three files at a time: these files wait on sockets, ptys, child processes, a broker and
 *    deliberate timeouts far more than they compute (with two workers they kept 0.7 of the 2 cores
 *    busy: 367 s of CPU in 535 s of wall time), so a third worker overlaps those waits.
 * 3. `wall-clock`, two files at a time, as before: the files whose checks depend on the wall clock
 *    keeping up — the simulator example on scaled time (its hours pass on the wall clock), the Modbus
 *    fuzz (an answer that misses a 15/60 ms bus timeout counts against it: at three files at a time
 *    next to solver-heavy files it saw 101 timeouts of 500, its limit is 100), the BMS timeouts, the
 *    real-time bench — on a machine that only they load.
 *
 * Within a group the longest files go first, so they do not end up alone at the end of it.
 */
import { relative } from 'node:path';
import { configDefaults, defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const COMMUNITY = ['test/community/end-to-end.test.ts', 'test/community/ces-run.test.ts', 'test/runtime/gateway-runtime.test.ts'];

const WALL_CLOCK = [
  'test/telemetry/ha-commands.test.ts',
  'test/drivers/modbus/fuzz.test.ts',
  'test/bench/gateway.test.ts',
  'test/build/compiled.test.ts',
  'test/prices/price-file.test.ts',
  'test/drivers/bms/pylontech.test.ts',
];

/**
 * The slowest files (measured 2026-12-07, seconds at two or three files at a time), in the order they
 * start within their group; the others follow (largest file first on a clean clone).
 */
const LONGEST_FIRST = [
  ...COMMUNITY,
  ...WALL_CLOCK,
  'test/market/clearing/sharing.test.ts', // 43–51 s
  'test/ces/household-restart.test.ts', // 43–45
  'test/market/clearing/sharing-chance.test.ts', // 23–40
  'test/eval/end-to-end.test.ts', // 21–37
  'test/runtime/market-loop.test.ts', // 28–32
  'test/optimizer/degenerate.test.ts', // 19–31
  'test/eval/select-rho-cli.test.ts', // 17–31
  'test/runtime/market-loop-community.test.ts', // 27–30
  'test/optimizer/community/distributed.test.ts', // 17–29
  'test/community/summary.test.ts', // 13–26
  'test/market/clearing/rounds.test.ts', // 22–25
  'test/market/flood.test.ts', // 15–25
  'test/runtime/fast-loop.test.ts', // 19–21
  'test/ces/evaluation.test.ts', // 15–21
  'test/optimizer/validation.test.ts', // 16–21
  'test/storage/kill.test.ts', // 19–20
  'test/ces/agent.test.ts', // 18–19
  'test/ces/agent-process.test.ts', // 11–16
  'test/market/chaos-killed.test.ts', // 14
  'test/ces/account-movements.test.ts', // 9–14
  'test/runtime/planner.test.ts', // 14
  'test/market/commit.test.ts', // 13
  'test/market/chaos-traffic.test.ts', // 13
  'test/community/command.test.ts', // 10–13
  'test/storage/power-loss.test.ts', // 12
  'test/market/community-day.test.ts', // 12
  'test/gateway/assemble.test.ts', // 10–12
  'test/market/stranger.test.ts', // 10–12
  'test/runtime/solver-worker.test.ts', // 11
  'test/market/broker-features.test.ts', // 10
  'test/telemetry/mqtt-telemetry.test.ts', // 9–10
  'test/storage/rewrite-kill.test.ts', // 8–9: it was the last file of both measured runs, alone
  'test/runtime/planner-community.test.ts', // 9
  'test/market/hostile-leader.test.ts', // 8
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
    // As `npm test` passes them: the projects below did not take the command line's hookTimeout
    // (a beforeAll that solves two evaluation fleets timed out at vitest's default 10 s under load).
    testTimeout: 60_000,
    hookTimeout: 60_000,
    sequence: { sequencer: LongestFirst },
    projects: [
      { extends: true, test: { name: 'community', include: COMMUNITY, maxWorkers: 2, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'rest', exclude: [...configDefaults.exclude, ...COMMUNITY, ...WALL_CLOCK], maxWorkers: 3, sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: 'wall-clock', include: WALL_CLOCK, maxWorkers: 2, sequence: { groupOrder: 2 } } },
    ],
  },
});
