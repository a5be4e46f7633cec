/**
 * From net community positions to bilateral trades x_nm (+ = n buys from m), deterministically.
 *
 * Why net positions are enough: every local trade pays the same 0.09 EUR/kWh fee and energy from
 * any neighbour is the same product, so the community's cost depends on who buys and sells how
 * much per slot, not on who trades with whom. A decomposition only has to avoid a peer buying and
 * selling in the same slot (that would pay the fee twice for nothing): buyers trade only with
 * sellers. The north-west-corner rule in peer-id order gives at most B + S − 1 trades per slot,
 * so few bilateral commitments.
 */
import type { BilateralTrade } from './types.ts';

/** Trades below this are dust from the iterative clearing, not worth a commitment. */
const minTradeKwh = 1e-6;

export function decompose(peerIds: readonly string[], netKwh: Readonly<Record<string, readonly number[]>>, priceEurPerKwh: readonly number[]): BilateralTrade[] {
  const order = [...peerIds].sort();
  const trades: BilateralTrade[] = [];
  priceEurPerKwh.forEach((price, slot) => {
    const buyers = order.filter((id) => netKwh[id]![slot]! > 0).map((id) => ({ id, left: netKwh[id]![slot]! }));
    const sellers = order.filter((id) => netKwh[id]![slot]! < 0).map((id) => ({ id, left: -netKwh[id]![slot]! }));
    // An iterative clearing leaves a small imbalance: the long side is scaled down to the short
    // side's volume and its peers cover the rest on the grid, as if they had not offered it.
    const bought = buyers.reduce((s, b) => s + b.left, 0);
    const sold = sellers.reduce((s, b) => s + b.left, 0);
    const volume = Math.min(bought, sold);
    for (const b of buyers) b.left *= volume / bought;
    for (const s of sellers) s.left *= volume / sold;
    let i = 0;
    let j = 0;
    while (i < buyers.length && j < sellers.length) {
      const buyer = buyers[i]!;
      const seller = sellers[j]!;
      const energyKwh = Math.min(buyer.left, seller.left);
      if (energyKwh >= minTradeKwh) trades.push({ slot, buyer: buyer.id, seller: seller.id, energyKwh, priceEurPerKwh: price });
      buyer.left -= energyKwh;
      seller.left -= energyKwh;
      if (buyer.left <= 0) i++;
      if (seller.left <= 0) j++;
    }
  });
  return trades;
}

/** Net community purchase per peer and slot implied by the trades (kWh). */
export function netFromTrades(peerIds: readonly string[], slots: number, trades: readonly BilateralTrade[]): Record<string, number[]> {
  const net = Object.fromEntries(peerIds.map((id) => [id, new Array<number>(slots).fill(0)]));
  for (const t of trades) {
    net[t.buyer]![t.slot]! += t.energyKwh;
    net[t.seller]![t.slot]! -= t.energyKwh;
  }
  return net;
}

/** x_nm of one slot as a matrix keyed by peer id; x_nm = −x_mn holds exactly (one value, negated). */
export function tradeMatrix(peerIds: readonly string[], trades: readonly BilateralTrade[], slot: number): Record<string, Record<string, number>> {
  const x = Object.fromEntries(peerIds.map((n) => [n, Object.fromEntries(peerIds.map((m) => [m, 0]))]));
  for (const t of trades) {
    if (t.slot !== slot) continue;
    x[t.buyer]![t.seller]! += t.energyKwh;
    x[t.seller]![t.buyer]! -= t.energyKwh;
  }
  return x;
}
