/**
 * PV inverter over SunSpec: measurements from 101/102/103 (classic) or 701 (DER), the
 * active-power limit through 123 (classic) or 704 (DER), whichever the device offers.
 */
import type { PvInverter, PvState, PvValues, Reading } from '../../src/devices/capabilities.ts';
import { DeviceError } from '../../src/devices/errors.ts';
import { FailSafeControl, revertSeconds } from './fail-safe-control.ts';
import type { ModelBlock } from './model-block.ts';
import { plausible, readingOf } from '../reading.ts';
import { SunSpecDevice, type SunSpecDeviceOptions } from './sunspec-device.ts';

const MEASUREMENT_MODELS = [103, 102, 101, 701] as const;
const LIMIT_MODELS = [123, 704] as const;

/** St (101–103) and InvSt (701) symbols → PvState; both models' names are covered. */
const STATE_BY_SYMBOL: Record<string, PvState> = {
  OFF: 'off',
  SLEEPING: 'sleeping',
  STARTING: 'starting',
  MPPT: 'producing',
  RUNNING: 'producing',
  THROTTLED: 'throttled',
  SHUTTING_DOWN: 'shutting-down',
  FAULT: 'fault',
  STANDBY: 'standby',
};

/** Point names of the power-limit controls, per model. */
const LIMIT_POINTS = {
  123: { pct: 'WMaxLimPct', revert: 'WMaxLimPct_RvrtTms', enable: 'WMaxLim_Ena', maxRevertS: 0xffff },
  704: { pct: 'WMaxLimPct', revert: 'WMaxLimPctRvrtTms', enable: 'WMaxLimPctEna', maxRevertS: 0xffffffff },
} as const;

const ENABLED = 1;

export interface SunSpecPvInverterOptions extends SunSpecDeviceOptions {
  ratedPowerKw: number;
}

export class SunSpecPvInverter extends SunSpecDevice implements PvInverter {
  readonly ratedPowerKw: number;
  private readonly limit: FailSafeControl;

  constructor(options: SunSpecPvInverterOptions) {
    super(options);
    this.ratedPowerKw = options.ratedPowerKw;
    this.limit = new FailSafeControl(options.clock);
  }

  read(): Promise<Reading<PvValues>> {
    return readingOf(this.clock, this.id, async () => {
      const blocks = await this.client.readModels([...MEASUREMENT_MODELS, ...LIMIT_MODELS]);
      const meas = MEASUREMENT_MODELS.map((id) => blocks.get(id)).find((b) => b !== undefined);
      if (!meas) throw new DeviceError('discovery', this.id, `no inverter measurement model (${MEASUREMENT_MODELS.join('/')})`);
      const der = meas.id === 701;
      const acPowerKw = plausible(this.id, 'AC power (kW)', meas.required('W') / 1000, 2 * this.ratedPowerKw);
      const energyWh = meas.value(der ? 'TotWhInj' : 'WH');
      const state = STATE_BY_SYMBOL[meas.symbol(der ? 'InvSt' : 'St') ?? ''] ?? 'unknown';
      const values: PvValues = { acPowerKw, state };
      if (energyWh !== undefined) values.energyKwh = energyWh / 1000;
      const limit = limitBlock(blocks);
      if (limit) values.activePowerLimitFraction = limitFraction(limit);
      return values;
    });
  }

  async setActivePowerLimit(fraction: number, revertAfterMs: number): Promise<void> {
    if (!(fraction >= 0 && fraction <= 1)) throw new RangeError(`${this.id}: power limit fraction must be within 0..1, got ${fraction}`);
    const key = `${await this.client.generation()}:${fraction}:${revertAfterMs}`;
    await this.limit.command(key, revertAfterMs, async () => {
      const block = limitBlock(await this.client.readModels([...LIMIT_MODELS]));
      if (!block) throw new DeviceError('discovery', this.id, `no power-limit model (${LIMIT_MODELS.join('/')})`);
      const p = LIMIT_POINTS[block.id as keyof typeof LIMIT_POINTS];
      block.setRaw(p.revert, revertSeconds(revertAfterMs, p.maxRevertS));
      block.setValue(p.pct, fraction * 100);
      block.setRaw(p.enable, ENABLED);
      await this.client.writeFailSafe(block, { revert: p.revert, settings: [p.pct], enable: p.enable });
    });
  }
}

function limitBlock(blocks: Map<number, ModelBlock>): ModelBlock | undefined {
  return LIMIT_MODELS.map((id) => blocks.get(id)).find((b) => b !== undefined);
}

function limitFraction(block: ModelBlock): number {
  const p = LIMIT_POINTS[block.id as keyof typeof LIMIT_POINTS];
  if (block.raw(p.enable) !== ENABLED) return 1;
  return block.required(p.pct) / 100;
}
