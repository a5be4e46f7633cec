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

/** The terms of the clearing, whoever computes the households' answers. */
export interface PriceIterationOptions {
  settings: CesSettings;
  priceScenariosEurPerKwh: number[][];
  /** Fees a household pays per kWh through its account (throughput, to the CES) and out of it (grid fee). */
  throughputFeeEurPerKwh: number;
  withdrawalFeeEurPerKwh: number;
  rental: boolean;
  p2p: boolean;
  /** Stop when the price bracket is this narrow (EUR per kWh·day). */
  toleranceEurPerKwhDay?: number;
  /** Highest rental price tried; nobody rents above it (EUR per kWh·day). */
  maxPriceEurPerKwhDay?: number;
  cesSolver: CesSolver;
}

export interface ClearingOptions extends Omit<PriceIterationOptions, 'cesSolver'> {
  /** The households' day inputs without a CES offer (the offer is built here). */
  households: readonly HouseholdDayInput[];
  /** Every household's local grid fee on P2P energy (EUR/kWh) and the VAT factor on what it pays. */
  p2pBuyerFeeEurPerKwh: number;
  vatFactor: number;
  solvers: { ces: CesSolver; households: readonly CesSolver[] };
}

/** What the CES needs of a household's answer to an offer: its booking, account schedule and P2P purchases. */
export type RentalAnswer = Pick<HouseholdDayPlan, 'rentedKwh' | 'accountChargeKw' | 'accountDischargeKw' | 'p2pKw' | 'rentalPaymentEur'>;

export interface PriceIteration<A extends RentalAnswer> {
  priceEurPerKwhDay: number;
  /** The CES's P2P price of each hour (EUR/kWh, before the buyer's fee and VAT). */
  p2pPriceEurPerKwh: number[];
  /** The households' answers in the final round (the bookings), in the order `ask` returned them. */
  answers: A[];
  /** Index in `rounds` of the round whose answers are final. */
  finalRound: number;
  ces: CesSchedule;
  /** Each round's price, the households' bookings and the CES's supply (kWh). */
  rounds: { priceEurPerKwhDay: number; demandKwh: number; supplyKwh: number }[];
}

export interface RentalClearing extends Omit<PriceIteration<HouseholdDayPlan>, 'answers' | 'finalRound'> {
  plans: HouseholdDayPlan[];
}

/**
 * Where renting out a kWh leaves the CES's profit unchanged (its own part idle) the LP may answer any
 * amount; a hair of price makes the answer the most it is willing to rent, so supply is monotone.
 */
const supplyTieBreakEurPerKwhDay = 1e-6;

const sum = (series: readonly number[]) => series.reduce((a, v) => a + v, 0);
const sumBy = (T: number, answers: readonly RentalAnswer[], pick: (p: RentalAnswer) => number[]) =>
  Array.from({ length: T }, (_, t) => answers.reduce((total, p) => total + pick(p)[t]!, 0));

/** The clearing with every household planned here (the evaluation). */
export async function clearRentalDay(options: ClearingOptions): Promise<RentalClearing> {
  const { households, solvers } = options;
  const p2pFees = { localGridFeeEurPerKwh: options.p2pBuyerFeeEurPerKwh, vatFactor: options.vatFactor };
  if (households.length === 0) throw new RangeError('rental clearing: no households');
  if (solvers.households.length !== households.length) throw new RangeError('rental clearing: one solver per household');
  const { answers, finalRound: _, ...result } = await clearRentalPrice({ ...options, cesSolver: solvers.ces }, async (offer) => {
    const plans: HouseholdDayPlan[] = [];
    for (const [n, input] of households.entries()) plans.push(await planHouseholdDay({ ...input, ces: offer, p2pFees }, solvers.households[n]!));
    return plans;
  });
  return { ...result, plans: answers };
}

/**
 * The price iteration itself: each round `ask` gets the CES's offer at the round's price and returns
 * the households' answers (planned here, or received from their gateways: src/ces/agent.ts).
 */
