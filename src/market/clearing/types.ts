/**
 * Data of the P2P clearing. Everything is per slot `t = 0..T-1` of `stepHours` hours and in
 * energy per slot (kWh), so prices come out directly in EUR/kWh.
 */

/** The "simple price model" of one prosumer: what its local problem needs for one day. */
export interface PeerProfile {
  id: string;
  stepHours: number;
  /** Forecast net load μ_t = load − PV (kW, + = consumption). */
  netLoadKw: number[];
  buyEurPerKwh: number[]; // c^buy_t
  sellEurPerKwh: number[]; // c^sell_t (feed-in)
  battery: {
    minEnergyKwh: number;
    maxEnergyKwh: number;
    maxChargeKw: number;
    maxDischargeKw: number;
    chargeEfficiency: number;
    dischargeEfficiency: number;
    initialEnergyKwh: number;
    /** Value of energy left at the end of the day (formulation.md §5: median buy × η^d). */
    terminalEurPerKwh: number;
  };
  grid: { maxImportKw: number; maxExportKw: number };
}

export interface MarketRules {
  /** Grid fee on a local trade, paid by the buyer (evaluation.md: 0.09 EUR/kWh). */
  p2pFeeEurPerKwh: number;
  /** Largest trade of one peer in one slot (kW); the grid connection limits it anyway. */
  maxTradeKw: number;
}

/** One bilateral trade of one slot: `buyer` buys `energyKwh` from `seller` at `priceEurPerKwh`. */
export interface BilateralTrade {
  slot: number;
  buyer: string;
  seller: string;
  energyKwh: number;
  priceEurPerKwh: number;
}

export interface Clearing {
  mode: 'admm' | 'auction';
  peerIds: string[];
  /** Net community purchase per peer and slot (kWh, + = buys from the community), summed from `trades`. */
  netKwh: Record<string, number[]>;
  /** Clearing price per slot (EUR/kWh, what the seller receives; the buyer adds the fee); NaN where nothing cleared. */
  priceEurPerKwh: number[];
  trades: BilateralTrade[];
  /** ADMM rounds, or 1 for the auction. */
  rounds: number;
  converged: boolean;
}
