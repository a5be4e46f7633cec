/**
 * The device capabilities the rest of the system sees. Drivers implement them; the control
 * loops, the optimizer's measurements and the telemetry use only these. Units are in every
 * name. A device that is not answering reads as unavailable, never as a stale number or 0.
 */
import type { DeviceError } from './errors.ts';

/** A reading is either a value measured at `atMs` (the gateway clock) or the reason it is missing. */
export type Reading<T> = { ok: true; value: T; atMs: number } | { ok: false; error: DeviceError; atMs: number };

export interface DeviceHealth {
  /** Consecutive failed operations; 0 while the device answers. */
  consecutiveFailures: number;
  /** Failed operations since start, by kind. */
  errorCounts: Partial<Record<DeviceError['kind'], number>>;
  lastError?: DeviceError;
  /** Gateway-clock instant before which the driver will not try the device again. */
  backoffUntilMs?: number;
}

export interface Device {
  /** A stable name from the configuration, e.g. "meter" or "battery". */
  readonly id: string;
  health(): DeviceHealth;
  close(): Promise<void>;
}

export interface MeterValues {
  /** Net active power at the grid connection point: + import, − export. */
  netImportKw: number;
  importedEnergyKwh?: number;
  exportedEnergyKwh?: number;
}
export interface GridMeter extends Device {
  read(): Promise<Reading<MeterValues>>;
}

export type PvState = 'off' | 'sleeping' | 'starting' | 'producing' | 'throttled' | 'shutting-down' | 'fault' | 'standby' | 'unknown';
export interface PvValues {
  acPowerKw: number;
  energyKwh?: number;
  state: PvState;
  /** The active-power limit in force, as a fraction of rated power (1 = unlimited). */
  activePowerLimitFraction?: number;
}
export interface PvInverter extends Device {
  readonly ratedPowerKw: number;
  read(): Promise<Reading<PvValues>>;
  /**
   * Limits active power to `fraction` of rated power. The device reverts to unlimited after
   * `revertAfterMs` unless the limit is refreshed; the driver refreshes at most every
   * half-timeout while the limit stays the same.
   */
  setActivePowerLimit(fraction: number, revertAfterMs: number): Promise<void>;
}

export interface BatteryValues {
  socFraction: number;
  /** Energy stored now, when the device reports capacity. */
  energyKwh?: number;
  capacityKwh?: number;
  /** Battery power at the AC side: + discharge, − charge. */
  powerKw: number;
  /** Live limits from the BMS, both ≥ 0. */
  maxChargeKw: number;
  maxDischargeKw: number;
  /** Active alarm names, empty when none. */
  alarms: string[];
}
export interface Battery extends Device {
  readonly capacityKwh: number;
  read(): Promise<Reading<BatteryValues>>;
  /**
   * Commands net power (+ discharge, − charge). The device falls back to 0 kW after
   * `revertAfterMs` unless refreshed; the driver refreshes at most every half-timeout,
   * reads each write back and re-writes on mismatch.
   */
  setPowerSetpoint(powerKw: number, revertAfterMs: number): Promise<void>;
}

export interface RelayValues {
  on: boolean;
}
export interface LoadRelay extends Device {
  readonly ratedPowerKw: number;
  read(): Promise<Reading<RelayValues>>;
  switch(on: boolean): Promise<void>;
}
