/**
 * The path a community runs by default for a day: every gateway calls `clearAndCommit` at the same
 * time with its own price model. The day is cleared over the broker (consensus-ADMM unless
 * `mode: 'auction'`), the leader's result reaches every gateway as signed messages, and each
 * gateway commits those of its own bilateral trades that its own order book or last proposal
 * covers (the result is not trusted: `MarketNode.commitTrades` refuses the rest). The committed trades
 * are then in its ledger, from where `withCommittedTrades` fixes them in the optimizer's next solve.
 */
import { fromBilateralTrades } from '../cleared-trades.ts';
import type { ClearedTrade } from '../ledger.ts';
import type { CommitOutcome, MarketNode } from '../node.ts';
import { AdmmParticipant, defaultAdmmSettings, initialPrice, type AdmmSettings } from './admm.ts';
import { ordersFromPriceSteps, pricePoints, type OrderBook } from './auction.ts';
import { mandateFromBook, proposalBook } from './mandate.ts';
import type { Prosumer } from './prosumer.ts';
import { marketNodeChannel, runAdmm, runAuction, type ClearingOptions } from './rounds.ts';
import type { Clearing, MarketRules } from './types.ts';

export interface DayMarketOptions extends ClearingOptions {
  /** Start of the cleared day's slot 0 (epoch ms): the trades' `slotStartMs` count from here. */
  dayStartMs: number;
  rules: MarketRules;
  mode?: 'admm' | 'auction';
  admm?: AdmmSettings;
  /** How long each gateway's commit of the cleared trades may take. */
  commitTimeoutMs: number;
}

export interface DayMarketResult {
  clearing: Clearing;
  /** The cleared trades as commit terms (every gateway's, the same list everywhere). */
  trades: ClearedTrade[];
  /** This gateway's trades and how each commit ended. */
  outcomes: CommitOutcome[];
}

/** Price points each peer re-solves at for its auction order book (8 measured best value for time). */
const auctionPricePoints = 8;

export async function clearAndCommit(node: MarketNode, prosumer: Prosumer, options: DayMarketOptions): Promise<DayMarketResult> {
  const channel = marketNodeChannel(node);
  const { profile } = prosumer;
  const settings = options.admm ?? defaultAdmmSettings;
  let book: OrderBook;
  let clearing: Clearing;
  if (options.mode === 'auction') {
    book = auctionBook(prosumer, options.rules);
    clearing = await runAuction(channel, book, prosumer.slots, options);
  } else {
    // The participant of the clearing that ended: after a failover each leader gets a fresh one.
    let participant: AdmmParticipant | undefined;
    clearing = await runAdmm(
      channel,
      () => (participant = new AdmmParticipant(prosumer, settings)),
      initialPrice(profile.buyEurPerKwh, profile.sellEurPerKwh, options.rules.p2pFeeEurPerKwh),
      profile.stepHours,
      settings,
      options,
    );
    // The rational band is [feed-in, buy − fee]; an iteration that stopped short of convergence
    // prices a little outside it, so the band is widened by the fee: a price beyond that is no
    // ADMM outcome but a leader's invention.
    const fee = options.rules.p2pFeeEurPerKwh;
    book = proposalBook(profile.id, participant?.lastProposalKwh ?? [], profile.buyEurPerKwh, profile.sellEurPerKwh.map((sell) => sell - fee));
  }
  const trades = fromBilateralTrades(clearing.trades, options.dayStartMs, profile.stepHours);
  const mandate = mandateFromBook(book, options.dayStartMs, profile.stepHours, options.rules.maxTradeKw);
  const outcomes = await node.commitTrades(trades, { mandate, timeoutMs: options.commitTimeoutMs });
  return { clearing, trades, outcomes };
}

/** The peer's auction order book: its wanted trades re-solved at uniform price points. */
export function auctionBook(prosumer: Prosumer, rules: MarketRules): OrderBook {
  const { buyEurPerKwh, sellEurPerKwh } = prosumer.profile;
  const points = pricePoints(buyEurPerKwh, sellEurPerKwh, rules.p2pFeeEurPerKwh, auctionPricePoints);
  return ordersFromPriceSteps(
    prosumer.profile.id,
    points.map((p) => ({ priceEurPerKwh: p, tradeKwh: prosumer.tradesAtPrice(buyEurPerKwh.map(() => p)) })),
  );
}
