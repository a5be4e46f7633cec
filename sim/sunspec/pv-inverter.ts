/**
 * Simulated PV inverter firmware: measurements from the plant in model 103 (classic) or 701
 * (DER), and an active-power limit in model 123 or 704 that is applied to the plant and falls
 * back to "unlimited" when not refreshed within its revert time.
 */
import type { Clock } from '../../src/time/clock.ts';
import type { ModelBlock } from '../../drivers/sunspec/model-block.ts';
import { ModbusExceptionCode } from '../../drivers/modbus/bus.ts';
import { SlaveException } from '../modbus/register-space.ts';
import type { PlantView } from '../plant/plant-view.ts';
import { RevertTimer } from './revert-timer.ts';
import { fitScale, setCounterWh, setMeasured, setRaws } from './sim-values.ts';
import { SunSpecSpace, type CommonInfo, type SimModel } from './sunspec-space.ts';

export interface PvModelsOptions {
  /** Serve the DER models 701 + 704 instead of the classic 103 + 123. */
  derModels?: boolean;
}

export interface SimPvInverterOptions extends PvModelsOptions {
  baseAddress?: number;
  common?: Partial<CommonInfo>;
}

/** The limit the firmware enforces, shared by its measurement and control models. */
interface LimitState {
  fraction: number | null;
}

const CABINET_TEMPERATURE_C = 35;

export function pvInverterModels(plant: PlantView, clock: Clock, options: PvModelsOptions = {}): SimModel[] {
  const state: LimitState = { fraction: null };
  return options.derModels
    ? [derMeasurement(plant, state), limitControl(704, { pct: 'WMaxLimPct', revert: 'WMaxLimPctRvrtTms', enable: 'WMaxLimPctEna', remaining: 'WMaxLimPctRvrtRem' }, plant, clock, state)]
    : [threePhaseMeasurement(plant, state), limitControl(123, { pct: 'WMaxLimPct', revert: 'WMaxLimPct_RvrtTms', enable: 'WMaxLim_Ena' }, plant, clock, state)];
}

export function simPvInverter(plant: PlantView, clock: Clock, options: SimPvInverterOptions = {}): SunSpecSpace {
  return new SunSpecSpace({
    baseAddress: options.baseAddress,
    common: { manufacturer: 'prosumer-edge sim', model: 'PV-3P', serial: 'PV0001', ...options.common },
    models: pvInverterModels(plant, clock, options),
  });
}

function scales(plant: PlantView): { w: number; a: number } {
  const maxW = plant.pvRatedPowerKw() * 1000 * 1.2;
  return { w: fitScale(maxW, 0), a: fitScale(maxW / 200, -2, 0xfffe) };
}

function runState(plant: PlantView, state: LimitState): 'sleeping' | 'throttled' | 'running' {
  if (!(plant.pvAcPowerKw() > 0)) return 'sleeping';
  return state.fraction !== null && state.fraction < 1 ? 'throttled' : 'running';
}

function threePhaseMeasurement(plant: PlantView, state: LimitState): SimModel {
  return {
    id: 103,
    init(b) {
      const sf = scales(plant);
      setRaws(b, { W_SF: sf.w, VA_SF: sf.w, VAr_SF: sf.w, A_SF: sf.a, V_SF: -1, Hz_SF: -2, WH_SF: 0, Tmp_SF: -1, Evt1: 0, Evt2: 0 });
    },
    refresh(b) {
      const w = plant.pvAcPowerKw() * 1000;
      const v = plant.gridVoltageV();
      setMeasured(b, 'W', w);
      setMeasured(b, 'VA', w);
      setMeasured(b, 'VAr', 0);
      setMeasured(b, 'A', w / v);
      for (const ph of ['A', 'B', 'C']) {
        setMeasured(b, `Aph${ph}`, w / v / 3);
        setMeasured(b, `PhVph${ph}`, v);
      }
      setMeasured(b, 'Hz', plant.gridFrequencyHz());
      setMeasured(b, 'TmpCab', CABINET_TEMPERATURE_C);
      setCounterWh(b, 'WH', plant.pvEnergyKwh());
      b.setSymbol('St', { sleeping: 'SLEEPING', throttled: 'THROTTLED', running: 'MPPT' }[runState(plant, state)]);
    },
  };
}

