/**
 * A Pylontech-protocol BMS (US2000/US3000/Force and the many packs that speak the same
 * RS-485 protocol) as a `Bms`: each read asks for analog values (0x42), alarm info (0x44)
 * and charge/discharge management info (0x92) and combines them.
 */
import type { Bms, BmsValues } from '../../src/devices/bms.ts';
import type { DeviceHealth, Reading } from '../../src/devices/capabilities.ts';
import { DeviceError } from '../../src/devices/errors.ts';
import { systemClock, type Clock } from '../../src/time/clock.ts';
import { FrameError } from './pylontech-frame.ts';
import { Command, decodeAlarmInfo, decodeAnalogValues, decodeChargeManagement, protectionNames } from './pylontech-info.ts';
import { PylontechLink } from './pylontech-link.ts';
import { DeviceHealthTracker, type BackoffOptions } from '../device-health.ts';
import { readingOf } from '../reading.ts';

export interface PylontechBmsOptions {
  id: string;
  path: string;
  baudRate?: number;
  /** Pack address (ADR) set on the battery's DIP switches. */
  address?: number;
  timeoutMs?: number;
  clock?: Clock;
  backoff?: BackoffOptions;
}

export function createPylontechBms(options: PylontechBmsOptions): Bms {
  const clock = options.clock ?? systemClock;
  const address = options.address ?? 2;
  const link = new PylontechLink(options.id, { path: options.path, baudRate: options.baudRate ?? 9600, timeoutMs: options.timeoutMs ?? 1_000 });
  const tracker = new DeviceHealthTracker(options.id, clock, options.backoff);

  const decode = <T>(what: (info: Uint8Array) => T, info: Uint8Array): T => {
    try {
      return what(info);
    } catch (e) {
      if (e instanceof FrameError) throw new DeviceError(e.kind, options.id, e.message);
      throw e;
    }
  };
  // The request INFO is the pack address (the "command value").
  const ask = async <T>(cid2: number, what: (info: Uint8Array) => T): Promise<T> => decode(what, await link.request(address, cid2, Uint8Array.of(address)));

  const readOnce = async (): Promise<BmsValues> => {
    const analog = await ask(Command.AnalogValues, decodeAnalogValues);
    const alarms = await ask(Command.AlarmInfo, decodeAlarmInfo);
    const limits = await ask(Command.ChargeManagement, decodeChargeManagement);
    if (!(analog.totalAh > 0)) throw new DeviceError('garbage', options.id, `full capacity reads ${analog.totalAh} Ah; cannot derive SoC`);
    const packVoltageV = analog.voltageV;
    return {
      socFraction: Math.min(1, analog.remainingAh / analog.totalAh),
      packVoltageV,
      packCurrentA: -analog.currentA, // the protocol counts charging as +, the gateway discharging
      cellVoltagesV: analog.cellVoltagesV,
      temperaturesC: analog.temperaturesC,
      protections: protectionNames(alarms),
      maxChargeKw: limits.chargeEnabled ? (Math.abs(limits.chargeCurrentLimitA) * packVoltageV) / 1000 : 0,
      maxDischargeKw: limits.dischargeEnabled ? (Math.abs(limits.dischargeCurrentLimitA) * packVoltageV) / 1000 : 0,
      remainingCapacityAh: analog.remainingAh,
      fullCapacityAh: analog.totalAh,
    };
  };

  return {
    id: options.id,
    read: (): Promise<Reading<BmsValues>> => readingOf(clock, options.id, () => tracker.run(readOnce)),
    health: (): DeviceHealth => tracker.health(),
    close: () => link.close(),
  };
}
