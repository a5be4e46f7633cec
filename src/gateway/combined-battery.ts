/**
 * One `Battery` from a storage inverter and the BMS of its pack. The BMS knows the cells, so
 * SoC and the live charge/discharge limits come from it; power flows and setpoints go through
 * the inverter, clipped to the BMS's limits. While the BMS does not answer, the battery reads
 * as unavailable and a setpoint commands 0 kW and fails with the BMS's error: running a pack
 * nobody supervises is what a BMS exists to prevent.
 */
import type { Bms, BmsValues } from '../devices/bms.ts';
import type { Battery, BatteryValues, DeviceHealth, Reading } from '../devices/capabilities.ts';
import type { Clock } from '../time/clock.ts';

export interface CombinedBatteryOptions {
  id: string;
  inverter: Battery;
  bms: Bms;
  clock: Clock;
  /** A BMS reading older than this (gateway clock) is refreshed before a setpoint goes out. */
  maxBmsAgeMs?: number;
}

export function combineBattery(options: CombinedBatteryOptions): Battery {
  const { inverter, bms, clock } = options;
  const maxBmsAgeMs = options.maxBmsAgeMs ?? 60_000;
  let lastBms: Reading<BmsValues> | undefined;

  /** The BMS's latest reading, read afresh when the last one is too old to go by. */
  const currentBms = async (): Promise<Reading<BmsValues>> => {
    if (!lastBms || clock.nowMs() - lastBms.atMs > maxBmsAgeMs) lastBms = await bms.read();
    return lastBms;
  };

  return {
    id: options.id,
    get capacityKwh() {
      return inverter.capacityKwh;
    },
    async read(): Promise<Reading<BatteryValues>> {
      const [inv, pack] = await Promise.all([inverter.read(), bms.read()]);
      lastBms = pack;
      if (!pack.ok) return pack;
      if (!inv.ok) return inv;
      const b = pack.value;
      const { capacityKwh } = inverter; // the installation's, from the board profile
      return {
        ok: true,
        atMs: Math.max(inv.atMs, pack.atMs),
        value: {
          socFraction: b.socFraction,
          capacityKwh,
          energyKwh: b.socFraction * capacityKwh,
          powerKw: inv.value.powerKw,
          // The inverter's own rating can be the tighter bound (e.g. a small inverter on a big pack).
          maxChargeKw: Math.min(b.maxChargeKw, inv.value.maxChargeKw),
          maxDischargeKw: Math.min(b.maxDischargeKw, inv.value.maxDischargeKw),
          alarms: [...new Set([...inv.value.alarms, ...b.protections])],
        },
      };
    },
    async setPowerSetpoint(powerKw: number, revertAfterMs: number): Promise<void> {
      const pack = await currentBms();
      if (!pack.ok) {
        await inverter.setPowerSetpoint(0, revertAfterMs);
        throw pack.error;
      }
      const { maxChargeKw, maxDischargeKw } = pack.value;
      await inverter.setPowerSetpoint(Math.min(maxDischargeKw, Math.max(-maxChargeKw, powerKw)), revertAfterMs);
    },
    health: (): DeviceHealth => mergeHealth(inverter.health(), bms.health()),
    async close() {
      await Promise.allSettled([inverter.close(), bms.close()]);
    },
  };
}

/** Health of a device made of two: failures counted together, the worse state wins. */
export function mergeHealth(a: DeviceHealth, b: DeviceHealth): DeviceHealth {
  const errorCounts: DeviceHealth['errorCounts'] = { ...a.errorCounts };
  for (const [kind, n] of Object.entries(b.errorCounts) as [keyof DeviceHealth['errorCounts'], number][]) errorCounts[kind] = (errorCounts[kind] ?? 0) + n;
  const lastError = b.lastError ?? a.lastError;
  const backoffUntilMs = Math.max(a.backoffUntilMs ?? -Infinity, b.backoffUntilMs ?? -Infinity);
  return {
    consecutiveFailures: Math.max(a.consecutiveFailures, b.consecutiveFailures),
    errorCounts,
    ...(lastError ? { lastError } : {}),
    ...(Number.isFinite(backoffUntilMs) ? { backoffUntilMs } : {}),
  };
}
