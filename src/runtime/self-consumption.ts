/**
 * The safe state's battery rule (formulation §6, docs/safety.md): cover the house's net import
 * from the battery and store any export, within the live limits the BMS grants.
 */

export interface SelfConsumptionInput {
  /** Meter now: + import, − export. */
  netImportKw: number;
  /** Battery now: + discharge, − charge. */
  batteryPowerKw: number;
  maxChargeKw: number;
  maxDischargeKw: number;
}

/** The battery power that would bring the meter to 0 kW, clipped to the live limits (+ discharge). */
export function selfConsumptionSetpointKw(input: SelfConsumptionInput): number {
  // The meter already includes the battery's current contribution, so the target is relative to it.
  const wantedKw = input.batteryPowerKw + input.netImportKw;
  return Math.min(input.maxDischargeKw, Math.max(-input.maxChargeKw, wantedKw));
}
