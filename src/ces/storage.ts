/**
 * The CES drives its battery to its day-ahead schedule (docs/ces.md §5): each control period it
 * commands the hour's physical power (own part and the accounts' net, + discharge) through the
 * Battery capability — so a real or simulated SunSpec storage is driven by the same driver as a
 * household's battery — always with a revert time (the runtime's rule for every setpoint: a CES
 * that stops refreshing leaves the battery at 0 kW), and meters what the battery did per hour from
 * its readings.
 */
import type { Battery } from '../devices/capabilities.ts';
import type { Clock } from '../time/clock.ts';
import { holdWhile } from '../time/lockstep-clock.ts';
import type { CesSchedule } from './ces-model.ts';
import { HOUR_MS } from '../data/households.ts';

export interface MeteredHour {
  hourStartMs: number;
  /** AC energy into and out of the battery (kWh, both ≥ 0), from the power read each period. */
  chargeKwh: number;
  dischargeKwh: number;
}

export interface CesStorageOptions {
  battery: Battery;
  clock: Clock;
  /** Control period (simulated ms; default 60 s). */
  periodMs?: number;
  /** The setpoint's revert time (default three periods). */
  revertAfterMs?: number;
  log?: (line: string) => void;
}

export class CesStorage {
  private readonly setpoints = new Map<number, number>();
  private readonly metered = new Map<number, MeteredHour>();
  readonly periodMs: number;

  constructor(private readonly options: CesStorageOptions) {
    this.periodMs = options.periodMs ?? 60_000;
  }

  /** The day's schedule: hour t of the day at physical discharge − charge. */
  follow(dayMs: number, schedule: Pick<CesSchedule, 'physicalChargeKw' | 'physicalDischargeKw'>): void {
    schedule.physicalChargeKw.forEach((chargeKw, t) => this.setpoints.set(dayMs + t * HOUR_MS, schedule.physicalDischargeKw[t]! - chargeKw));
  }

  /** The setpoint of the hour `atMs` is in (kW, + discharge); 0 where no schedule covers it. */
  setpointKw(atMs: number): number {
    return this.setpoints.get(Math.floor(atMs / HOUR_MS) * HOUR_MS) ?? 0;
  }

  /** One control period: command the hour's setpoint, read what the battery does, meter it for the period. */
  async step(): Promise<void> {
    const { battery, clock } = this.options;
    const nowMs = clock.nowMs();
    await battery.setPowerSetpoint(this.setpointKw(nowMs), this.options.revertAfterMs ?? 3 * this.periodMs);
    const reading = await battery.read();
    if (!reading.ok) {
      this.options.log?.(`ces storage: no reading (${reading.error.message})`);
      return;
    }
    const hourStartMs = Math.floor(nowMs / HOUR_MS) * HOUR_MS;
    const hour = this.metered.get(hourStartMs) ?? { hourStartMs, chargeKwh: 0, dischargeKwh: 0 };
    const kwh = (reading.value.powerKw * Math.min(this.periodMs, hourStartMs + HOUR_MS - nowMs)) / HOUR_MS;
    if (kwh > 0) hour.dischargeKwh += kwh;
    else hour.chargeKwh -= kwh;
    this.metered.set(hourStartMs, hour);
  }

  /** Steps every period until `signal` aborts; on lock-step time each step holds time still. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await holdWhile(this.options.clock, this.step()).catch((error: Error) => this.options.log?.(`ces storage: ${error.message}`));
      await this.options.clock.sleep(this.periodMs, signal);
    }
  }

  /** The metered hours from `fromMs` to `toMs`, in time order. */
  meteredHours(fromMs = -Infinity, toMs = Infinity): MeteredHour[] {
    return [...this.metered.values()].filter((h) => h.hourStartMs >= fromMs && h.hourStartMs < toMs).sort((a, b) => a.hourStartMs - b.hourStartMs);
  }
}
