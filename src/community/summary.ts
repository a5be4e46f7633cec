/**
 * The community run's figures (the metrics of ../shared/docs/evaluation.md) from what each
 * gateway recorded hour by hour, and the same figures for no control on the same days from the
 * same data. Cost, PAR, demand charges and violation rates are src/eval/metrics.ts's; the
 * no-control baseline is src/eval's own no-control controller on its closed-loop plant, turned
 * into the HourRecords a gateway would have written, so both sides go through one summary.
 *
 * Settlement of an hour (formulation.md §5, evaluation.md tariff): the plan's scheduled grid
 * exchange g is bought or sold at the day-ahead tariff; the realised exchange with the retailer,
 * meter import − export − P2P energy bought (P2P energy also crosses the meter, but is paid to
 * the peer), deviates from it by q, settled at π⁺ / π⁻; P2P payments (fees included) from the
 * committed trades settled on both sides' meters, as src/eval settles them (meteredTrades);
 * battery wear γ_b·(hourly mean battery power)²; the daily demand charge on the day's highest
 * hourly meter import. An hour without a committed schedule (no plan yet) settles all of
 * its exchange in real time. As in src/eval, the change of stored energy between the first and
 * the last summarised instant is valued at the median buy price × η^d, so a gateway that ends
 * with an emptier battery does not look cheaper for energy it did not pay for.
 */
import { battery, initialEnergyKwh } from '../data/assets.ts';
import { DAY_MS, HOUR_MS, type HouseholdSeries, type PriceSeries } from '../data/households.ts';
import { noControl } from '../eval/controllers/no-control.ts';
import { defaultOptimizerSettings } from '../optimizer/settings.ts';
import { addBill, communityChargeShares, dayBill, emptyBill, type BillBreakdown, type NoLossAccount } from '../household/bill.ts';
import { addCost, demandCharge, emptyCost, families, hourCost, storedEnergyValueEurPerKwh, violationRates, type CostBreakdown } from '../eval/metrics.ts';
import { periodFigures, runController, type Figures as EvalFigures } from '../eval/run.ts';
import { buildHouseholdCase } from '../eval/scenario.ts';
import { tariffParams } from '../data/tariff.ts';
import type { TradeTerms } from '../market/ledger.ts';
import { peerPositions, settle, type PeerPosition } from '../market/settlement.ts';
import type { ChanceFamily } from '../optimizer/types.ts';
import type { HourRecord, SafetyEvent } from '../records/types.ts';
import { accountOf, type SettlementRecord } from '../runtime/no-loss.ts';

/** Stored battery energy the gateway measured at an instant. */
export interface EnergySample {
  atMs: number;
  energyKwh: number;
}

/** What one household's gateway recorded (its store, or its telemetry). */
export interface HouseholdRecords {
  household: string;
  hours: HourRecord[];
  energy: EnergySample[];
  safetyEvents: SafetyEvent[];
  /** The days its gateway settled with the others (src/runtime/no-loss.ts); absent: none. */
  settlements?: SettlementRecord[];
}

/**
 * The no-loss settlement over the summarised days its gateway settled: its bill alone (its own
 * controller in shadow) and with the community as the gateways billed them (community-charge shares
 * included, P2P as contracted), and the transfers of the days every member booked.
 */
export interface NoLossFigures {
  /** Summarised days with a settlement (booked or not), and those booked. */
  days: number;
  bookedDays: number;
  aloneEur: number;
  withCommunityEur: number;
  /** Paid (negative: received) on the booked days; in `bill.communityTransfer` too. */
  transferEur: number;
  /**
   * The running account after every day the gateway settled in the run (its journal's last line):
   * the run goes on through the days between test days, which the summary leaves out, and the
   * settlement makes up a loss over all the days it settled, so this is where "no household above
   * its bill alone" is kept. The community's: the members' accounts summed.
   */
  run: NoLossAccount & { days: number };
}

export interface Figures extends EvalFigures {
  /** P2P energy delivered, as the settlement metered it (kWh): a household's net purchases plus net sales of each hour; the community's, each trade once. */
  tradedKwh: number;
  /** P2P energy the committed trades contracted (kWh): a household's, every trade it is part of; the community's, each trade once. */
  contractedTradeKwh: number;
  /** Safety actions taken (conditions entered and setpoints clipped). */
  safetyEvents: number;
  /** Discharge the live community guard asked beyond the households' own commands (kWh). */
  communityGuardKwh: number;
  /** Cost of each day (EUR): energy, real time, wear, P2P and that day's demand charge. */
  dailyCostEur: number[];
  dailyTradedKwh: number[];
  dailySafetyEvents: number[];
  /** Grid import of every summarised hour, in order (kW, hourly mean). */
  hourlyImportKw: number[];
  /** Bill and settlement cost of each day. */
  daily: DailyBreakdowns;
  /** Null: no day was settled (the settlement is off, or the gateways ran without it). */
  noLoss: NoLossFigures | null;
}

