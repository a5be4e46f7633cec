/**
 * Battery storage over SunSpec: readings from 802 (battery base model), the power setpoint
 * through 124 (basic storage controls). 704 WSet is deliberately not used: on a hybrid
 * inverter it sets the whole AC output (PV + battery), not the battery.
 *
 * 124 has no "power setpoint" point, only a charge/discharge window: the battery may move
 * between −InWRte (charging) and +OutWRte (discharging). The model text gives their bases:
 * OutWRte "Percent of max discharge rate", units "% WDisChaMax"; InWRte "Percent of max
 * charging rate", units "% WChaMax" (drivers/sunspec/models/model_124.json). 124 has no
 * WDisChaMax point; the maximum discharge rate is 802 WDisChaRteMax. A setpoint P pins the
 * window to one value (−InWRte × WChaMax = OutWRte × WDisChaMax = P), which is how hybrid
 * inverters that follow this model are forced to charge or discharge. Some vendors scale both
 * rates by WChaMax: `dischargeRateBase: 'WChaMax'`. Sign: + discharge, − charge, as in 802 W
 * and in the Battery capability.
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
const MAX_RATE_PCT = 100;

/** What OutWRte is a percentage of: the maximum discharge rate (the model text), or WChaMax (vendors that differ). */
export type DischargeRateBase = 'WDisChaMax' | 'WChaMax';

export interface SunSpecBatteryOptions extends SunSpecDeviceOptions {
  /** Nameplate capacity from the configuration; the device's WHRtg is reported in readings. */
  capacityKwh: number;
  /** A power beyond this is garbage. Default 50 kW. */
  maxPlausibleKw?: number;
  /** Default 'WDisChaMax', as the model text says (802 WDisChaRteMax). */
  dischargeRateBase?: DischargeRateBase;
}

export class SunSpecBattery extends SunSpecDevice implements Battery {
  readonly capacityKwh: number;
  private readonly maxPlausibleKw: number;
  private readonly dischargeRateBase: DischargeRateBase;
  private readonly setpoint: FailSafeControl;

  constructor(options: SunSpecBatteryOptions) {
    super(options);
    this.capacityKwh = options.capacityKwh;
    this.maxPlausibleKw = options.maxPlausibleKw ?? 50;
    this.dischargeRateBase = options.dischargeRateBase ?? 'WDisChaMax';
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
      const blocks = await this.client.readModels([124, 802]);
      const storage = blocks.get(124);
      if (!storage) throw new DeviceError('discovery', this.id, 'no storage control model 124');
      await this.writeStorage124(storage, blocks.get(802), powerKw, revertAfterMs);
    });
  }

  private async writeStorage124(block: ModelBlock, battery: ModelBlock | undefined, powerKw: number, revertAfterMs: number): Promise<void> {
    const chargeBaseW = rateBaseW(this.id, 'WChaMax', block.required('WChaMax'));
    const dischargeBaseW =
      this.dischargeRateBase === 'WChaMax'
        ? chargeBaseW
        : rateBaseW(this.id, '802 WDisChaRteMax', (battery ?? missing802(this.id)).required('WDisChaRteMax'));
    // Both bounds pin P only while it is within 100 % of both rates; ask for what the device can hold rather than fail.
    const pinnableW = Math.min(chargeBaseW, dischargeBaseW);
    const powerW = Math.max(-pinnableW, Math.min(pinnableW, powerKw * 1000));
    block.setRaw('InOutWRte_RvrtTms', revertSeconds(revertAfterMs, 0xffff));
    block.setValue('OutWRte', (powerW / dischargeBaseW) * MAX_RATE_PCT);
    block.setValue('InWRte', (-powerW / chargeBaseW) * MAX_RATE_PCT);
    block.setRaw('StorCtl_Mod', CHARGE_AND_DISCHARGE_LIMITS);
    await this.client.writeFailSafe(block, { revert: 'InOutWRte_RvrtTms', settings: ['OutWRte', 'InWRte'], enable: 'StorCtl_Mod' });
  }
}

function rateBaseW(device: string, point: string, watts: number): number {
  if (!(watts > 0)) throw new DeviceError('garbage', device, `${point} = ${watts} W cannot scale a setpoint`);
  return watts;
}

function missing802(device: string): never {
  throw new DeviceError('discovery', device, 'no battery base model 802, whose WDisChaRteMax is the base of 124 OutWRte');
}

/** The BMS's live limit: the rated power, tightened by the live current limit × pack voltage where reported. */
function liveLimitKw(bat: ModelBlock, ratedPoint: string, currentPoint: string): number {
  const ratedW = bat.required(ratedPoint);
  const amps = bat.value(currentPoint);
  const volts = bat.value('V');
  const liveW = amps !== undefined && volts !== undefined ? Math.min(ratedW, amps * volts) : ratedW;
  return liveW / 1000;
}
