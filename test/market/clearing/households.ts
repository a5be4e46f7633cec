/** The four Konstanz households on a clean summer day (docs/market-clearing.md §1), for tests over real data. */
import { fileURLToPath } from 'node:url';
import { buildCommunity, loadCommunityData } from '../../../src/market/clearing/community.ts';
import type { PeerProfile } from '../../../src/market/clearing/types.ts';

const dataDir = fileURLToPath(new URL('../../../../shared/data', import.meta.url));

export async function householdDay(slotsPerDay: 24 | 96): Promise<PeerProfile[]> {
  return buildCommunity(await loadCommunityData(dataDir), { peers: 4, day: '2016-07-15', slotsPerDay });
}
