/**
 * What the simulated devices see of the physical world. The plant (physics: replayed PV and
 * load, battery integration, meter balance) implements it; the simulated SunSpec inverter,
 * meter and storage, the serial BMS and the relay boards read and command it. Devices own
 * their firmware behaviour (revert timeouts, register maps); the plant owns the physics.
 * Every call first brings the plant up to the simulation clock's "now", so values are
 * consistent at every instant: meter = load − PV − battery discharge (+ charge).
 */
export interface PlantView {
  /** PV AC output after any active-power limit (kW ≥ 0). */
  pvAcPowerKw(): number;
  pvRatedPowerKw(): number;
  /** Lifetime PV AC energy counter (kWh). */
  pvEnergyKwh(): number;
  /** Active-power limit as a fraction of rated power; null = unlimited. */
  setPvLimitFraction(fraction: number | null): void;

  /** Net import at the grid connection point (kW, + import, − export). */
  meterNetImportKw(): number;
  meterImportedEnergyKwh(): number;
  meterExportedEnergyKwh(): number;
  gridVoltageV(): number;
  gridFrequencyHz(): number;

  /** Battery AC power actually flowing (kW, + discharge, − charge), after limits. */
  batteryPowerKw(): number;
  batteryEnergyKwh(): number;
  batteryCapacityKwh(): number;
  batterySocFraction(): number;
  /** Live limits the BMS allows now (kW ≥ 0): taper near full / empty, derate when hot. */
  batteryMaxChargeKw(): number;
  batteryMaxDischargeKw(): number;
  batteryPackVoltageV(): number;
  batteryCellVoltagesV(): number[];
  batteryTemperaturesC(): number[];
  /** Commanded power (kW, + discharge); the plant clips it to the live limits. */
  setBatterySetpointKw(powerKw: number): void;

  /** Shiftable loads by relay channel: switching one on adds its rated power to the load (an appliance with requests: only while it has a job). */
  relayOn(channel: number): boolean;
  setRelay(channel: number, on: boolean): void;
}
