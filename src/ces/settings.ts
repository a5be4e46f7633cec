/**
 * The cloud energy storage (CES) operator's settings: one large battery shared by a neighbourhood,
 * trading on the day-ahead market, renting virtual capacity and selling energy to households
 * (docs/ces.md). Every figure is a setting; the defaults are the (100 kWh / 50 kW) and the
 * evaluation scenario's fees, fixed a priori (never chosen on test days).
 */
export interface CesSettings {
  capacityKwh: number;
  /** The lowest energy the battery is kept at (kWh); the CES's own part starts and ends each day here. */
  minEnergyKwh: number;
  powerKw: number;
  /** Round trip η; split evenly, η^c = η^d = √η. */
  roundTripEfficiency: number;
  /** Degradation cost per kWh of physical throughput (charge + discharge at the terminals). */
  degradationEurPerKwh: number;
  /** The CES's connection to the grid (kW), both directions. */
  gridKw: number;
  /** λ ≥ 0 in max E[profit] + λ·CVaR_α[profit]. */
  riskWeight: number;
  /** α in (0, 1): CVaR_α is the mean profit of the worst (1 − α) share of the price scenarios. */
  confidence: number;
  /** Power that comes with each rented kWh (kW per kWh): a 100 kWh / 50 kW battery rents at 0.5. */
  rentalKwPerKwh: number;
  /**
   * P2P energy is sold to households at the CES's expected market price of the hour plus this
   * (EUR/kWh, before the buyer's local grid fee and VAT): a fixed price below the market's would make
   * every P2P sale in a dear hour a loss.
   */
  p2pMarkupEurPerKwh: number;
  /** Most P2P power one household may buy (kW). */
  p2pMaxKwPerHousehold: number;
}

export const defaultCesSettings: Readonly<CesSettings> = {
  capacityKwh: 100,
  minEnergyKwh: 10,
  powerKw: 50,
  roundTripEfficiency: 0.9,
  degradationEurPerKwh: 0.01,
  gridKw: 50,
  riskWeight: 0,
  confidence: 0.9,
  rentalKwPerKwh: 0.5,
  p2pMarkupEurPerKwh: 0.02,
  p2pMaxKwPerHousehold: 11,
};

export function oneWayEfficiency(settings: Pick<CesSettings, 'roundTripEfficiency'>): number {
  return Math.sqrt(settings.roundTripEfficiency);
}

/** Refuses settings no battery can have, naming the field. */
export function validateCesSettings(settings: CesSettings, where = 'CES settings'): void {
  const fail = (field: keyof CesSettings, what: string): never => {
    throw new RangeError(`${where}: ${field} ${what} (got ${String(settings[field])})`);
  };
  const positive: (keyof CesSettings)[] = ['capacityKwh', 'powerKw', 'gridKw', 'rentalKwPerKwh'];
  for (const field of positive) if (!(Number.isFinite(settings[field]) && settings[field] > 0)) fail(field, 'must be a positive number');
  const nonNegative: (keyof CesSettings)[] = ['minEnergyKwh', 'degradationEurPerKwh', 'riskWeight', 'p2pMarkupEurPerKwh', 'p2pMaxKwPerHousehold'];
  for (const field of nonNegative) if (!(Number.isFinite(settings[field]) && settings[field] >= 0)) fail(field, 'must be a number ≥ 0');
  if (settings.minEnergyKwh >= settings.capacityKwh) fail('minEnergyKwh', 'must be below capacityKwh');
  if (!(settings.roundTripEfficiency > 0 && settings.roundTripEfficiency <= 1)) fail('roundTripEfficiency', 'must be in (0, 1]');
  if (!(settings.confidence > 0 && settings.confidence < 1)) fail('confidence', 'must be in (0, 1)');
}
