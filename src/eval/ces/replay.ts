/**
 * A household's planned day replayed on the measured one (docs/ces.md §3). The storage covers the
 * forecast error where it can, as the gateway's fast loop does with β = 1: the own battery first,
 * then the rented account, each within its power and energy limits; the retailer takes the rest.
 * P2P purchases are firm. An account must end the day empty: what is left in it after the last
 * hour stays with the CES, which credits the household the feed-in price for it.
 */
import type { HouseholdDayPlan } from '../../ces/household-model.ts';
import type { BatteryParams } from '../../optimizer/types.ts';

/** A battery's limits and efficiencies as the optimizer has them (its capacity does not enter the replay). */
export type Storage = Omit<BatteryParams, 'capacityKwh'>;

export interface ReplayedDay {
  /** The meter (kW, + import). */
  meteredKw: number[];
  /** Own battery net discharge (kW). */
  batteryKw: number[];
  accountChargeKw: number[];
  accountDischargeKw: number[];
  ownEndKwh: number;
  /** Energy left in the account after the last hour (kWh at the CES). */
  accountResidueKwh: number;
}

/** Net discharge the storage can give (kW, − charge) closest to `requestedKw`; updates nothing. */
function clip(s: Storage, energyKwh: number, requestedKw: number): number {
  const maxDischargeKw = Math.min(s.maxDischargeKw, Math.max(0, (energyKwh - s.minEnergyKwh) * s.dischargeEfficiency));
  const maxChargeKw = Math.min(s.maxChargeKw, Math.max(0, (s.maxEnergyKwh - energyKwh) / s.chargeEfficiency));
  return Math.min(Math.max(requestedKw, -maxChargeKw), maxDischargeKw);
}

function after(s: Storage, energyKwh: number, netDischargeKw: number): number {
  return energyKwh - (netDischargeKw > 0 ? netDischargeKw / s.dischargeEfficiency : netDischargeKw * s.chargeEfficiency);
}

export function accountStorage(rentedKwh: number, kwPerKwh: number, efficiency: number): Storage {
  return { minEnergyKwh: 0, maxEnergyKwh: rentedKwh, maxChargeKw: kwPerKwh * rentedKwh, maxDischargeKw: kwPerKwh * rentedKwh, chargeEfficiency: efficiency, dischargeEfficiency: efficiency };
}

export function replayDay(plan: HouseholdDayPlan, forecastKw: readonly number[], realisedKw: readonly number[], own: { storage: Storage; startKwh: number } | undefined, account: Storage | undefined): ReplayedDay {
  let ownKwh = own?.startKwh ?? 0;
  let accountKwh = 0;
  const out: ReplayedDay = { meteredKw: [], batteryKw: [], accountChargeKw: [], accountDischargeKw: [], ownEndKwh: 0, accountResidueKwh: 0 };
  for (let t = 0; t < realisedKw.length; t++) {
    let errorKw = realisedKw[t]! - forecastKw[t]!;
    let batteryKw = 0;
    if (own) {
      const planned = plan.dischargeKw[t]! - plan.chargeKw[t]!;
      batteryKw = clip(own.storage, ownKwh, planned + errorKw);
      errorKw -= batteryKw - planned;
      ownKwh = after(own.storage, ownKwh, batteryKw);
    }
    let withdrawKw = 0;
    if (account) {
      const planned = plan.accountDischargeKw[t]! - plan.accountChargeKw[t]!;
      // Never more into the account than planned: an unplanned surplus would mostly come back as a
      // residue (bought back at the feed-in price after two conversions and the fees).
      withdrawKw = clip(account, accountKwh, Math.max(planned + errorKw, Math.min(planned, 0)));
      errorKw -= withdrawKw - planned;
      accountKwh = after(account, accountKwh, withdrawKw);
    }
    out.batteryKw.push(batteryKw);
    out.accountChargeKw.push(Math.max(0, -withdrawKw));
    out.accountDischargeKw.push(Math.max(0, withdrawKw));
    out.meteredKw.push(realisedKw[t]! - batteryKw);
  }
  out.ownEndKwh = ownKwh;
  out.accountResidueKwh = accountKwh;
  return out;
}