export async function clearRentalPrice<A extends RentalAnswer>(options: PriceIterationOptions, ask: (offer: CesOffer, round: number) => Promise<A[]>): Promise<PriceIteration<A>> {
  const { settings } = options;
  const tolerance = options.toleranceEurPerKwhDay ?? 1e-3;
  const maxPrice = options.maxPriceEurPerKwhDay ?? 0.5;
  const T = options.priceScenariosEurPerKwh[0]?.length ?? 0;
  const p2pPrice = p2pPriceOf(options);
  // The posted price: each buyer adds its own fee and VAT (household-model.ts).
  const p2pOffer = { priceEurPerKwh: p2pPrice, maxKw: settings.p2pMaxKwPerHousehold };
  const p2pSales = (answers: readonly RentalAnswer[]) => ({ salesKw: sumBy(T, answers, (p) => p.p2pKw), priceEurPerKwh: p2pPrice });
  const offer = (price: number): CesOffer => ({
    ...(options.rental
      ? { rent: { priceEurPerKwhDay: price, maxKwh: settings.capacityKwh - settings.minEnergyKwh, kwPerKwh: settings.rentalKwPerKwh, efficiency: oneWayEfficiency(settings), throughputFeeEurPerKwh: options.throughputFeeEurPerKwh, withdrawalFeeEurPerKwh: options.withdrawalFeeEurPerKwh } }
      : {}),
    ...(options.p2p ? { p2p: p2pOffer } : {}),
  });
  const rounds: PriceIteration<A>['rounds'] = [];
  const round = async (price: number) => {
    const index = rounds.length;
    const answers = await ask(offer(price), index);
    const demandKwh = sum(answers.map((p) => p.rentedKwh));
    const supply = options.rental && demandKwh > 0
      ? await scheduleCes({ settings, priceScenariosEurPerKwh: options.priceScenariosEurPerKwh, p2p: p2pSales(answers), rental: { kind: 'offer', priceEurPerKwhDay: price + supplyTieBreakEurPerKwhDay } }, options.cesSolver)
      : undefined;
    const supplyKwh = supply?.rentedKwh ?? 0;
    rounds.push({ priceEurPerKwhDay: price, demandKwh, supplyKwh });
    return { answers, index, served: demandKwh <= supplyKwh + 1e-6 };
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
  const { answers } = best;
  const ces = await scheduleWithBookings(options, answers);
  return { priceEurPerKwhDay: price, p2pPriceEurPerKwh: p2pPrice, answers, finalRound: best.index, ces, rounds };
}

/** The CES's P2P price of each hour: its expected market price plus the markup (EUR/kWh, before the buyer's fee and VAT). */
function p2pPriceOf(options: Pick<PriceIterationOptions, 'settings' | 'priceScenariosEurPerKwh'>): number[] {
  const prices = options.priceScenariosEurPerKwh;
  const T = prices[0]?.length ?? 0;
  return Array.from({ length: T }, (_, t) => prices.reduce((total, p) => total + p[t]!, 0) / prices.length + options.settings.p2pMarkupEurPerKwh);
}

/** The CES's schedule with these answers booked: their accounts in its battery, their P2P purchases sold. */
export async function scheduleWithBookings(options: PriceIterationOptions, answers: readonly RentalAnswer[]): Promise<CesSchedule> {
  const { settings, priceScenariosEurPerKwh: prices } = options;
  const T = prices[0]?.length ?? 0;
  return scheduleCes({
    settings,
    priceScenariosEurPerKwh: prices,
    p2p: { salesKw: sumBy(T, answers, (p) => p.p2pKw), priceEurPerKwh: p2pPriceOf(options) },
    rental: { kind: 'sold', rental: { capacityKwh: sum(answers.map((p) => p.rentedKwh)), accountChargeKw: sumBy(T, answers, (p) => p.accountChargeKw), accountDischargeKw: sumBy(T, answers, (p) => p.accountDischargeKw), revenueEur: sum(answers.map((p) => p.rentalPaymentEur)) } },
  }, options.cesSolver);
}
