import { describe, expect, it } from 'vitest';
import { selfConsumptionSetpointKw, surplusRelayOn } from '../../src/demo/self-consumption.ts';

describe('the demo’s self-consumption rule', () => {
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

  it('switches a surplus load on only when the export exceeds its rating, and off as soon as the house imports', () => {
    expect(surplusRelayOn(false, -1.9, 2)).toBe(false);
    expect(surplusRelayOn(false, -2.1, 2)).toBe(true);
    expect(surplusRelayOn(true, -0.1, 2)).toBe(true);
    expect(surplusRelayOn(true, 0.1, 2)).toBe(false);
  });
});