export interface HouseholdFigures extends Figures {
  household: string;
  /** Stored energy at the end of every summarised hour (kWh); null where nothing was measured. */
  hourlyEnergyKwh: (number | null)[];
}

export interface RunSummary {
  daysMs: number[];
  households: HouseholdFigures[];
  /** Costs summed; peak and PAR on the summed hourly import; a day is violated if any household's was. */
  community: Figures;
}

/** Every family counts for the joint rate: a gateway records violations only of the rows it imposes. */
const jointOver: readonly ChanceFamily[] = families;
const batteryWearEurPerKw2h = defaultOptimizerSettings.weights.batteryWearEurPerKw2h;

/** The days of `daysMs` on which every household recorded all 24 hours. */
export function completeDays(records: readonly HouseholdRecords[], daysMs: readonly number[]): number[] {
  const recorded = records.map((r) => new Set(r.hours.map((h) => h.hourStartMs)));
  return daysMs.filter((day) => recorded.every((hours) => Array.from({ length: 24 }, (_, h) => day + h * HOUR_MS).every((t) => hours.has(t))));
}

export function summariseRun(records: readonly HouseholdRecords[], daysMs: readonly number[], communityChargeEurPerKwDay = 1.0): RunSummary {
  const dayHours = records.map((r) => recordsByDay(r, daysMs));
  // The community charge of each day, split by coincident import (src/household/bill.ts), on the meters' exchange.
  const shares = daysMs.map((_, d) => communityChargeShares(dayHours.map((days) => days[d]!.map((r) => r.importKwh - r.exportKwh)), communityChargeEurPerKwDay));
  const metered = meteredTrades(records.map((r) => r.household), dayHours);
  const households = records.map((r, i) => householdFigures(r, daysMs, dayHours[i]!, metered.positions[i]!, shares.map((share) => share.sharesEur[i]!)));
  const cost = emptyCost();
  const bill = emptyBill();
  for (const h of households) {
    addCost(cost, h.cost);
    addBill(bill, h.bill);
  }
  const perDay = (pick: (h: HouseholdFigures) => number[]) => daysMs.map((_, d) => households.reduce((sum, h) => sum + pick(h)[d]!, 0));
  const sumDays = <T,>(pick: (h: DailyBreakdowns) => T[], empty: () => T, add: (into: T, x: T) => void): T[] =>
    daysMs.map((_, d) => {
      const total = empty();
      for (const h of households) add(total, pick(h.daily)[d]!);
      return total;
    });
  const communityDays = daysMs.map((_, d) => dayHours.flatMap((days) => days[d]!.map(violatedFlags)));
  const communityDaily: DailyBreakdowns = { bill: sumDays((d) => d.bill, emptyBill, addBill), cost: sumDays((d) => d.cost, emptyCost, addCost) };
  const communityExchangeKw = daysMs.map((_, d) => Array.from({ length: 24 }, (_, h) => dayHours.reduce((sum, days) => sum + days[d]![h]!.importKwh - days[d]![h]!.exportKwh, 0)));
  const settled = households.flatMap((h) => (h.noLoss ? [h.noLoss] : []));
  const noLoss = settled.length === 0 ? null : {
    days: Math.max(...settled.map((n) => n.days)),
    bookedDays: Math.max(...settled.map((n) => n.bookedDays)),
    aloneEur: settled.reduce((sum, n) => sum + n.aloneEur, 0),
    withCommunityEur: settled.reduce((sum, n) => sum + n.withCommunityEur, 0),
    transferEur: settled.reduce((sum, n) => sum + n.transferEur, 0),
    run: {
      days: Math.max(...settled.map((n) => n.run.days)),
      aloneEur: settled.reduce((sum, n) => sum + n.run.aloneEur, 0),
      withCommunityEur: settled.reduce((sum, n) => sum + n.run.withCommunityEur, 0),
      transferEur: settled.reduce((sum, n) => sum + n.run.transferEur, 0),
    },
  };
  return {
    daysMs: [...daysMs],
    households,
    community: {
      ...periodFigures(daysMs, communityExchangeKw, communityDaily.bill, communityDaily.cost, bill, cost, violationRates(communityDays, jointOver)),
      tradedKwh: metered.dailyDeliveredKwh.reduce((a, b) => a + b, 0),
      contractedTradeKwh: metered.dailyContractedKwh.reduce((a, b) => a + b, 0),
      safetyEvents: households.reduce((sum, h) => sum + h.safetyEvents, 0),
      communityGuardKwh: households.reduce((sum, h) => sum + h.communityGuardKwh, 0),
      dailyCostEur: perDay((h) => h.dailyCostEur),
      dailyTradedKwh: metered.dailyDeliveredKwh,
      dailySafetyEvents: perDay((h) => h.dailySafetyEvents),
      hourlyImportKw: communityExchangeKw.flat().map((g) => Math.max(g, 0)),
      daily: communityDaily,
      noLoss,
    },
  };
}

