/**
 * Simulated battery storage firmware: model 124 (storage controls: a charge/discharge window
 * in percent of WChaMax, reverting to "no forced power" when not refreshed) and model 802
 * (battery base: SoC, rating, live limits, alarms), both bound to the plant.
 *
 * 124 window semantics (as hybrid inverters implement it): with StorCtl_Mod bit CHARGE the
 * battery may charge at most InWRte %, with bit DISCHARGE discharge at most OutWRte %; a
 * negative rate forces the other direction. The firmware commands the power in the window
 * closest to 0 kW, so InWRte = −OutWRte pins it to exactly one value.
 */
import type { Clock } from '../../src/time/clock.ts';
import type { ModelBlock } from '../../drivers/sunspec/model-block.ts';
import { ModbusExceptionCode } from '../../drivers/modbus/bus.ts';
import { SlaveException } from '../modbus/register-space.ts';
import type { PlantView } from '../plant/plant-view.ts';
import { RevertTimer } from './revert-timer.ts';
import type { DischargeRateBase } from '../../drivers/sunspec/battery.ts';
import { fitScale, setMeasured, setRaws } from './sim-values.ts';
import { SunSpecSpace, type CommonInfo, type SimModel } from './sunspec-space.ts';

export interface BatteryModelsOptions {
  /** Inverter charge/discharge rating (WChaMax, 802 WChaRteMax/WDisChaRteMax). Default 5 kW. */
  ratedPowerKw?: number;
  /** What the firmware takes OutWRte as a percentage of: 802 WDisChaRteMax as the model text says (default), or WChaMax as some vendors do. */
  dischargeRateBase?: DischargeRateBase;
}

export interface SimBatteryOptions extends BatteryModelsOptions {
  baseAddress?: number;
  common?: Partial<CommonInfo>;
}

const RATE_RANGE_PCT = { min: -100, max: 100 };
const CONTROL_POINTS = ['StorCtl_Mod', 'InWRte', 'OutWRte', 'InOutWRte_RvrtTms', 'WChaMax'];
const TEMPERATURE_WARNING_C = 45;
const TEMPERATURE_ALARM_C = 55;

export function batteryModels(plant: PlantView, clock: Clock, options: BatteryModelsOptions = {}): SimModel[] {
  const ratedW = (options.ratedPowerKw ?? 5) * 1000;
  return [storageControl(plant, clock, ratedW, options.dischargeRateBase ?? 'WDisChaMax'), batteryBase(plant, ratedW)];
}

export function simBattery(plant: PlantView, clock: Clock, options: SimBatteryOptions = {}): SunSpecSpace {
  return new SunSpecSpace({
    baseAddress: options.baseAddress,
    common: { manufacturer: 'prosumer-edge sim', model: 'BAT-1', serial: 'BAT0001', ...options.common },
    models: batteryModels(plant, clock, options),
  });
}

function storageControl(plant: PlantView, clock: Clock, ratedW: number, dischargeRateBase: DischargeRateBase): SimModel {
  let block: ModelBlock | undefined;
  const release = (b: ModelBlock): void => {
    b.setRaw('StorCtl_Mod', 0);
    b.setValue('InWRte', 100);
    b.setValue('OutWRte', 100);
  };
  const timer = new RevertTimer(clock, () => {
    if (block) release(block);
    plant.setBatterySetpointKw(0);
  });
  return {
    id: 124,
    init(b) {
      block = b;
      setRaws(b, { WChaMax_SF: fitScale(ratedW, 0, 0xfffe), WChaDisChaGra_SF: 0, InOutWRte_SF: -2, ChaState_SF: -1, InBatV_SF: -1 });
      b.setValue('WChaMax', ratedW);
      b.setRaw('WChaGra', 100);
      b.setRaw('WDisChaGra', 100);
      b.setRaw('InOutWRte_RvrtTms', 0);
      release(b);
    },
    refresh(b) {
      timer.check();
      setMeasured(b, 'ChaState', plant.batterySocFraction() * 100);
      setMeasured(b, 'InBatV', plant.batteryPackVoltageV());
      const kw = plant.batteryPowerKw();
      b.setSymbol('ChaSt', kw > 0 ? 'DISCHARGING' : kw < 0 ? 'CHARGING' : 'HOLDING');
    },
    accept(next, written) {
      for (const path of ['InWRte', 'OutWRte']) {
        const pct = next.value(path);
        if (written.has(path) && !(pct !== undefined && pct >= RATE_RANGE_PCT.min && pct <= RATE_RANGE_PCT.max)) throw new SlaveException(ModbusExceptionCode.IllegalDataValue);
      }
      const maxW = next.value('WChaMax');
      if (written.has('WChaMax') && !(maxW !== undefined && maxW > 0 && maxW <= ratedW)) throw new SlaveException(ModbusExceptionCode.IllegalDataValue);
    },
    applied(b, written) {
      if (!CONTROL_POINTS.some((p) => written.has(p))) return;
      const mode = Number(b.raw('StorCtl_Mod') ?? 0);
      const chargeLimited = (mode & 0b01) !== 0;
      const dischargeLimited = (mode & 0b10) !== 0;
      // Window of allowed battery power in W, + discharge: InWRte in % of WChaMax, OutWRte in % of
      // the maximum discharge rate (802 WDisChaRteMax, the inverter's rating here) per the model text.
      const chargeBaseW = b.value('WChaMax') ?? ratedW;
      const dischargeBaseW = dischargeRateBase === 'WChaMax' ? chargeBaseW : ratedW;
      const lowW = (chargeLimited ? -(b.value('InWRte') ?? 100) : RATE_RANGE_PCT.min) / 100 * chargeBaseW;
      const highW = (dischargeLimited ? (b.value('OutWRte') ?? 100) : RATE_RANGE_PCT.max) / 100 * dischargeBaseW;
      plant.setBatterySetpointKw(Math.min(Math.max(0, lowW), highW) / 1000);
      if (mode === 0) timer.disarm();
      else timer.arm(Number(b.raw('InOutWRte_RvrtTms') ?? 0));
    },
    close: () => timer.close(),
  };
}

