/**
 * One `PvInverter` from several (an east and a west roof, a second inverter added later): the
 * PV the optimizer and the fast loop see is the sum. A limit is sent to every inverter as the
 * same fraction of its own rating, so the total is that fraction of the summed rating. While
 * any inverter does not answer, the sum reads as unavailable with that inverter's error: a
 * partial sum would be a wrong number, not a reading.
 */
import type { DeviceHealth, PvInverter, PvState, PvValues, Reading } from '../devices/capabilities.ts';
import { mergeHealth } from './combined-battery.ts';
import { asOwnError } from '../../drivers/reading.ts';

/** When the inverters disagree, the state that most needs attention speaks for the sum. */
const STATE_PRIORITY: readonly PvState[] = ['fault', 'throttled', 'producing', 'starting', 'shutting-down', 'standby', 'sleeping', 'off', 'unknown'];

export function combinePvInverters(inverters: readonly PvInverter[]): PvInverter {
  const ratedPowerKw = inverters.reduce((sum, pv) => sum + pv.ratedPowerKw, 0);
  return {
    id: inverters.map((pv) => pv.id).join('+'),
    ratedPowerKw,
    async read(): Promise<Reading<PvValues>> {
      const readings = await Promise.all(inverters.map((pv) => pv.read()));
      const failedAt = readings.findIndex((r) => !r.ok);
      const failed = readings[failedAt];
      // Named after the inverter, not the bus: the installer must know which roof is out.
      if (failed && !failed.ok) return { ok: false, error: asOwnError(failed.error, inverters[failedAt]!.id), atMs: failed.atMs };
      const values = readings.map((r) => (r as Extract<Reading<PvValues>, { ok: true }>).value);
      const sum: PvValues = {
        acPowerKw: values.reduce((s, v) => s + v.acPowerKw, 0),
        state: STATE_PRIORITY.find((state) => values.some((v) => v.state === state)) ?? 'unknown',
      };
      if (values.every((v) => v.energyKwh !== undefined)) sum.energyKwh = values.reduce((s, v) => s + v.energyKwh!, 0);
      if (values.some((v) => v.activePowerLimitFraction !== undefined)) {
        // The limit of the sum: each inverter's limit weighted by its rating (no limit = 1).
        sum.activePowerLimitFraction = values.reduce((s, v, i) => s + (v.activePowerLimitFraction ?? 1) * inverters[i]!.ratedPowerKw, 0) / ratedPowerKw;
      }
      return { ok: true, value: sum, atMs: Math.max(...readings.map((r) => r.atMs)) };
    },
    async setActivePowerLimit(fraction: number, revertAfterMs: number): Promise<void> {
      // Every inverter is tried, so one that fails does not leave the others unlimited.
      const results = await Promise.allSettled(inverters.map((pv) => pv.setActivePowerLimit(fraction, revertAfterMs)));
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
    health: (): DeviceHealth => inverters.map((pv) => pv.health()).reduce(mergeHealth),
    async close() {
      await Promise.allSettled(inverters.map((pv) => pv.close()));
    },
  };
}
