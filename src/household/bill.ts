/**
 * The metered bill (../shared/docs/evaluation.md, "Additions"): what a household on the dynamic
 * tariff pays — metered import × c^buy − metered export × c^sell, its daily demand charge, battery
 * wear, and its share of the community's coincident-peak charge. Unlike the settlement cost, no
 * real-time penalty: a household that commits no schedule is billed on its meter alone.
 *
 * The community sits behind one connection point, so its import in an hour is the netted
 * max(Σ_n G_n, 0): a neighbour's export serves another's import before the transformer sees it.
 * The community charge π^C × (daily peak of that import) is split by coincident import: each
 * household pays in proportion to its own import in the hour of the community's peak
 * (docs/community-coordination.md says why this rule and what it guarantees).
 */
import { tariffParams } from '../data/tariff.ts';

export interface BillBreakdown {
  energy: number;
  demandCharge: number;
  communityCharge: number;
  /** The community's no-loss transfer (paid, or received when negative), settled on realised bills: noLossTransfers. */
  communityTransfer: number;
  batteryWear: number;
  p2p: number;
  /** The stored-energy adjustment of metrics.ts (same value as in the settlement cost). */
  storedEnergy: number;
  total: number;
}

export function emptyBill(): BillBreakdown {
  return { energy: 0, demandCharge: 0, communityCharge: 0, communityTransfer: 0, batteryWear: 0, p2p: 0, storedEnergy: 0, total: 0 };
}

export function addBill(into: BillBreakdown, add: BillBreakdown): void {
  for (const key of Object.keys(into) as (keyof BillBreakdown)[]) into[key] += add[key];
}

/** One metered hour: Δt = 1 h, so kW = kWh. */
export interface MeteredHour {
  /** The meter's exchange (kW, + import): the demand charge and the community's import see this. */
  gridKw: number;
  /** Energy bought from peers this hour (kW, − sold): it crosses the meter but is paid to the peer, not the retailer. */
  tradeKw?: number;
  batteryKw: number;
  buyEurPerKwh: number;
  sellEurPerKwh: number;
}

/** A household's bill for one day, without its community-charge share (that needs the other households). */
export function dayBill(hours: readonly MeteredHour[], batteryWearEurPerKw2h: number, demandChargeEurPerKwDay = tariffParams.demandChargeEurPerKwDay): BillBreakdown {
  const bill = emptyBill();
  for (const h of hours) {
    const retailerKw = h.gridKw - (h.tradeKw ?? 0);
    bill.energy += h.buyEurPerKwh * Math.max(retailerKw, 0) - h.sellEurPerKwh * Math.max(-retailerKw, 0);
    bill.batteryWear += batteryWearEurPerKw2h * h.batteryKw ** 2;
  }
  bill.demandCharge = demandChargeEurPerKwDay * Math.max(0, ...hours.map((h) => h.gridKw));
  bill.total = bill.energy + bill.batteryWear + bill.demandCharge;
  return bill;
}

/** The community's import at its connection point, hour by hour: max(Σ_n G_n, 0). */
export function communityImportKw(householdGridKw: readonly (readonly number[])[]): number[] {
  const hours = householdGridKw[0]?.length ?? 0;
  return Array.from({ length: hours }, (_, t) => Math.max(0, householdGridKw.reduce((sum, g) => sum + g[t]!, 0)));
}

/**
 * One day's community charge and each household's share (EUR): π^C × the day's peak of the
 * community import, split by each household's import in the first hour of that peak. When nobody
 * imports in the peak hour (it cannot happen with a positive peak) the charge is split equally.
 */
export function communityChargeShares(dayGridKw: readonly (readonly number[])[], chargeEurPerKwDay: number): { peakKw: number; chargeEur: number; sharesEur: number[] } {
  const community = communityImportKw(dayGridKw);
  const peakKw = Math.max(0, ...community);
  const chargeEur = chargeEurPerKwDay * peakKw;
  if (chargeEur === 0) return { peakKw, chargeEur, sharesEur: dayGridKw.map(() => 0) };
  const peakHour = community.indexOf(peakKw);
  const imports = dayGridKw.map((g) => Math.max(g[peakHour]!, 0));
  const totalKw = imports.reduce((a, b) => a + b, 0);
  const sharesEur = imports.map((kw) => (totalKw > 0 ? (chargeEur * kw) / totalKw : chargeEur / dayGridKw.length));
  return { peakKw, chargeEur, sharesEur };
}

/** A member's running no-loss account: its settled days' bills alone and with the community, and the transfers it booked (EUR). */
export interface NoLossAccount {
  aloneEur: number;
  withCommunityEur: number;
  /** Paid (negative: received). */
  transferEur: number;
}

export function emptyNoLossAccount(): NoLossAccount {
  return { aloneEur: 0, withCommunityEur: 0, transferEur: 0 };
}

/**
 * The day's no-loss transfers (EUR, paid; negative: received), summing to zero, settled on the
 * members' running accounts (docs/community-coordination.md, "Who pays what"). With each member's
 * account so far plus the day (A_n and C_n its bills alone and with the community, realised; t_n
 * the transfers it booked), the members' saving beyond what they already moved is
 * S = Σ(A_n − C_n) − Σ t_n, and member n pays A_n − C_n − t_n − S/N: its bill with the community,
 * transfers included, becomes its bill alone over all its settled days less an equal share of the
 * saving. A day one household lost is made up on the days after, not only the day the community
 * gained. While the saving is negative nobody pays anybody: sharing a loss would make a household
 * that did better than alone pay above its own meter, and the gateways refuse exactly that (a member
 * that misreports its account could otherwise make the others pay), so the evaluation settles what
 * the gateways can enforce. With empty accounts this is the single day's split.
 */
export function noLossTransfers(accounts: readonly NoLossAccount[], aloneEur: readonly number[], communityEur: readonly number[]): number[] {
  const savingEur = unsharedSavingEur(accounts, aloneEur, communityEur);
  if (savingEur < 0) return communityEur.map(() => 0);
  return accounts.map((a, n) => a.aloneEur + aloneEur[n]! - a.withCommunityEur - communityEur[n]! - a.transferEur - savingEur / accounts.length);
}

/** S of noLossTransfers: the members' saving over their accounts and the day, less what they already moved (EUR). */
export function unsharedSavingEur(accounts: readonly NoLossAccount[], aloneEur: readonly number[], communityEur: readonly number[]): number {
  return accounts.reduce((sum, a, n) => sum + a.aloneEur + aloneEur[n]! - a.withCommunityEur - communityEur[n]! - a.transferEur, 0);
}

/** The account after a settled day: the transfer counts only when the day was booked. */
export function settledAccount(account: NoLossAccount, aloneEur: number, communityEur: number, bookedTransferEur: number): NoLossAccount {
  return { aloneEur: account.aloneEur + aloneEur, withCommunityEur: account.withCommunityEur + communityEur, transferEur: account.transferEur + bookedTransferEur };
}
