/**
 * Battery storage over SunSpec: readings from 802 (battery base model), the power setpoint
 * through 124 (basic storage controls). 704 WSet is deliberately not used: on a hybrid
 * inverter it sets the whole AC output (PV + battery), not the battery.
 *
 * 124 has no "power setpoint" point, only a charge/discharge window in percent of WChaMax:
 * the battery may move between −InWRte (charging) and +OutWRte (discharging). A setpoint P
 * pins the window to one value (InWRte = −OutWRte), which is how hybrid inverters that follow
 * this model are forced to charge or discharge. Sign: + discharge, − charge, as in 802 W and
 * in the Battery capability.
 */
import type { Battery, BatteryValues, Reading } from '../../src/devices/capabilities.ts';
import { DeviceError } from '../../src/devices/errors.ts';
import { FailSafeControl, revertSeconds } from './fail-safe-control.ts';
import type { ModelBlock } from './model-block.ts';
import { plausible, readingOf } from '../reading.ts';
import { SunSpecDevice, type SunSpecDeviceOptions } from './sunspec-device.ts';

/** StorCtl_Mod bits (model 124 symbols CHARGE=0, DiSCHARGE=1): both windows in force. */
const CHARGE_AND_DISCHARGE_LIMITS = 0b11;
const ALARM_STATE = 'FAULT';

export interface SunSpecBatteryOptions extends SunSpecDeviceOptions {
  /** Nameplate capacity from the configuration; the device's WHRtg is reported in readings. */
  capacityKwh: number;
  /** A power beyond this is garbage. Default 50 kW. */
  maxPlausibleKw?: number;
}

export class SunSpecBattery extends SunSpecDevice implements Battery {
  readonly capacityKwh: number;
  private readonly maxPlausibleKw: number;
  private readonly setpoint: FailSafeControl;

  constructor(options: SunSpecBatteryOptions) {
    super(options);
    this.capacityKwh = options.capacityKwh;
    this.maxPlausibleKw = options.maxPlausibleKw ?? 50;
    this.setpoint = new FailSafeControl(options.clock);
  }

  read(): Promise<Reading<BatteryValues>> {
    return readingOf(this.clock, this.id, async () => {
      const bat = (await this.client.readModels([802])).get(802);
      if (!bat) throw new DeviceError('discovery', this.id, 'no battery base model 802');
      const socFraction = bat.required('SoC') / 100;
      if (!(socFraction >= 0 && socFraction <= 1)) throw new DeviceError('garbage', this.id, `state of charge ${socFraction * 100} % is outside 0..100`);
      const powerKw = plausible(this.id, 'battery power (kW)', bat.required('W') / 1000, this.maxPlausibleKw);
      const alarms = bat.flags('Evt1');
      if (bat.symbol('State') === ALARM_STATE) alarms.push(ALARM_STATE);
      const values: BatteryValues = {
        socFraction,
        powerKw,
        maxChargeKw: liveLimitKw(bat, 'WChaRteMax', 'AChaMax'),
        maxDischargeKw: liveLimitKw(bat, 'WDisChaRteMax', 'ADisChaMax'),
        alarms,
      };
      const capacityWh = bat.value('WHRtg');
      if (capacityWh !== undefined) {
        values.capacityKwh = capacityWh / 1000;
        values.energyKwh = socFraction * values.capacityKwh;
      }
      plausible(this.id, 'max charge (kW)', values.maxChargeKw, this.maxPlausibleKw);
      plausible(this.id, 'max discharge (kW)', values.maxDischargeKw, this.maxPlausibleKw);
      return values;
    });
  }

  async setPowerSetpoint(powerKw: number, revertAfterMs: number): Promise<void> {
    if (!Number.isFinite(powerKw)) throw new RangeError(`${this.id}: power setpoint must be a number of kW, got ${powerKw}`);
    const key = `${await this.client.generation()}:${powerKw}:${revertAfterMs}`;
    await this.setpoint.command(key, revertAfterMs, async () => {
      const storage = (await this.client.readModels([124])).get(124);
      if (!storage) throw new DeviceError('discovery', this.id, 'no storage control model 124');
      await this.writeStorage124(storage, powerKw, revertAfterMs);
    });
  }

  private async writeStorage124(block: ModelBlock, powerKw: number, revertAfterMs: number): Promise<void> {
    const maxW = block.required('WChaMax');
    if (!(maxW > 0)) throw new DeviceError('garbage', this.id, `WChaMax = ${maxW} W cannot scale a setpoint`);
    // The device cannot do more than 100 % of its rate; ask for what it can do rather than fail.
    const pct = Math.max(-100, Math.min(100, (powerKw * 1000 * 100) / maxW));
    block.setRaw('InOutWRte_RvrtTms', revertSeconds(revertAfterMs, 0xffff));
    block.setValue('OutWRte', pct);
    block.setValue('InWRte', -pct);
    block.setRaw('StorCtl_Mod', CHARGE_AND_DISCHARGE_LIMITS);
    await this.client.writeFailSafe(block, { revert: 'InOutWRte_RvrtTms', settings: ['OutWRte', 'InWRte'], enable: 'StorCtl_Mod' });
  }
}

/** The BMS's live limit: the rated power, tightened by the live current limit × pack voltage where reported. */
function liveLimitKw(bat: ModelBlock, ratedPoint: string, currentPoint: string): number {
  const ratedW = bat.required(ratedPoint);
  const amps = bat.value(currentPoint);
  const volts = bat.value('V');
  const liveW = amps !== undefined && volts !== undefined ? Math.min(ratedW, amps * volts) : ratedW;
  return liveW / 1000;
}
