/**
 * A battery from a register map's `battery-storage` role, with the fail-safe rule of every
 * setpoint in this project: it is never in force without a revert time.
 *
 * - A map whose device has its own watchdog (`setpoint.timeout`): the timeout is written and
 *   read back before anything else; a device that does not keep it gets the setpoint switched
 *   off (`setpoint.revert`) and the command fails with `mismatch`, naming what was switched off.
 * - A map without one (the Sungrow SH-RT's forced mode has none): the gateway is the watchdog.
 *   It reverts the device itself when a setpoint is not refreshed within its revert time, and
 *   when the driver closes. A gateway process that is killed cannot do that: the device keeps
 *   the last setpoint until it is told otherwise (docs/register-maps.md says so).
 *
 * Settings and the enable are read back too; a mismatch after one re-write switches off.
 */
import type { Battery, BatteryValues, Reading } from '../../src/devices/capabilities.ts';
import { DeviceError } from '../../src/devices/errors.ts';
import { FailSafeControl } from '../sunspec/fail-safe-control.ts';
import { plausible, readingOf } from '../reading.ts';
import { fromCoreUnit } from './codec.ts';
import type { BatteryRole, MapPoint, PointValue } from './map.ts';
import { RegisterMapDevice, type RegisterMapDeviceOptions } from './register-map-device.ts';

export interface RegisterMapBatteryOptions extends RegisterMapDeviceOptions {
  capacityKwh: number;
  /** The device's charge/discharge rating: the live limits when the map has no points for them. */
  ratedPowerKw?: number;
  /** A power beyond this is garbage. Default 50 kW. */
  maxPlausibleKw?: number;
}

export class RegisterMapBattery extends RegisterMapDevice implements Battery {
  readonly capacityKwh: number;
  private readonly role: BatteryRole;
  private readonly ratedPowerKw: number | undefined;
  private readonly maxPlausibleKw: number;
  private readonly control: FailSafeControl;
  /** Set while the gateway is the device's watchdog (no timeout register) and a setpoint is in force. */
  private watchdog: AbortController | undefined;
  /** A setpoint may be in force: closing gives control back. */
  private commanded = false;

  constructor(options: RegisterMapBatteryOptions) {
    super(options);
    this.role = this.requiredRole('battery-storage');
    this.capacityKwh = options.capacityKwh;
    this.ratedPowerKw = options.ratedPowerKw;
    this.maxPlausibleKw = options.maxPlausibleKw ?? 50;
    if ((!this.role.maxChargeKw || !this.role.maxDischargeKw) && !(this.ratedPowerKw! > 0)) {
      throw new RangeError(`${this.id}: register map ${this.map.name} has no live charge/discharge limits, so the device needs ratedPowerKw`);
    }
    this.control = new FailSafeControl(options.clock);
  }

  read(): Promise<Reading<BatteryValues>> {
    return readingOf(this.clock, this.id, async () => {
      const { socFraction, powerKw, maxChargeKw, maxDischargeKw } = this.role;
      const values = await this.readBindings([socFraction, powerKw, maxChargeKw, maxDischargeKw]);
      const soc = this.bound(socFraction, values);
      if (!(soc >= 0 && soc <= 1)) throw new DeviceError('garbage', this.id, `state of charge ${soc * 100} % is outside 0..100`);
      const limit = (what: string, b: typeof maxChargeKw) => plausible(this.id, what, b ? Math.abs(this.bound(b, values)) : this.ratedPowerKw!, this.maxPlausibleKw);
      return {
        socFraction: soc,
        energyKwh: soc * this.capacityKwh,
        capacityKwh: this.capacityKwh,
        powerKw: plausible(this.id, 'battery power (kW)', this.bound(powerKw, values), this.maxPlausibleKw),
        maxChargeKw: limit('max charge (kW)', maxChargeKw),
        maxDischargeKw: limit('max discharge (kW)', maxDischargeKw),
        alarms: [],
      };
    });
  }

  async setPowerSetpoint(powerKw: number, revertAfterMs: number): Promise<void> {
    if (!Number.isFinite(powerKw)) throw new RangeError(`${this.id}: power setpoint must be a number of kW, got ${powerKw}`);
    if (!(revertAfterMs > 0) || !Number.isFinite(revertAfterMs)) throw new RangeError(`${this.id}: revertAfterMs must be a positive number of milliseconds, got ${revertAfterMs}`);
    await this.control.command(`${powerKw}:${revertAfterMs}`, revertAfterMs, () => this.write(powerKw, revertAfterMs));
  }

  /** Gives control back to the device (its own mode) if a setpoint may be in force. */
  override async close(): Promise<void> {
    this.disarm();
    if (this.commanded) await this.client.writeAndReadBack(this.role.setpoint.revert).catch(() => undefined);
  }

  private async write(powerKw: number, revertAfterMs: number): Promise<void> {
    const sp = this.role.setpoint;
    this.commanded = true;
    if (sp.timeout) {
      const point = this.client.point(sp.timeout.point);
      const wrong = await this.client.writeAndReadBack([{ point: point.name, value: timeoutIn(point, revertAfterMs) }]);
      if (wrong) await this.switchOff(`the device did not keep its timeout (${wrong})`);
    }
    const power = this.client.point(sp.power.point);
    const values: PointValue[] = [];
    if (sp.direction) values.push({ point: sp.direction.point, value: powerKw > 0 ? sp.direction.discharge : powerKw < 0 ? sp.direction.charge : sp.direction.idle });
    const devicePowerKw = sp.direction ? Math.abs(powerKw) : sp.power.negate ? -powerKw : powerKw;
    values.push({ point: power.name, value: fromCoreUnit(power, devicePowerKw) }, ...sp.enable);
    const wrong = await this.client.writeAndReadBack(values);
    if (wrong) await this.switchOff(`the setpoint did not read back (${wrong})`);
    if (!sp.timeout) this.armWatchdog(revertAfterMs);
  }

  private async switchOff(why: string): Promise<never> {
    this.disarm();
    const revert = this.role.setpoint.revert;
    const off = revert.map((r) => `${r.point} ${r.value}`).join(', ');
    const outcome = await this.client.writeAndReadBack(revert).then(
      (wrong) => {
        if (wrong) return `switching it off (${off}) did not read back either (${wrong})`;
        this.commanded = false;
        return `the setpoint was switched off (${off})`;
      },
      (e: unknown) => `switching it off (${off}) failed: ${e instanceof Error ? e.message : String(e)}`,
    );
    throw new DeviceError('mismatch', this.id, `register map ${this.map.name}: ${why}; ${outcome}`);
  }

  /** The gateway-side revert: unless the next write comes first, give control back at the revert time. */
  private armWatchdog(revertAfterMs: number): void {
    this.disarm();
    const watchdog = (this.watchdog = new AbortController());
    void this.clock.sleep(revertAfterMs, watchdog.signal).then(async (elapsed) => {
      if (!elapsed || watchdog.signal.aborted) return;
      this.watchdog = undefined;
      // A failed revert is counted in the bus's health for this unit; the next command tries again.
      const wrong = await this.client.writeAndReadBack(this.role.setpoint.revert).catch(() => 'failed');
      if (!wrong) this.commanded = false;
    });
  }

  private disarm(): void {
    this.watchdog?.abort();
    this.watchdog = undefined;
  }
}

/** The revert time in the timeout point's unit, rounded up, never 0 (which devices read as "never"). */
function timeoutIn(point: MapPoint, revertAfterMs: number): number {
  return Math.max(1, Math.ceil(fromCoreUnit(point, revertAfterMs / 1000)));
}