function derMeasurement(plant: PlantView, state: LimitState): SimModel {
  return {
    id: 701,
    init(b) {
      const sf = scales(plant);
      b.setSymbol('ACType', 'THREE_PHASE');
      setRaws(b, { W_SF: sf.w, VA_SF: sf.w, Var_SF: sf.w, A_SF: sf.a, V_SF: -1, Hz_SF: -2, TotWh_SF: 0, Tmp_SF: -1, Alrm: 0 });
      b.setSymbol('DERMode', 'GRID_FOLLOWING');
    },
    refresh(b) {
      const w = plant.pvAcPowerKw() * 1000;
      const v = plant.gridVoltageV();
      const run = runState(plant, state);
      b.setSymbol('St', run === 'sleeping' ? 'OFF' : 'ON');
      b.setSymbol('InvSt', { sleeping: 'SLEEPING', throttled: 'THROTTLED', running: 'RUNNING' }[run]);
      b.setSymbol('ConnSt', 'CONNECTED');
      setMeasured(b, 'W', w);
      setMeasured(b, 'VA', w);
      setMeasured(b, 'Var', 0);
      setMeasured(b, 'A', w / v);
      setMeasured(b, 'LNV', v);
      setMeasured(b, 'LLV', v * Math.sqrt(3));
      setMeasured(b, 'Hz', plant.gridFrequencyHz());
      setMeasured(b, 'TmpCab', CABINET_TEMPERATURE_C);
      setCounterWh(b, 'TotWhInj', plant.pvEnergyKwh());
      for (const l of ['L1', 'L2', 'L3']) setMeasured(b, `W${l}`, w / 3);
      b.setRaw('ThrotPct', Math.round((state.fraction ?? 1) * 100));
    },
  };
}

interface LimitPoints {
  pct: string;
  revert: string;
  enable: string;
  /** Read-only "seconds left" point, where the model has one (704). */
  remaining?: string;
}

const PERCENT_RANGE = { min: 0, max: 100 };

function limitControl(id: 123 | 704, p: LimitPoints, plant: PlantView, clock: Clock, state: LimitState): SimModel {
  let block: ModelBlock | undefined;
  const apply = (fraction: number | null): void => {
    state.fraction = fraction;
    plant.setPvLimitFraction(fraction);
  };
  const timer = new RevertTimer(clock, () => {
    // Fallback to safe: the limit is lifted, as if never set.
    block?.setSymbol(p.enable, 'DISABLED');
    apply(null);
  });
  return {
    id,
    init(b) {
      block = b;
      b.setRaw('WMaxLimPct_SF', -1);
      b.setValue(p.pct, 100);
      b.setRaw(p.revert, 0);
      b.setSymbol(p.enable, 'DISABLED');
      if (p.remaining) b.setRaw(p.remaining, 0);
      if (id === 123) b.setSymbol('Conn', 'CONNECT');
    },
    refresh(b) {
      timer.check();
      if (p.remaining) b.setRaw(p.remaining, timer.remainingSeconds());
    },
    accept(next, written) {
      const pct = next.value(p.pct);
      if (written.has(p.pct) && !(pct !== undefined && pct >= PERCENT_RANGE.min && pct <= PERCENT_RANGE.max)) throw new SlaveException(ModbusExceptionCode.IllegalDataValue);
    },
    applied(b, written) {
      if (![p.pct, p.revert, p.enable].some((x) => written.has(x))) return;
      if (b.symbol(p.enable) === 'ENABLED') {
        apply((b.value(p.pct) ?? 100) / 100);
        timer.arm(Number(b.raw(p.revert) ?? 0));
      } else {
        apply(null);
        timer.disarm();
      }
    },
    close: () => timer.close(),
  };
}
