import type { PeerTrade } from '../optimizer/types.ts';
import type { Ledger } from './ledger.ts';

/**
 * The optimizer's peers with their committed trades fixed (`committedKw`, + = buy) over the
 * horizon's slots. A commitment with a peer the optimizer was not given is an error: dropping
 * it would plan as if energy that is owed did not exist.
 */
export function withCommittedTrades(peers: PeerTrade[], ledger: Ledger, slotStartsMs: number[]): PeerTrade[] {
  const committed = ledger.committedKwByPeer(slotStartsMs);
  const missing = Object.keys(committed).filter((peerId) => committed[peerId]!.some((kw) => kw !== null) && !peers.some((p) => p.peerId === peerId));
  if (missing.length > 0) throw new Error(`committed trades with peers missing from the problem: ${missing.join(', ')}`);
  return peers.map((peer) => {
    const kw = committed[peer.peerId];
    return kw === undefined ? peer : { ...peer, committedKw: kw };
  });
}
