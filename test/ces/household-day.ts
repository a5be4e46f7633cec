/** An 8-hour household day for the rental tests: PV surplus around noon (hours 2–3), the evening load after it (hours 5–6). */
import type { HouseholdDayInput } from '../../src/ces/household-model.ts';

export const T = 8;

export const householdDay = (scale: number, feedInEurPerKwh = 0.08): HouseholdDayInput => ({
  netLoadKw: [0.5, 0.5, -3, -3, 0.5, 2, 2, 0.5].map((v) => v * scale),
  buyEurPerKwh: new Array(T).fill(0.25),
  sellEurPerKwh: new Array(T).fill(feedInEurPerKwh),
  demandChargeEurPerKwDay: 0.5,
  gridKw: 11,
  p2pFees: { localGridFeeEurPerKwh: 0.09, vatFactor: 1.19 },
});
