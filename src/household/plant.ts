/**
 * The plant of the closed loop: one household's real measured hour, the battery and the
 * shiftable-load queue, driven by a controller's step command and the fast-loop rule of
 * formulation.md §6 (the battery takes d₀ − c₀ + β₀ξ clipped to its power and SoC limits, the
 * grid takes the rest). Shiftable demand waits in a first-in-first-out queue and is served
 * by force when its deadline comes, whatever the controller asked.
 */
import { battery as defaultBattery, grid as defaultGrid } from '../data/assets.ts';
import { HOUR_MS } from '../data/households.ts';
import type { BatteryParams, ChanceFamily } from '../optimizer/types.ts';
import { violationToleranceKw as toleranceKw } from '../optimizer/settings.ts';

/** What a controller commands at the start of an hour (Δt = 1 h). */
export interface StepCommand {
  /** Forecast net load μ₀ without shiftable demand (kW). */
  netLoadForecastKw: number;
  /** Scheduled grid exchange g⁺₀ − g⁻₀ (kW, + import). */
  scheduledGridKw: number;
  /** Battery setpoint d₀ − c₀ (kW, + discharge). */
  batteryKw: number;
  /** β₀: share of the deviation the battery takes in real time. */
  decisionRule: number;
  /** Shiftable load to serve this hour, f₀ (kW). */
  shiftableKw: number;
  /** The plan's import limit P̄ of the import family (G^imp when the controller plans no peak). */
  plannedPeakKw: number;
  /** The plan's e₁ (kWh), for the SoC rows. */
  plannedEnergyNextKwh: number;
  /**
   * The day's billed import peak the plan expects (kW): the battery discharges beyond the rule
   * (or charges less) rather than let the import exceed it. Absent: no guard.
   */
  peakGuardKw?: number;
}

/** The realised hour from the data. */
export interface RealisedHour {
  timeMs: number;
  inflexibleKw: number;
  pvKw: number;
  /** Shiftable demand requested this hour (kW = kWh over the hour). */
  requestKw: number;
}

export interface StepOutcome {
  timeMs: number;
  /** Realised grid exchange (kW, + import). */
  gridKw: number;
  scheduledGridKw: number;
  /** Realised battery power (kW, + discharge). */
  batteryKw: number;
  /** State of charge at the end of the hour (kWh). */
  energyKwh: number;
  /** ξ the fast loop measured: realised net load − μ₀ − f₀ (kW). */
  deviationKw: number;
  servedShiftableKw: number;
  /** Rows of each family at this step, evaluated on the realised ξ. */
  violated: Record<ChanceFamily, boolean>;
  /** The battery could not take its whole share (power or SoC limit). */
  batteryClipped: boolean;
}

/** The plant's state between two hours: what a gateway keeps to go on after a restart. */
export interface PlantState {
  energyKwh: number;
  /** Deferred shiftable energy, oldest first, each with the instant it must be served by. */
  queue: { energyKwh: number; deadlineMs: number }[];
}

export class Plant {
  private queue: PlantState['queue'] = [];

  constructor(
    public energyKwh: number,
    readonly maxDelayHours: number,
    readonly battery: BatteryParams = defaultBattery,
    readonly grid = defaultGrid,
  ) {}

  state(): PlantState {
    return { energyKwh: this.energyKwh, queue: this.queue.map((item) => ({ ...item })) };
  }

  restore(state: PlantState): void {
    this.energyKwh = state.energyKwh;
    this.queue = state.queue.map((item) => ({ ...item }));
  }

  /** Deferred shiftable energy waiting to be served (s₀, kWh). */
  get deferredKwh(): number {
    return this.queue.reduce((sum, item) => sum + item.energyKwh, 0);
  }

  /** Queued energy that must be served in the hour starting at `timeMs` (its deadline has come). */
  dueKwh(timeMs: number): number {
    return this.queue.filter((item) => item.deadlineMs <= timeMs).reduce((sum, item) => sum + item.energyKwh, 0);
  }

  /** Queued energy by the step (hour from `timeMs`) in which its deadline falls; later deadlines are left out. */
  deadlinesKwh(timeMs: number, steps: number): number[] {
    const byStep = new Array<number>(steps).fill(0);
    for (const item of this.queue) {
      const k = Math.max(0, Math.round((item.deadlineMs - timeMs) / HOUR_MS));
      if (k < steps) byStep[k]! += item.energyKwh;
    }
    return byStep;
  }