interface DailyBreakdowns {
  bill: BillBreakdown[];
  cost: CostBreakdown[];
}

/**
 * Each household's P2P position in every hour of every day, its committed trades settled on the
 * meters of both sides as the market settles them (src/market/settlement.ts, as src/eval does): a
 * buyer pays for what its seller injected, a seller that injected less compensates the buyer's
 * real-time purchase. Both sides record a trade; it is settled once. A counterparty whose meter
 * is not in the run (the cloud energy storage) is taken to deliver and draw what it contracted.
 */
function meteredTrades(households: readonly string[], dayHours: readonly HourRecord[][][]): { positions: PeerPosition[][][]; dailyDeliveredKwh: number[]; dailyContractedKwh: number[] } {
  const days = dayHours[0] ?? [];
  const positions = households.map(() => days.map((): PeerPosition[] => []));
  const dailyDeliveredKwh = days.map(() => 0);
  const dailyContractedKwh = days.map(() => 0);
  days.forEach((hours, d) =>
    hours.forEach((_, h) => {
      const records = dayHours.map((byDay) => byDay[d]![h]!);
      const terms = new Map<string, TradeTerms>();
      records.forEach((r, n) => {
        for (const t of r.trades) {
          if (terms.has(t.tradeId) || t.energyKwh === 0) continue;
          const [seller, buyer] = t.energyKwh > 0 ? [t.peerId, households[n]!] : [households[n]!, t.peerId];
          terms.set(t.tradeId, { tradeId: t.tradeId, offerId: t.tradeId, seller, buyer, slotStartMs: r.hourStartMs, slotMinutes: 60, powerKw: Math.abs(t.energyKwh), priceEurPerKwh: t.priceEurPerKwh });
        }
      });
      const trades = [...terms.values()];
      // A counterparty without a meter here delivers and draws what it contracted; the households' meters are read.
      const meteredExportKwh: Record<string, number> = {};
      for (const t of trades) {
        meteredExportKwh[t.seller] = (meteredExportKwh[t.seller] ?? 0) + t.powerKw;
        meteredExportKwh[t.buyer] = (meteredExportKwh[t.buyer] ?? 0) - t.powerKw;
      }
      records.forEach((r, n) => (meteredExportKwh[households[n]!] = r.exportKwh - r.importKwh));
      const settled = settle(trades, meteredExportKwh, { gridFeeEurPerKwh: tariffParams.p2pGridFeeEurPerKwh, realtimeBuyEurPerKwh: records[0]!.realtimeBuyEurPerKwh });
      for (const x of settled) {
        dailyDeliveredKwh[d]! += x.paidKwh;
        dailyContractedKwh[d]! += x.contractedKwh;
      }
      const byPeer = peerPositions(trades, settled);
      households.forEach((id, n) => positions[n]![d]!.push(byPeer.get(id) ?? { energyKwh: 0, paidEur: 0 }));
    }),
  );
  return { positions, dailyDeliveredKwh, dailyContractedKwh };
}

