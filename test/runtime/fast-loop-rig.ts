/**
 * The fast loop on the real simulator, as `prosumer-edge run` puts it together: the sim board's
 * devices on real sockets and ptys, the gateway assembled from the profile, the crash-safe store
 * in a temporary folder, the configured tariff, and plans that the optimizer really solved (or
 * the optimizer's own fallback) from what the gateway reads.
 *
 * Time is a ManualClock that the rig moves from one fast-loop instant to the next: every reading
 * of an iteration is taken at its instant (the plant integrates up to the clock), so the tests
 * compare the loop's figures with the plant's own exactly, however slow the machine is. The
 * devices' firmware timers (revert timeouts) run on the same clock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/time/clock.ts';
import { loadBoardProfile } from '../../src/config/board.ts';
import { assembleGateway, type Gateway } from '../../src/gateway/assemble.ts';
import type { GatewayConfig } from '../../src/config/gateway-config.ts';
import { simBoardFile, startSimulator, type Simulator, type SimulatorOptions } from '../../sim/simulator.ts';
import { openRuntimeStore } from '../../src/storage/store.ts';
import { createTariffSource } from '../../src/runtime/prices.ts';
import { createFastLoop, type FastLoop } from '../../src/runtime/fast-loop.ts';
import { createOptimizer, fallbackPlan, type ProblemInput } from '../../src/optimizer/index.ts';
import { recedingProblemInput } from '../../src/optimizer/receding-input.ts';
import { seededRandom } from '../../src/random/seeded-random.ts';
import type { ActivePlan, HourRecord, MarketView, RuntimeSnapshot, RuntimeStore, SafetyEvent, ShiftableDemandFeed } from '../../src/runtime/types.ts';
import { tariffParams } from '../../src/data/tariff.ts';

const HOUR_MS = 3_600_000;

export type ConfigChanges = {
  control?: Partial<GatewayConfig['control']>;
  battery?: Partial<GatewayConfig['site']['battery']>;
  shiftable?: GatewayConfig['site']['shiftable'];
  storage?: Partial<GatewayConfig['storage']>;
};

export function rigConfig(storageDir: string, changes: ConfigChanges = {}): GatewayConfig {
  return {
    file: join(storageDir, 'gateway.yaml'),
    gatewayId: 'rig',
    board: { file: simBoardFile, vars: {} },
    site: {
      battery: { capacityKwh: 10, minEnergyKwh: 1, maxEnergyKwh: 10, maxChargeKw: 5, maxDischargeKw: 5, chargeEfficiency: 0.95, dischargeEfficiency: 0.95, ...changes.battery },
      grid: { maxImportKw: 11, maxExportKw: 11 },
      shiftable: changes.shiftable ?? [],
    },
    tariff: {
      fallbackDayAheadEurPerMwh: 30,
      ...tariffParams,
    },
    control: {
      fastPeriodS: 30,
      stepMinutes: 10,
      horizonSteps: 6,
      samples: 12,
      radiusKw: 0.1,
      epsilon: 0.05,
      method: 'joint',
      importLimit: 'connection',
      solver: 'highs',
      solveBudgetMs: 10_000,
      socGuardBandKwh: 0.2,
      revertTimeoutS: 180,
      batteryWearEurPerKw2h: 0.005,
      deferralEurPerKwh2: 0.01,
      ...changes.control,
    },
    forecast: {},
    storage: { dir: join(storageDir, 'store'), measurementEveryS: 300, ...changes.storage },
    telemetry: {},
  };
}

export interface RigOptions {
  startIso: string;
  config?: ConfigChanges;
  household?: SimulatorOptions['household'];
  market?: MarketView | null;
  demand?: ShiftableDemandFeed | null;
  /** The runtime's word that a plan is due and not in yet (FastLoopDeps.planDue); absent: never. */
  planDue?: (atMs: number) => boolean;
}

export interface PlanRequest {
  steps: number;
  /** μ_t; default: the net load measured now (without switched loads), for every step. */
  netLoadForecastKw?: number[];
  /** ξ̂ (I × T); default: seeded errors of ±`errorKw`, null: certainty-equivalent. */
  errorSamplesKw?: number[][] | null;
  errorKw?: number;
  shiftable?: { deferredKwh: number; desiredKw: number[]; dueKwh: number[] };
  /** Change the solved input before the solve (e.g. pin a shiftable profile with bounds). */
  adjust?: (input: ProblemInput) => void;
}

export interface Rig {
  sim: Simulator;
  gateway: Gateway;
  clock: ManualClock;
  config: GatewayConfig;
  store: RuntimeStore;
  fast: FastLoop;
  /** What the fast loop follows; tests set it. */
  active: ActivePlan | null;
  snapshots: RuntimeSnapshot[];
  events: SafetyEvent[];
  hours: HourRecord[];
  periodMs: number;
  /**
   * Moves the clock to each multiple of the fast period in turn and iterates there, until the
   * next one would be past `untilMs` (or `until` holds after an iteration); returns the snapshots.
   */
  run(untilMs: number, until?: (snapshot: RuntimeSnapshot) => boolean): Promise<RuntimeSnapshot[]>;
  /** Moves the clock on and lets the timers that came due (device firmware) fire. */
  advance(durationMs: number): Promise<void>;
  /** A plan solved now from what the gateway reads, for the config's step length. */
  solve(request: PlanRequest): Promise<ActivePlan>;
  /** Closes the loop's store and opens it again: what is there now survived as a restart would find it. */
  reopenStore(): RuntimeStore;
  /** The optimizer's fallback for a solve that failed now with no earlier plan: the safe rule. */
  failedSolve(steps: number): Promise<ActivePlan>;
  close(): Promise<void>;
}