  step(hour: RealisedHour, command: StepCommand): StepOutcome {
    const b = this.battery;
    this.queue.push({ energyKwh: hour.requestKw, deadlineMs: hour.timeMs + this.maxDelayHours * HOUR_MS });
    const servedShiftableKw = Math.min(Math.max(command.shiftableKw, this.dueKwh(hour.timeMs)), this.deferredKwh);
    this.serve(servedShiftableKw);

    const netLoadKw = hour.inflexibleKw - hour.pvKw + servedShiftableKw;
    const xi = netLoadKw - command.netLoadForecastKw - command.shiftableKw;
    const requestedBatteryKw = command.batteryKw + command.decisionRule * xi;
    const maxDischargeKw = this.maxDischargeFromKw(this.energyKwh);
    const maxChargeKw = Math.min(b.maxChargeKw, Math.max(0, (b.maxEnergyKwh - this.energyKwh) / b.chargeEfficiency));
    const ruleBatteryKw = Math.min(Math.max(requestedBatteryKw, -maxChargeKw), maxDischargeKw);
    const guard = command.peakGuardKw;
    const batteryKw = guard !== undefined && netLoadKw - ruleBatteryKw > guard ? Math.min(maxDischargeKw, netLoadKw - guard) : ruleBatteryKw;
    this.energyKwh -= this.drawnKwh(batteryKw);
    const gridKw = netLoadKw - batteryKw;

    const gridRowKw = command.scheduledGridKw + (1 - command.decisionRule) * xi;
    const energyRowKwh = command.plannedEnergyNextKwh - command.decisionRule * xi;
    return {
      timeMs: hour.timeMs,
      gridKw,
      scheduledGridKw: command.scheduledGridKw,
      batteryKw,
      energyKwh: this.energyKwh,
      deviationKw: xi,
      servedShiftableKw,
      violated: {
        import: gridRowKw > command.plannedPeakKw + toleranceKw,
        export: -gridRowKw > this.grid.maxExportKw + toleranceKw,
        discharge: requestedBatteryKw > b.maxDischargeKw + toleranceKw,
        charge: -requestedBatteryKw > b.maxChargeKw + toleranceKw,
        socMin: energyRowKwh < b.minEnergyKwh - toleranceKw,
        socMax: energyRowKwh > b.maxEnergyKwh + toleranceKw,
      },
      batteryClipped: Math.abs(ruleBatteryKw - requestedBatteryKw) > toleranceKw,
    };
  }

  /** More discharge the battery could have given in the hour just stepped (kW). */
  dischargeRoomKw(outcome: StepOutcome): number {
    return Math.max(0, this.maxDischargeFromKw(this.energyBefore(outcome)) - outcome.batteryKw);
  }

  /** The hour just stepped again with `extraKw` more discharge (within the battery's limits). */
  dischargeMore(outcome: StepOutcome, extraKw: number): StepOutcome {
    const before = this.energyBefore(outcome);
    const batteryKw = Math.min(this.maxDischargeFromKw(before), outcome.batteryKw + extraKw);
    this.energyKwh = before - this.drawnKwh(batteryKw);
    return { ...outcome, batteryKw, gridKw: outcome.gridKw - (batteryKw - outcome.batteryKw), energyKwh: this.energyKwh };
  }

  private energyBefore(outcome: StepOutcome): number {
    return outcome.energyKwh + this.drawnKwh(outcome.batteryKw);
  }

  /** Stored energy an hour at `batteryKw` (+ discharge) takes out of the battery, losses included (kWh). */
  private drawnKwh(batteryKw: number): number {
    const b = this.battery;
    return batteryKw > 0 ? batteryKw / b.dischargeEfficiency : batteryKw * b.chargeEfficiency;
  }

  private maxDischargeFromKw(energyKwh: number): number {
    const b = this.battery;
    return Math.min(b.maxDischargeKw, Math.max(0, (energyKwh - b.minEnergyKwh) * b.dischargeEfficiency));
  }

  private serve(energyKwh: number): void {
    let left = energyKwh;
    while (left > 1e-12 && this.queue.length > 0) {
      const head = this.queue[0]!;
      const take = Math.min(head.energyKwh, left);
      head.energyKwh -= take;
      left -= take;
      if (head.energyKwh <= 1e-12) this.queue.shift();
    }
    this.queue = this.queue.filter((item) => item.energyKwh > 1e-12);
  }
}
