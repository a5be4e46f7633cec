/** Community coordination (formulation §8; docs/community-coordination.md). */
export { solveCommunityCentral } from './central.ts';
export { DEFAULT_SHARING_SETTINGS, solveCommunityDistributed } from './distributed.ts';
export { DEFAULT_COMMUNITY_PEAK_CHARGE_EUR_PER_KW_DAY } from './types.ts';
export type { CommunityProblem, CommunityResult, CommunityTerms, DistributedResult, SharingSettings, SharingState } from './types.ts';
