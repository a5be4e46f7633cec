/**
 * One channel of a Modbus RTU relay board (Waveshare Modbus RTU Relay, the "R4D3B16"-style
 * boards and their kin): channel n is coil n, read with FC 1 and switched with FC 5
 * (0xFF00 = closed). Retries, back-off and health live in the bus, per unit id.
 */
import type { DeviceHealth, LoadRelay, Reading, RelayValues } from '../../src/devices/capabilities.ts';
import { DeviceError } from '../../src/devices/errors.ts';
import { systemClock, type Clock } from '../../src/time/clock.ts';
import type { ModbusBus } from '../modbus/bus.ts';
import { asOwnError, readingOf } from '../reading.ts';

export interface ModbusRelayOptions {
  id: string;
  bus: ModbusBus;
  unitId: number;
  coil: number;
  ratedPowerKw: number;
  clock?: Clock;
}

export function createModbusRelay(options: ModbusRelayOptions): LoadRelay {
  const { id, bus, unitId, coil } = options;
  const clock = options.clock ?? systemClock;
  const readCoil = async () => {
    const [on] = await bus.readCoils(unitId, coil, 1);
    if (on === undefined) throw new DeviceError('garbage', id, `unit ${unitId} answered no coil ${coil}`);
    return on;
  };

  return {
    id,
    ratedPowerKw: options.ratedPowerKw,
    read: (): Promise<Reading<RelayValues>> =>
      readingOf(clock, id, async () => {
        try {
          return { on: await readCoil() };
        } catch (e) {
          throw asOwnError(e, id);
        }
      }),
    async switch(on: boolean): Promise<void> {
      try {
        await bus.writeCoil(unitId, coil, on);
        const now = await readCoil();
        if (now !== on) throw new DeviceError('mismatch', id, `coil ${coil} of unit ${unitId} reads ${now ? 'on' : 'off'} after switching ${on ? 'on' : 'off'}`);
      } catch (e) {
        throw asOwnError(e, id);
      }
    },
    health: (): DeviceHealth => bus.health(unitId),
    // The bus is shared with other units; whoever opened it closes it.
    close: async () => undefined,
  };
}
