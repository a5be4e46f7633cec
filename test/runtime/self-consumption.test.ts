import { describe, expect, it } from 'vitest';
import { selfConsumptionSetpointKw } from '../../src/runtime/self-consumption.ts';

describe('the safe state’s self-consumption rule', () => {
  const limits = { maxChargeKw: 3, maxDischargeKw: 4 };

  it('covers the import from the battery, on top of what the battery already delivers', () => {
    expect(selfConsumptionSetpointKw({ netImportKw: 1.5, batteryPowerKw: 0.5, ...limits })).toBeCloseTo(2, 12);
    // Already balanced: keep the power as it is.
    expect(selfConsumptionSetpointKw({ netImportKw: 0, batteryPowerKw: 1.2, ...limits })).toBeCloseTo(1.2, 12);
  });

  it('stores an export, and clips both directions to the live limits', () => {
    expect(selfConsumptionSetpointKw({ netImportKw: -2, batteryPowerKw: 0, ...limits })).toBeCloseTo(-2, 12);
    expect(selfConsumptionSetpointKw({ netImportKw: -6, batteryPowerKw: -1, ...limits })).toBe(-3);
    expect(selfConsumptionSetpointKw({ netImportKw: 9, batteryPowerKw: 0, ...limits })).toBe(4);
    expect(selfConsumptionSetpointKw({ netImportKw: 9, batteryPowerKw: 0, maxChargeKw: 0, maxDischargeKw: 0 })).toBe(0);
  });

});
