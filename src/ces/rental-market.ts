/**
 * One day's coordination between the CES and the households (docs/ces.md §2): a price iteration on
 * the rental price. Each round the CES announces a price π (EUR per rented kWh and day, the power
 * coming with it); every household answers with the kWh it would rent at π (its own plan with K as a
 * decision) and the P2P energy it would buy; the CES answers with the kWh it would rather rent out
 * than use itself at π (its own schedule with K as a decision). Demand falls and supply rises with π
 * (both are parametric LPs in a cost coefficient), so bisection finds the lowest price at which the
 * CES can serve every booking. The households' bookings at that price are final; the CES then
 * schedules with them fixed — the accounts' energy and the P2P sales in its physical battery.
 * Only K, the account and P2P schedules and π cross between the parties; loads, forecasts and the
 * CES's price scenarios stay private.
 */
import { scheduleCes, type CesSchedule } from './ces-model.ts';
import { planHouseholdDay, type CesOffer, type HouseholdDayInput, type HouseholdDayPlan } from './household-model.ts';
import { oneWayEfficiency, type CesSettings } from './settings.ts';
import type { CesSolver } from './solve.ts';

export interface ClearingOptions {
  settings: CesSettings;
  priceScenariosEurPerKwh: number[][];
  /** The households' day inputs without a CES offer (the offer is built here). */
  households: readonly HouseholdDayInput[];
  /** Fees a household pays per kWh through its account (throughput, to the CES) and out of it (grid fee). */
  throughputFeeEurPerKwh: number;
  withdrawalFeeEurPerKwh: number;
  /** The buyer's local grid fee on P2P energy (EUR/kWh) and the VAT factor on what it pays. */
  p2pBuyerFeeEurPerKwh: number;
  vatFactor: number;
  rental: boolean;
  p2p: boolean;
  /** Stop when the price bracket is this narrow (EUR per kWh·day). */
  toleranceEurPerKwhDay?: number;
  /** Highest rental price tried; nobody rents above it (EUR per kWh·day). */
  maxPriceEurPerKwhDay?: number;
  solvers: { ces: CesSolver; households: readonly CesSolver[] };
}

export interface RentalClearing {
  priceEurPerKwhDay: number;
  /** The CES's P2P price of each hour (EUR/kWh, before the buyer's fee and VAT). */
  p2pPriceEurPerKwh: number[];
  plans: HouseholdDayPlan[];
  ces: CesSchedule;
  /** Each round's price, the households' bookings and the CES's supply (kWh). */
  rounds: { priceEurPerKwhDay: number; demandKwh: number; supplyKwh: number }[];
}

/**
 * Where renting out a kWh leaves the CES's profit unchanged (its own part idle) the LP may answer any
 * amount; a hair of price makes the answer the most it is willing to rent, so supply is monotone.
 */
const supplyTieBreakEurPerKwhDay = 1e-6;

const sum = (series: readonly number[]) => series.reduce((a, v) => a + v, 0);
const sumBy = (plans: readonly HouseholdDayPlan[], pick: (p: HouseholdDayPlan) => number[]) =>
  pick(plans[0]!).map((_, t) => plans.reduce((total, p) => total + pick(p)[t]!, 0));

export async function clearRentalDay(options: ClearingOptions): Promise<RentalClearing> {
  const { settings, households, solvers } = options;
  if (households.length === 0) throw new RangeError('rental clearing: no households');
  if (solvers.households.length !== households.length) throw new RangeError('rental clearing: one solver per household');
  const tolerance = options.toleranceEurPerKwhDay ?? 1e-3;
  const maxPrice = options.maxPriceEurPerKwhDay ?? 0.5;
  const T = options.priceScenariosEurPerKwh[0]?.length ?? 0;
  const S = options.priceScenariosEurPerKwh.length;
  const p2pPrice = Array.from({ length: T }, (_, t) => options.priceScenariosEurPerKwh.reduce((total, p) => total + p[t]!, 0) / S + settings.p2pMarkupEurPerKwh);
  const p2pOffer = { buyerPriceEurPerKwh: p2pPrice.map((p) => (p + options.p2pBuyerFeeEurPerKwh) * options.vatFactor), maxKw: settings.p2pMaxKwPerHousehold };
  const p2pSales = (plans: readonly HouseholdDayPlan[]) => ({ salesKw: sumBy(plans, (p) => p.p2pKw), priceEurPerKwh: p2pPrice });
  const offer = (price: number): CesOffer => ({
    ...(options.rental
      ? { rent: { priceEurPerKwhDay: price, maxKwh: settings.capacityKwh - settings.minEnergyKwh, kwPerKwh: settings.rentalKwPerKwh, efficiency: oneWayEfficiency(settings), throughputFeeEurPerKwh: options.throughputFeeEurPerKwh, withdrawalFeeEurPerKwh: options.withdrawalFeeEurPerKwh } }
      : {}),
    ...(options.p2p ? { p2p: p2pOffer } : {}),
  });
  const bookings = async (price: number): Promise<HouseholdDayPlan[]> => {
    const plans: HouseholdDayPlan[] = [];
    for (const [n, input] of households.entries()) plans.push(await planHouseholdDay({ ...input, ces: offer(price) }, solvers.households[n]!));
    return plans;
  };
  const rounds: RentalClearing['rounds'] = [];
  const round = async (price: number) => {
    const plans = await bookings(price);
    const demandKwh = sum(plans.map((p) => p.rentedKwh));
    const supply = options.rental && demandKwh > 0
      ? await scheduleCes({ settings, priceScenariosEurPerKwh: options.priceScenariosEurPerKwh, p2p: p2pSales(plans), rental: { kind: 'offer', priceEurPerKwhDay: price + supplyTieBreakEurPerKwhDay } }, solvers.ces)
      : undefined;
    const supplyKwh = supply?.rentedKwh ?? 0;
    rounds.push({ priceEurPerKwhDay: price, demandKwh, supplyKwh });
    return { plans, served: demandKwh <= supplyKwh + 1e-6 };
  };

  let low = 0;
  let high = maxPrice;
  let price = 0;
  let best = await round(0);
  if (!best.served) {
    best = await round(high);
    if (!best.served) throw new Error(`rental clearing: households still book more than the CES supplies at ${high} EUR/kWh·day`);
    while (high - low > tolerance) {
      const mid = (low + high) / 2;
      const at = await round(mid);
      if (at.served) [high, best] = [mid, at];
      else low = mid;
    }
    price = high;
  }
  const plans = best.plans;
  const ces = await scheduleCes({
    settings,
    priceScenariosEurPerKwh: options.priceScenariosEurPerKwh,
    p2p: p2pSales(plans),
    rental: { kind: 'sold', rental: { capacityKwh: sum(plans.map((p) => p.rentedKwh)), accountChargeKw: sumBy(plans, (p) => p.accountChargeKw), accountDischargeKw: sumBy(plans, (p) => p.accountDischargeKw), revenueEur: sum(plans.map((p) => p.rentalPaymentEur)) } },
  }, solvers.ces);
  return { priceEurPerKwhDay: price, p2pPriceEurPerKwh: p2pPrice, plans, ces, rounds };
}
