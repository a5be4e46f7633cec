/**
 * One `Battery` from several (a second storage inverter added later, two packs on two inverters):
 * the optimizer and the fast loop see one pool whose capacity, energy, power and limits are the
 * sums. A setpoint is split in proportion to each battery's live limit in its direction, so every
 * battery reaches its limit at the same moment and no share exceeds what its own BMS allows.
 * While any battery does not answer, the pool reads as unavailable with that battery's error, and
 * a setpoint commands every battery to 0 kW and fails: half a pool running on a plan made for the
 * whole one would be a wrong command, not a smaller one.
 */
import type { Battery, BatteryValues, DeviceHealth, Reading } from '../devices/capabilities.ts';
import { asOwnError } from '../../drivers/reading.ts';
import { mergeHealth } from './combined-battery.ts';

export function poolBatteries(batteries: readonly Battery[]): Battery {
  /** The latest reading of all of them: the fast loop reads before it commands, so the split uses fresh limits. */
  let last: Reading<BatteryValues[]> | undefined;

  const readAll = async (): Promise<Reading<BatteryValues[]>> => {
    last = await readEach();
    return last;
  };
  const readEach = async (): Promise<Reading<BatteryValues[]>> => {
    const readings = await Promise.all(batteries.map((b) => b.read()));
    const failedAt = readings.findIndex((r) => !r.ok);
    const failed = readings[failedAt];
    // Named after the battery, not the bus: the installer must know which one is out.
    if (failed && !failed.ok) return { ok: false, error: asOwnError(failed.error, batteries[failedAt]!.id), atMs: failed.atMs };
    const values = readings.map((r) => (r as Extract<Reading<BatteryValues>, { ok: true }>).value);
    return { ok: true, value: values, atMs: Math.max(...readings.map((r) => r.atMs)) };
  };

  /** Every battery to 0 kW with the revert time; the first failure is what the caller hears. */
  const stopAll = async (revertAfterMs: number) => {
    await Promise.allSettled(batteries.map((b) => b.setPowerSetpoint(0, revertAfterMs)));
  };

  return {
    id: batteries.map((b) => b.id).join('+'),
    get capacityKwh() {
      return batteries.reduce((sum, b) => sum + b.capacityKwh, 0);
    },
    async read(): Promise<Reading<BatteryValues>> {
      const all = await readAll();
      if (!all.ok) return all;
      const values = all.value;
      const capacityKwh = batteries.reduce((sum, b) => sum + b.capacityKwh, 0);
      const energyKwh = values.reduce((sum, v, i) => sum + (v.energyKwh ?? v.socFraction * batteries[i]!.capacityKwh), 0);
      return {
        ok: true,
        atMs: all.atMs,
        value: {
          socFraction: energyKwh / capacityKwh,
          capacityKwh,
          energyKwh,
          powerKw: values.reduce((sum, v) => sum + v.powerKw, 0),
          maxChargeKw: values.reduce((sum, v) => sum + v.maxChargeKw, 0),
          maxDischargeKw: values.reduce((sum, v) => sum + v.maxDischargeKw, 0),
          alarms: [...new Set(values.flatMap((v, i) => v.alarms.map((a) => `${batteries[i]!.id}: ${a}`)))],
        },
      };
    },
    async setPowerSetpoint(powerKw: number, revertAfterMs: number): Promise<void> {
      // The split needs every battery's live limits: read them unless the last read has them.
      const known = last ?? (await readAll());
      if (!known.ok) {
        await stopAll(revertAfterMs);
        throw known.error;
      }
      const limits = known.value.map((v) => (powerKw >= 0 ? v.maxDischargeKw : v.maxChargeKw));
      const totalKw = limits.reduce((a, b) => a + b, 0);
      const shares = limits.map((limit) => (totalKw > 0 ? (powerKw * limit) / totalKw : 0));
      const results = await Promise.allSettled(batteries.map((b, i) => b.setPowerSetpoint(shares[i]!, revertAfterMs)));
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) {
        await stopAll(revertAfterMs);
        throw failed.reason;
      }
    },
    health: (): DeviceHealth => batteries.map((b) => b.health()).reduce(mergeHealth),
    async close() {
      await Promise.allSettled(batteries.map((b) => b.close()));
    },
  };
}
