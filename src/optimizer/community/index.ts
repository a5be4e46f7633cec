/** Community coordination (formulation §8; docs/community-coordination.md). */
export { solveCommunityCentral } from './central.ts';
export { DEFAULT_SHARING_SETTINGS, solveCommunityDistributed } from './distributed.ts';
export { HouseholdAgent, type HouseholdAnswer, type HouseholdStep, type LocalSolver, type SharingPrices } from './household-agent.ts';
export { ANCHOR_WEIGHT_EUR_PER_KW2, anchoredCoupling, type CommunityAnchor } from './anchor.ts';
export { SharingCoordinator, nextTarget, sharingSettings, type ContributionOf, type RoundOutcome } from './sharing-coordinator.ts';
export { floorJointSamples } from './community-terms.ts';
export { DEFAULT_COMMUNITY_PEAK_CHARGE_EUR_PER_KW_DAY, coordinatorTerms } from './types.ts';
export type { CoordinatorTerms, HouseholdLimits, CommunityProblem, CommunityResult, CommunityTerms, DistributedResult, SharingSettings } from './types.ts';
