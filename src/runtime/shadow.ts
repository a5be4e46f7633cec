/**
 * The no-loss shadow (docs/community-coordination.md, "Who pays what"): what this household would
 * have paid without the community, on the hours the gateway measures. At each whole hour it plans
 * the household's own problem alone — the planner's, from the shadow's battery and queue, without
 * trades or the community's anchor — and once the hour is measured it steps its own copy of the
 * evaluation's plant (src/household/plant.ts) on the measured load, PV and requests with step 0 of
 * that plan. Its exchange and bill are the A_n of the day's settlement (no-loss-link.ts).
 *
 * The shadow starts from the battery's measured energy the first time it plans, and holds the
 * import to the day's peak its plan pays for, floored at its own peak so far today, as the
 * evaluation's alone controller does. Its state (`state()`) is kept by the settlement in the
 * market's folder after every hour (no-loss-state.ts), so after a restart it goes on from its own
 * battery and queue (`restore()`) rather than from the household's.
 */
import type { GatewayConfig } from '../config/gateway-config.ts';
import { Plant, type PlantState, type StepCommand } from '../household/plant.ts';
import { fallbackPlan, type FollowedPlan, type Plan, type ProblemInput, type SolveResult } from '../optimizer/index.ts';
import type { RuntimeLog } from './log.ts';
import { hourMeasurement, type PlannerState } from './planner.ts';
import type { HourRecord } from './types.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** One measured hour as the shadow would have metered it. */
export interface ShadowHour {
  hourStartMs: number;
  /** The shadow's grid exchange (kW over the hour, + import). */
  gridKw: number;
  /** The shadow's battery power (kW, + discharge). */
  batteryKw: number;
}

/** What the shadow needs to go on after a restart. */
export interface ShadowState {
  plant: PlantState;
  /** The command of the hour it planned last. */
  held: { hourStartMs: number; command: StepCommand };
  /** What its fallback would follow of its last plan. */
  previous: FollowedPlan | null;
  today: { dayMs: number; peakKw: number };
}

export interface ShadowOptions {
  site: GatewayConfig['site'];
  /** The planner's problem of this household alone (Planner.aloneInput). */
  aloneInput(nowMs: number, state: PlannerState, peakTodayKw?: number): ProblemInput;
  /** The gateway's solver; the shadow solves on its own warm-start chain. */
  solver: { solve(input: ProblemInput, options: { startMs: number; chain?: string }): Promise<SolveResult> };
  log: RuntimeLog;
}

export class NoLossShadow {
  private plant: Plant | null = null;
  private held: ShadowState['held'] | null = null;
  private previous: FollowedPlan | null = null;
  private today = { dayMs: -1, peakKw: 0 };
  private readonly maxDelayHours: number;

  constructor(private readonly options: ShadowOptions) {
    // One queue for all shiftable loads: the tightest delay keeps every deadline.
    this.maxDelayHours = Math.min(...options.site.shiftable.map((load) => load.maxDelayHours), 24);
  }