export async function startRig(options: RigOptions): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'fast-loop-'));
  const clock = new ManualClock(Date.parse(options.startIso));
  const sim = await startSimulator({ clock, ...(options.household ? { household: options.household } : {}) });
  const closers: (() => Promise<void> | void)[] = [() => sim.close(), () => rmSync(dir, { recursive: true, force: true })];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c();
  };
  try {
    const config = rigConfig(dir, options.config ?? {});
    const gateway = await assembleGateway(loadBoardProfile(simBoardFile, sim.vars), { clock });
    closers.push(() => gateway.close());
    const store = openRuntimeStore(config.storage.dir, { log: () => undefined });
    closers.push(() => store.close());
    const tariff = createTariffSource(config.tariff);
    const optimizer = createOptimizer({ solver: config.control.solver, timeBudgetMs: config.control.solveBudgetMs });
    closers.push(() => optimizer.dispose());
    const periodMs = config.control.fastPeriodS * 1000;
    let lastIterationMs = -Infinity;
    const stepHours = (steps: number) => new Array<number>(steps).fill(config.control.stepMinutes / 60);

    const rig: Rig = {
      sim,
      gateway,
      clock,
      config,
      store,
      active: null,
      snapshots: [],
      events: [],
      hours: [],
      periodMs,
      fast: createFastLoop({
        gateway,
        config,
        clock,
        store,
        tariff,
        plan: () => rig.active,
        market: options.market ?? null,
        demand: options.demand ?? sim.demand,
        ...(options.planDue ? { planDue: options.planDue } : {}),
        onSnapshot: (s) => rig.snapshots.push(s),
        onSafetyEvent: (e) => rig.events.push(e),
        onHour: (h) => rig.hours.push(h),
      }),
      async run(untilMs, until) {
        const seen: RuntimeSnapshot[] = [];
        for (;;) {
          const atMs = Math.max(Math.ceil(clock.nowMs() / periodMs) * periodMs, lastIterationMs + periodMs);
          if (atMs > untilMs) return seen;
          await rig.advance(atMs - clock.nowMs());
          lastIterationMs = atMs;
          const snapshot = await rig.fast.iterate();
          seen.push(snapshot);
          if (until?.(snapshot)) return seen;
        }
      },
      async advance(durationMs) {
        clock.advance(durationMs);
        await new Promise((resolve) => setImmediate(resolve));
      },
      async solve(request) {
        const { input, startMs } = await problemNow(request);
        const result = await optimizer.solve(input, { startMs });
        if (!result.ok) throw new Error(`the rig's solve failed: ${result.status} ${result.message}`);
        return { plan: result.plan, netLoadForecastKw: input.netLoadForecastKw, solvedAtMs: startMs, fallback: false, status: 'optimal', solveMs: result.plan.solver.solveMs };
      },
      reopenStore() {
        store.close();
        const reopened = openRuntimeStore(config.storage.dir, { log: () => undefined });
        closers.push(() => reopened.close());
        return reopened;
      },
      async failedSolve(steps) {
        const { input, startMs } = await problemNow({ steps });
        const plan = fallbackPlan(input, undefined, startMs, 'time-limit');
        return { plan, netLoadForecastKw: input.netLoadForecastKw, solvedAtMs: startMs, fallback: true, status: 'time-limit', solveMs: config.control.solveBudgetMs };
      },
      close,
    };

    async function problemNow(request: PlanRequest): Promise<{ input: ProblemInput; startMs: number }> {
      const startMs = clock.nowMs();
      const [meter, battery] = await Promise.all([gateway.meter!.read(), gateway.battery!.read()]);
      if (!meter.ok || !battery.ok) throw new Error('the rig cannot plan without meter and battery readings');
      const relayKw = rig.fast.latest()?.relaysOn.reduce((sum, on, j) => sum + (on ? config.site.shiftable[j]!.ratedPowerKw : 0), 0) ?? 0;
      const measuredKw = meter.value.netImportKw + battery.value.powerKw - relayKw;
      const T = request.steps;
      const hours = stepHours(T);
      const random = seededRandom(7);
      const errorKw = request.errorKw ?? 0.5;
      const samples = request.errorSamplesKw !== undefined ? request.errorSamplesKw : Array.from({ length: config.control.samples }, () => hours.map(() => errorKw * (2 * random() - 1)));
      const { peakEurPerKw: _peak, ...prices } = tariff.window(startMs, hours);
      const input = recedingProblemInput({
        stepHours: hours,
        netLoadForecastKw: request.netLoadForecastKw ?? hours.map(() => measuredKw),
        errorSamplesKw: samples,
        tariff: prices,
        battery: { ...config.site.battery, maxChargeKw: battery.value.maxChargeKw, maxDischargeKw: battery.value.maxDischargeKw },
        grid: config.site.grid,
        energyKwh: battery.value.energyKwh ?? battery.value.socFraction * config.site.battery.capacityKwh,
        shiftable: { ...(request.shiftable ?? { deferredKwh: 0, desiredKw: hours.map(() => 0), dueKwh: hours.map(() => 0) }), maxDeferredKwh: 20 },
        chance: { radiusKw: config.control.radiusKw, method: config.control.method, epsilon: { import: config.control.epsilon, socMin: config.control.epsilon, socMax: config.control.epsilon } },
        weights: { batteryWearEurPerKw2h: config.control.batteryWearEurPerKw2h, deferralEurPerKwh2: config.control.deferralEurPerKwh2, scheduleDeviationEurPerKw2: 0 },
      });
      request.adjust?.(input);
      return { input, startMs };
    }
    return rig;
  } catch (error) {
    await close();
    throw error;
  }
}

export { HOUR_MS };