function householdFigures(records: HouseholdRecords, daysMs: readonly number[], dayHours: readonly HourRecord[][], metered: readonly PeerPosition[][], communityShareEur: readonly number[]): HouseholdFigures {
  const cost = emptyCost();
  const bill = emptyBill();
  const daily: DailyBreakdowns = { bill: [], cost: [] };
  const dailyCostEur: number[] = [];
  const dailyTradedKwh: number[] = [];
  let contractedTradeKwh = 0;
  const settlements = new Map((records.settlements ?? []).map((s) => [s.dayMs, s]));
  let noLoss: NoLossFigures | null = null;
  for (const [d, hours] of dayHours.entries()) {
    const p2p = metered[d]!;
    const dayCost = emptyCost();
    for (const [h, r] of hours.entries()) addCost(dayCost, settleHour(r, p2p[h]!));
    const charge = demandCharge(hours.map((r) => r.importKwh));
    dayCost.demandCharge += charge;
    dayCost.total += charge;
    addCost(cost, dayCost);
    const dayMetered = dayBill(hours.map((r, h) => ({ gridKw: r.importKwh - r.exportKwh, tradeKw: p2p[h]!.energyKwh, batteryKw: r.batteryDischargeKwh - r.batteryChargeKwh, buyEurPerKwh: r.buyEurPerKwh, sellEurPerKwh: r.sellEurPerKwh })), batteryWearEurPerKw2h);
    dayMetered.p2p = p2p.reduce((sum, x) => sum + x.paidEur, 0);
    dayMetered.communityCharge = communityShareEur[d]!;
    dayMetered.total += dayMetered.p2p + dayMetered.communityCharge;
    const settlement = settlements.get(daysMs[d]!);
    if (settlement) {
      noLoss ??= { days: 0, bookedDays: 0, aloneEur: 0, withCommunityEur: 0, transferEur: 0, run: { days: records.settlements!.length, ...accountOf(records.settlements!) } };
      noLoss.days++;
      noLoss.aloneEur += settlement.aloneEur;
      noLoss.withCommunityEur += settlement.withCommunityEur;
      if (settlement.booked) {
        noLoss.bookedDays++;
        noLoss.transferEur += settlement.ownTransferEur;
        dayMetered.communityTransfer = settlement.ownTransferEur;
        dayMetered.total += settlement.ownTransferEur;
      }
    }
    addBill(bill, dayMetered);
    daily.bill.push(dayMetered);
    daily.cost.push(dayCost);
    dailyCostEur.push(dayCost.total);
    dailyTradedKwh.push(p2p.reduce((sum, x) => sum + Math.abs(x.energyKwh), 0));
    contractedTradeKwh += hours.reduce((sum, r) => sum + r.trades.reduce((s, t) => s + Math.abs(t.energyKwh), 0), 0);
  }
  const hours = dayHours.flat();
  const hourlyImportKw = hours.map((r) => r.importKwh);
  // Stored energy at the start of the first day, then at the end of every hour.
  const [startKwh, ...hourlyEnergyKwh] = energyAt(records.energy, [daysMs[0] ?? 0, ...hours.map((r) => r.hourStartMs + HOUR_MS)]);
  const endKwh = hourlyEnergyKwh.at(-1) ?? null;
  if (startKwh !== null && startKwh !== undefined && endKwh !== null) {
    cost.storedEnergy = -(endKwh - startKwh) * storedEnergyValueEurPerKwh(hours.map((r) => r.buyEurPerKwh), battery.dischargeEfficiency);
    cost.total += cost.storedEnergy;
    bill.storedEnergy = cost.storedEnergy;
    bill.total += bill.storedEnergy;
  }
  const actions = records.safetyEvents.filter((e) => e.action !== 'clear');
  const dailySafetyEvents = daysMs.map((day) => actions.filter((e) => e.atMs >= day && e.atMs < day + DAY_MS).length);
  return {
    household: records.household,
    ...periodFigures(daysMs, dayHours.map((day) => day.map((r) => r.importKwh - r.exportKwh)), daily.bill, daily.cost, bill, cost, violationRates(dayHours.map((day) => day.map(violatedFlags)), jointOver)),
    tradedKwh: dailyTradedKwh.reduce((a, b) => a + b, 0),
    contractedTradeKwh,
    safetyEvents: dailySafetyEvents.reduce((a, b) => a + b, 0),
    communityGuardKwh: hours.reduce((sum, r) => sum + (r.communityGuardKwh ?? 0), 0),
    dailyCostEur,
    dailyTradedKwh,
    dailySafetyEvents,
    hourlyImportKw,
    hourlyEnergyKwh,
    daily,
    noLoss,
  };
}