  /** Plans the hour starting at `hourStartMs` alone; `measured` is the gateway's state then (the requests made so far this hour are the household's, whoever controls). */
  async decide(hourStartMs: number, measured: PlannerState): Promise<void> {
    const { site, solver, log } = this.options;
    const plant = (this.plant ??= this.newPlant(measured.energyKwh ?? site.battery.minEnergyKwh));
    const steps = measured.shiftable.deadlinesKwh.length;
    const deadlinesKwh = plant.deadlinesKwh(hourStartMs, steps);
    if (this.maxDelayHours < steps) deadlinesKwh[this.maxDelayHours]! += measured.shiftable.requestedThisStepKwh;
    const state: PlannerState = {
      energyKwh: plant.energyKwh,
      maxChargeKw: null,
      maxDischargeKw: null,
      shiftable: { deferredKwh: plant.deferredKwh, requestedThisStepKwh: measured.shiftable.requestedThisStepKwh, deadlinesKwh },
    };
    // Today's peak so far is the shadow's own, not the meter's: alone, the household imported that.
    const input = this.options.aloneInput(hourStartMs, state, this.peakSoFarKw(hourStartMs));
    const result = await solver.solve(input, { startMs: hourStartMs, chain: 'no-loss-shadow' });
    if (!result.ok) log('warn', `no-loss shadow: solve ${result.status} at ${new Date(hourStartMs).toISOString()}, the shadow follows its fallback this hour`);
    // Alone, the gateway would have followed its fallback (formulation §6): its last plan shifted, else the safe rule.
    const plan = result.ok ? result.plan : fallbackPlan(input, this.previous ?? undefined, hourStartMs, result.status);
    this.previous = followed(plan);
    const peakKw = plan.peakImportByDayKw?.[0] ?? plan.peakImportKw;
    this.held = {
      hourStartMs,
      command: {
        netLoadForecastKw: input.netLoadForecastKw[0]!,
        scheduledGridKw: plan.gridImportKw[0]! - plan.gridExportKw[0]!,
        batteryKw: plan.dischargeKw[0]! - plan.chargeKw[0]!,
        decisionRule: plan.decisionRule[0]!,
        shiftableKw: plan.shiftableKw[0]!,
        // The import row the model bounded (src/optimizer/chance.ts).
        plannedPeakKw: input.chance.importLimit === 'connection' ? site.grid.maxImportKw : peakKw ?? site.grid.maxImportKw,
        plannedEnergyNextKwh: plan.energyKwh[1] ?? plant.energyKwh,
        ...(peakKw !== undefined && (input.tariff.peakEurPerKw ?? 0) > 0 ? { peakGuardKw: Math.max(peakKw, this.peakSoFarKw(hourStartMs)) } : {}),
      },
    };
  }

  /** Steps the shadow on a measured hour; null when it did not plan that hour (it started after the hour began). */
  observeHour(record: HourRecord): ShadowHour | null {
    const held = this.held;
    if (!this.plant || !held || held.hourStartMs !== record.hourStartMs) return null;
    const measured = hourMeasurement(record);
    const outcome = this.plant.step({ timeMs: record.hourStartMs, inflexibleKw: measured.inflexibleKw, pvKw: measured.pvKw, requestKw: measured.shiftableKw }, held.command);
    const dayMs = record.hourStartMs - (record.hourStartMs % DAY_MS);
    if (this.today.dayMs !== dayMs) this.today = { dayMs, peakKw: 0 };
    this.today.peakKw = Math.max(this.today.peakKw, outcome.gridKw);
    return { hourStartMs: record.hourStartMs, gridKw: outcome.gridKw, batteryKw: outcome.batteryKw };
  }

  /** The shadow's stored energy (kWh); null before it first planned. */
  energyKwh(): number | null {
    return this.plant?.energyKwh ?? null;
  }

  /** Null before it first planned. */
  state(): ShadowState | null {
    if (!this.plant || !this.held) return null;
    return { plant: this.plant.state(), held: this.held, previous: this.previous, today: { ...this.today } };
  }

  /** Goes on from a state kept before a restart instead of from the measured battery. */
  restore(state: ShadowState): void {
    const { minEnergyKwh, maxEnergyKwh } = this.options.site.battery;
    // A battery configured anew since: its own bounds hold.
    const energyKwh = Math.min(maxEnergyKwh, Math.max(minEnergyKwh, state.plant.energyKwh));
    this.plant = this.newPlant(energyKwh);
    this.plant.restore({ ...state.plant, energyKwh });
    this.held = state.held;
    this.previous = state.previous;
    this.today = { ...state.today };
  }

  private newPlant(energyKwh: number): Plant {
    const { site } = this.options;
    return new Plant(energyKwh, this.maxDelayHours, site.battery, site.grid);
  }

  private peakSoFarKw(hourStartMs: number): number {
    return this.today.dayMs === hourStartMs - (hourStartMs % DAY_MS) ? this.today.peakKw : 0;
  }
}

function followed({ startMs, stepHours, chargeKw, dischargeKw, shiftableKw, decisionRule }: Plan): FollowedPlan {
  return { startMs, stepHours, chargeKw, dischargeKw, shiftableKw, decisionRule };
}