function batteryBase(plant: PlantView, ratedW: number): SimModel {
  return {
    id: 802,
    init(b) {
      const capacityWh = plant.batteryCapacityKwh() * 1000;
      const nominalV = plant.batteryPackVoltageV();
      setRaws(b, { WHRtg_SF: fitScale(capacityWh, 0, 0xfffe), AHRtg_SF: 0, WChaDisChaMax_SF: fitScale(ratedW, 0, 0xfffe), SoC_SF: -1, V_SF: -1, CellV_SF: -3, A_SF: -1, AMax_SF: -1, W_SF: fitScale(ratedW * 1.2, 0) });
      b.setValue('WHRtg', capacityWh);
      setMeasured(b, 'AHRtg', capacityWh / nominalV);
      b.setValue('WChaRteMax', ratedW);
      b.setValue('WDisChaRteMax', ratedW);
      b.setSymbol('Typ', 'LITHIUM_ION');
      b.setSymbol('LocRemCtl', 'REMOTE');
      b.setSymbol('State', 'CONNECTED');
      b.setSymbol('SetOp', 'CONNECT');
      b.setSymbol('SetInvState', 'INVERTER_STARTED');
      b.setRaw('AlmRst', 0);
      b.setRaw('CtrlHb', 0);
      b.setRaw('Hb', 0);
      for (const evt of ['Evt1', 'Evt2', 'EvtVnd1', 'EvtVnd2']) b.setRaw(evt, 0);
    },
    refresh(b) {
      const v = plant.batteryPackVoltageV();
      const kw = plant.batteryPowerKw();
      setMeasured(b, 'SoC', plant.batterySocFraction() * 100);
      setMeasured(b, 'V', v);
      setMeasured(b, 'W', kw * 1000);
      setMeasured(b, 'A', (kw * 1000) / v);
      setMeasured(b, 'AChaMax', (plant.batteryMaxChargeKw() * 1000) / v);
      setMeasured(b, 'ADisChaMax', (plant.batteryMaxDischargeKw() * 1000) / v);
      const cells = plant.batteryCellVoltagesV();
      if (cells.length > 0) {
        setMeasured(b, 'CellVMax', Math.max(...cells));
        setMeasured(b, 'CellVMin', Math.min(...cells));
        setMeasured(b, 'CellVAvg', cells.reduce((a, c) => a + c, 0) / cells.length);
      }
      b.setRaw('Hb', (Number(b.raw('Hb') ?? 0) + 1) % 0xffff);
      const hottestC = Math.max(...plant.batteryTemperaturesC());
      const events = [
        ...(hottestC >= TEMPERATURE_WARNING_C ? ['OVER_TEMP_WARNING'] : []),
        ...(hottestC >= TEMPERATURE_ALARM_C ? ['OVER_TEMP_ALARM'] : []),
      ];
      if (events.length > 0) b.setSymbol('Evt1', ...events);
      else b.setRaw('Evt1', 0);
      b.setSymbol('ChaSt', kw > 0 ? 'DISCHARGING' : kw < 0 ? 'CHARGING' : 'HOLDING');
    },
  };
}