function settleHour(r: HourRecord, p2p: PeerPosition) {
  const cost = hourCost(
    { gridKw: r.importKwh - r.exportKwh - p2p.energyKwh, scheduledGridKw: r.scheduledGridKw ?? 0, batteryKw: r.batteryDischargeKwh - r.batteryChargeKwh },
    { buyEurPerKwh: r.buyEurPerKwh, sellEurPerKwh: r.sellEurPerKwh, realtimeBuyEurPerKwh: r.realtimeBuyEurPerKwh, realtimeSellEurPerKwh: r.realtimeSellEurPerKwh },
    batteryWearEurPerKw2h,
  );
  cost.p2p = p2p.paidEur;
  cost.total += p2p.paidEur;
  return cost;
}

/** Each day's 24 records in order (the newest record of an hour wins: a repeated telemetry message is the same hour). */
function recordsByDay(records: HouseholdRecords, daysMs: readonly number[]): HourRecord[][] {
  const byStart = new Map(records.hours.map((r) => [r.hourStartMs, r]));
  return daysMs.map((day) =>
    Array.from({ length: 24 }, (_, h) => {
      const r = byStart.get(day + h * HOUR_MS);
      if (!r) throw new RangeError(`${records.household}: no record of the hour ${new Date(day + h * HOUR_MS).toISOString()}`);
      return r;
    }),
  );
}

function violatedFlags(r: HourRecord): { violated: Record<ChanceFamily, boolean> } {
  return { violated: Object.fromEntries(families.map((f) => [f, r.violations.includes(f)])) as Record<ChanceFamily, boolean> };
}

/** At each instant (ascending), the newest measurement at or before it (the first one if all are later); null without any. */
function energyAt(samples: readonly EnergySample[], instantsMs: readonly number[]): (number | null)[] {
  const sorted = [...samples].sort((a, b) => a.atMs - b.atMs);
  let i = 0;
  return instantsMs.map((t) => {
    while (i + 1 < sorted.length && sorted[i + 1]!.atMs <= t) i++;
    return sorted[i]?.energyKwh ?? null;
  });
}

/**
 * No control on the same days from the same data: src/eval's no-control controller (battery
 * idle, shiftable demand served when requested, the forecast as the schedule) on its
 * closed-loop plant, i.e. the household's measured grid balance, recorded as a gateway would.
 */
export async function noControlRecords(series: readonly HouseholdSeries[], prices: PriceSeries, daysMs: readonly number[]): Promise<HouseholdRecords[]> {
  if (daysMs.length === 0) return series.map((s) => ({ household: s.id, hours: [], energy: [], safetyEvents: [] }));
  // One sample trajectory is enough: no control never looks at them.
  const cases = series.map((s) => buildHouseholdCase(s, prices, daysMs, { steps: 24, sampleCount: 1 }));
  const run = await runController({ name: 'no-control', create: () => noControl() }, cases, batteryWearEurPerKw2h, () => undefined);
  return run.households.map((h, i) => {
    const hourCases = cases[i]!.days.flatMap((d) => d.hours);
    const outcomes = h.days.flat();
    return {
      household: h.household,
      energy: [{ atMs: daysMs[0]!, energyKwh: initialEnergyKwh }, ...outcomes.map((o) => ({ atMs: o.timeMs + HOUR_MS, energyKwh: o.energyKwh }))],
      safetyEvents: [],
      hours: outcomes.map((o, k): HourRecord => {
        const { realised, tariff } = hourCases[k]!;
        const socFraction = o.energyKwh / battery.capacityKwh;
        return {
          hourStartMs: o.timeMs,
          importKwh: Math.max(o.gridKw, 0),
          exportKwh: Math.max(-o.gridKw, 0),
          peakImportKw: Math.max(o.gridKw, 0),
          pvKwh: realised.pvKw,
          batteryDischargeKwh: Math.max(o.batteryKw, 0),
          batteryChargeKwh: Math.max(-o.batteryKw, 0),
          shiftableRequestedKwh: realised.requestKw,
          shiftableServedKwh: o.servedShiftableKw,
          scheduledGridKw: o.scheduledGridKw,
          buyEurPerKwh: tariff.buyEurPerKwh[0]!,
          sellEurPerKwh: tariff.sellEurPerKwh[0]!,
          realtimeBuyEurPerKwh: tariff.realtimeBuyEurPerKwh[0]!,
          realtimeSellEurPerKwh: tariff.realtimeSellEurPerKwh[0]!,
          tradeKwh: 0,
          tradeCostEur: 0,
          trades: [],
          socMinFraction: socFraction,
          socMaxFraction: socFraction,
          violations: families.filter((f) => o.violated[f]),
          safeIterations: 0,
          iterations: 0,
        };
      }),
    };
  });
}
