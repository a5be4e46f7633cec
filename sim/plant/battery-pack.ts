/**
 * The electrical side of a simulated LFP battery pack: the live limits a BMS would grant
 * (taper near full and empty, temperature derating) and the cell voltages it would measure
 * (open-circuit voltage from SoC, minus the IR drop under load). State (stored energy,
 * temperature) lives in the plant; these are pure functions of it.
 */

export interface BatteryParams {
  capacityKwh: number;
  /** Rated AC power limits (kW ≥ 0) before taper and derating. */
  maxChargeKw: number;
  maxDischargeKw: number;
  /** One-way efficiencies: stored += AC × ηc when charging, AC = stored drawn × ηd when discharging. */
  chargeEfficiency: number;
  dischargeEfficiency: number;
  minSocFraction: number;
  maxSocFraction: number;
  /** Width of the SoC band before each bound over which the BMS ramps its limit down to 0. */
  taperSocBand: number;
  cellsInSeries: number;
  cellResistanceOhm: number;
  temperatureSensors: number;
}

export const defaultBatteryParams: BatteryParams = {
  capacityKwh: 10,
  maxChargeKw: 5,
  maxDischargeKw: 5,
  chargeEfficiency: 0.95,
  dischargeEfficiency: 0.95,
  minSocFraction: 0.05,
  maxSocFraction: 1,
  taperSocBand: 0.1,
  cellsInSeries: 16,
  cellResistanceOhm: 0.0006,
  temperatureSensors: 4,
};

export function validateBatteryParams(p: BatteryParams): BatteryParams {
  const problems: string[] = [];
  if (!(p.capacityKwh > 0)) problems.push('capacityKwh must be > 0');
  if (!(p.maxChargeKw >= 0) || !(p.maxDischargeKw >= 0)) problems.push('power limits must be ≥ 0');
  for (const k of ['chargeEfficiency', 'dischargeEfficiency'] as const) if (!(p[k] > 0 && p[k] <= 1)) problems.push(`${k} must be in (0, 1]`);
  if (!(p.minSocFraction >= 0 && p.minSocFraction < p.maxSocFraction && p.maxSocFraction <= 1)) problems.push('need 0 ≤ minSocFraction < maxSocFraction ≤ 1');
  if (!(p.taperSocBand >= 0)) problems.push('taperSocBand must be ≥ 0');
  if (!(Number.isInteger(p.cellsInSeries) && p.cellsInSeries > 0)) problems.push('cellsInSeries must be a positive integer');
  if (problems.length > 0) throw new RangeError(`battery parameters: ${problems.join('; ')}`);
  return p;
}

/** LFP open-circuit voltage per cell against SoC: steep at both ends, a long flat plateau between. */
const OCV_CURVE: readonly [socFraction: number, voltageV: number][] = [
  [0, 2.8],
  [0.05, 3.05],
  [0.1, 3.18],
  [0.2, 3.24],
  [0.4, 3.28],
  [0.6, 3.3],
  [0.8, 3.32],
  [0.9, 3.34],
  [0.95, 3.37],
  [1, 3.5],
];

function cellOpenCircuitVoltageV(socFraction: number): number {
  const s = Math.min(1, Math.max(0, socFraction));
  for (let i = 1; i < OCV_CURVE.length; i++) {
    const [s1, v1] = OCV_CURVE[i]!;
    const [s0, v0] = OCV_CURVE[i - 1]!;
    if (s <= s1) return v0 + ((v1 - v0) * (s - s0)) / (s1 - s0);
  }
  return OCV_CURVE.at(-1)![1];
}

/** Charging stops at freezing and ramps back in by 10 °C; both directions derate above 45/50 °C. */
function temperatureFactors(temperatureC: number): { charge: number; discharge: number } {
  const ramp = (x: number, zeroAt: number, fullAt: number) => Math.min(1, Math.max(0, (x - zeroAt) / (fullAt - zeroAt)));
  return {
    charge: Math.min(ramp(temperatureC, 0, 10), ramp(temperatureC, 55, 45)),
    discharge: Math.min(ramp(temperatureC, -20, -10), ramp(temperatureC, 60, 50)),
  };
}

/** The live AC limits a BMS grants at this SoC and temperature (kW ≥ 0). */
export function liveLimitsKw(p: BatteryParams, socFraction: number, temperatureC: number): { maxChargeKw: number; maxDischargeKw: number } {
  const taper = (headroom: number) => (headroom <= 0 ? 0 : p.taperSocBand === 0 ? 1 : Math.min(1, headroom / p.taperSocBand));
  const t = temperatureFactors(temperatureC);
  return {
    maxChargeKw: p.maxChargeKw * taper(p.maxSocFraction - socFraction) * t.charge,
    maxDischargeKw: p.maxDischargeKw * taper(socFraction - p.minSocFraction) * t.discharge,
  };
}

/**
 * Cell voltages under load. Cells differ by a few millivolts (a fixed, deterministic
 * spread) so that min/max/delta readings are meaningful. `dcPowerKw` is + discharge.
 */
export function cellVoltagesV(p: BatteryParams, socFraction: number, dcPowerKw: number): number[] {
  const ocv = cellOpenCircuitVoltageV(socFraction);
  const packOcv = ocv * p.cellsInSeries;
  const currentA = (dcPowerKw * 1000) / packOcv;
  return Array.from({ length: p.cellsInSeries }, (_, i) => ocv - currentA * p.cellResistanceOhm + 0.004 * Math.sin(i * 2.3));
}

export function packVoltageV(cells: number[]): number {
  return cells.reduce((sum, v) => sum + v, 0);
}
