/**
 * P2P market clearing (docs/market-clearing.md): a prosumer price model, the central optimum,
 * consensus-ADMM and a pay-as-clear double auction, pure and transport-agnostic; `rounds.ts`
 * runs them over the market's MQTT layer.
 */
export type { PeerProfile, MarketRules, BilateralTrade, Clearing } from './types.ts';
export { Prosumer, type AlonePlan } from './prosumer.ts';
export { solveCentral, type CentralOptimum } from './central.ts';
export { AdmmAggregator, AdmmParticipant, clearAdmm, initialPrice, defaultAdmmSettings, type AdmmSettings, type AdmmRound, type AdmmProposer } from './admm.ts';
export { ordersFromPlan, planSlots, ordersFromPriceSteps, pricePoints, clearSlot, clearAuction, type Order, type OrderBook, type PriceStep, type PlanSlots } from './auction.ts';
export { roundSchemas, marketNodeChannel, runAdmm, runAuction, type RoundChannel, type ClearingOptions } from './rounds.ts';
export { runSharing, type SharingSpec, type SharingOutcome } from './sharing-rounds.ts';
export { decompose, tradeMatrix, netFromTrades } from './bilateral.ts';
export { communityCost, welfareGap } from './welfare.ts';
export { loadCommunityData, buildCommunity, prosumerProfile, marketRules, type CommunityData, type CommunityOptions } from './community.ts';
export { clearAndCommit, auctionBook, type DayMarketOptions, type DayMarketResult } from './clear-and-commit.ts';
export { mandateFromBook, proposalBook } from './mandate.ts';
