/**
 * The peer-to-peer market's public surface (docs/market.md). The clearing layer runs its
 * rounds over `MarketNode.publish('round', …)` / `on('round', …)` with a payload schema it
 * registers in `roundSchemas`, and commits what it cleared with `commitTrades`.
 */
export { MarketNode, DEFAULT_TIMING, probeMqttVersion } from './node.ts';
export type { MarketNodeOptions, MarketTiming, MarketLog, ClearedTrade, CommitOutcome, Rejection, ReceivedOffer, BrokerCredentials } from './node.ts';
export type { PeerPresence } from './presence.ts';
export { startEmbeddedBroker, type EmbeddedBroker, type EmbeddedBrokerOptions } from './broker.ts';
export { loginToken } from './broker-login.ts';
export { generateIdentity, saveIdentity, loadIdentity, type Identity } from './identity.ts';
export { Membership, type CommunityConfig, type CommunityMember } from './community.ts';
export { DEFAULT_LIMITS, INSTANT_MS, REJECT_REASONS } from './messages.ts';
export type { Envelope, MessageLimits, RejectReason, OfferBody, AcceptBody, ConfirmBody, PresenceBody, RoundBody } from './messages.ts';
export { PROTOCOL_ROOT, topicFor, type MessageKind } from './topics.ts';
export { Ledger, type LedgerEntry, type TradeState, type TradeTerms } from './ledger.ts';
export { peerPositions, settle, type PeerPosition, type SettlementPrices, type TradeSettlement } from './settlement.ts';
export { withCommittedTrades } from './optimizer-link.ts';
export { fromBilateralTrades } from './cleared-trades.ts';
export { outsideMandate, type Mandate, type MandateOrder } from './mandate.ts';
export { canonicalJson } from './canonical-json.ts';
