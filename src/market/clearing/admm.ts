/**
 * Consensus-ADMM P2P clearing in its exchange (pool) form (Boyd et al. 2011 §7.3.2; the
 * consensus market of Sorin, Bobo and Pinson 2019 and Baroche et al. 2019 without product
 * differentiation, where bilateral prices collapse to one price per slot):
 *
 *   peer n:       q_n^{k+1} = argmin f_n(q) + λ^kᵀq + ρ/2 ‖q − q_n^k + q̄^k‖²
 *   every round:  q̄^{k+1} = mean_n q_n^{k+1},   λ^{k+1} = λ^k + ρ q̄^{k+1}
 *
 * A peer shares only its proposal q_n (kWh per slot); λ and q̄ follow from the proposals alone,
 * so whoever aggregates a round (any peer, deterministically the one the transport picks) reaches
 * the same numbers. Stop when the primal residual (the community's imbalance Σ_n q_n) and the dual
 * residual (how much q_n − q̄ still moves between rounds), both RMS per peer and slot, are under
 * tolerance.
 * Determinism: proposals are summed in peer-id order and nothing depends on arrival time.
 * A peer whose proposal is missing from a round is dropped from then on: it trades nothing and the
 * others keep iterating (ADMM converges from any starting point, so the earlier rounds are just a
 * warm start for the smaller community).
 */
import { decompose, netFromTrades } from './bilateral.ts';
import type { Prosumer } from './prosumer.ts';
import type { Clearing } from './types.ts';

export interface AdmmSettings {
  /** Penalty ρ (EUR/kWh²) on hourly slots: larger balances faster, smaller lets prices move faster. */
  rhoEurPerKwh2: number;
  maxRounds: number;
  /** Tolerance on both residuals, RMS per peer and slot, as power (kW): imbalance, and movement of q_n − q̄. */
  toleranceKw: number;
}

export const defaultAdmmSettings: AdmmSettings = { rhoEurPerKwh2: 0.1, maxRounds: 200, toleranceKw: 0.005 };

/**
 * A slot of h hours carries h times the energy of an hour, so the same price correction needs
 * ρ/h, and the same power tolerance is h times the energy.
 */
function perSlot(settings: AdmmSettings, stepHours: number) {
  return { rho: settings.rhoEurPerKwh2 / stepHours, toleranceKwh: settings.toleranceKw * stepHours };
}

/** What the aggregator broadcasts to open a round. */
export interface AdmmRound {
  round: number;
  participants: string[];
  priceEurPerKwh: number[];
  meanKwh: number[];
  done: boolean;
  primalResidualKwh: number;
  dualResidualKwh: number;
}

/** The aggregation step: pure arithmetic on proposals, no solver. */
export class AdmmAggregator {
  private current: AdmmRound;
  private proposals = new Map<string, number[]>();

  private readonly rho: number;
  private readonly toleranceKwh: number;

  constructor(
    participants: readonly string[],
    initialPriceEurPerKwh: readonly number[],
    stepHours: number,
    private readonly settings: AdmmSettings,
  ) {
    ({ rho: this.rho, toleranceKwh: this.toleranceKwh } = perSlot(settings, stepHours));
    const T = initialPriceEurPerKwh.length;
    this.current = {
      round: 0,
      participants: [...participants].sort(),
      priceEurPerKwh: [...initialPriceEurPerKwh],
      meanKwh: new Array<number>(T).fill(0),
      done: false,
      primalResidualKwh: Number.POSITIVE_INFINITY,
      dualResidualKwh: Number.POSITIVE_INFINITY,
    };
    for (const id of this.current.participants) this.proposals.set(id, new Array<number>(T).fill(0));
  }

  get round(): AdmmRound {
    return this.current;
  }

  /** Closes the current round with the proposals that arrived; opens the next one. */
  collect(received: ReadonlyMap<string, readonly number[]>): AdmmRound {
    const { rho, toleranceKwh } = this;
    const { maxRounds } = this.settings;
    const previous = this.current;
    const participants = previous.participants.filter((id) => received.has(id));
    const T = previous.priceEurPerKwh.length;
    const meanKwh = new Array<number>(T).fill(0);
    for (const id of participants) received.get(id)!.forEach((q, t) => (meanKwh[t]! += q));
    if (participants.length > 0) for (let t = 0; t < T; t++) meanKwh[t]! /= participants.length;
    let dualSquares = 0;
    for (const id of participants) {
      const q = received.get(id)!;
      const before = this.proposals.get(id)!;
      for (let t = 0; t < T; t++) dualSquares += (q[t]! - meanKwh[t]! - (before[t]! - previous.meanKwh[t]!)) ** 2;
    }
    const size = Math.sqrt(Math.max(1, participants.length * T));
    const primalResidualKwh = (Math.sqrt(meanKwh.reduce((s, m) => s + m * m, 0)) * Math.sqrt(participants.length)) / size;
    const dualResidualKwh = Math.sqrt(dualSquares) / size;
    this.proposals = new Map(participants.map((id) => [id, [...received.get(id)!]]));
    const round = previous.round + 1;
    this.current = {
      round,
      participants,
      priceEurPerKwh: previous.priceEurPerKwh.map((p, t) => p + rho * meanKwh[t]!),
      meanKwh,
      done: (primalResidualKwh <= toleranceKwh && dualResidualKwh <= toleranceKwh) || round >= maxRounds || participants.length < 2,
      primalResidualKwh,
      dualResidualKwh,
    };
    return this.current;
  }

  /** The cleared market once `done`: last proposals, balanced and split into bilateral trades. */
  clearing(allPeerIds: readonly string[]): Clearing {
    const final = this.current;
    const T = final.priceEurPerKwh.length;
    const net = Object.fromEntries(allPeerIds.map((id) => [id, this.proposals.get(id) ?? new Array<number>(T).fill(0)]));
    const trades = decompose(allPeerIds, net, final.priceEurPerKwh);
    const converged = final.primalResidualKwh <= this.toleranceKwh && final.dualResidualKwh <= this.toleranceKwh;
    return {
      mode: 'admm',
      peerIds: [...allPeerIds],
      netKwh: netFromTrades(allPeerIds, T, trades),
      priceEurPerKwh: final.priceEurPerKwh,
      trades,
      rounds: final.round,
      converged,
    };
  }
}

/** What answers a round: a participant, or anything wrapping one. */
export interface AdmmProposer {
  readonly id: string;
  propose(round: AdmmRound): number[];
}

/** One peer's side: remembers its last proposal and answers each round with its local step. */
export class AdmmParticipant implements AdmmProposer {
  private lastKwh: number[];
  private readonly step: (priceEurPerKwh: readonly number[], targetKwh: readonly number[]) => number[];
  readonly id: string;

  constructor(prosumer: Prosumer, settings: AdmmSettings) {
    this.id = prosumer.profile.id;
    this.lastKwh = new Array<number>(prosumer.slots).fill(0);
    this.step = prosumer.localStep(perSlot(settings, prosumer.profile.stepHours).rho);
  }

  /** The last proposal made (kWh per slot, + buy): the most this peer may trade in the result. */
  get lastProposalKwh(): readonly number[] {
    return this.lastKwh;
  }

  propose(round: AdmmRound): number[] {
    this.lastKwh = this.step(round.priceEurPerKwh, this.lastKwh.map((q, t) => q - round.meanKwh[t]!));
    return this.lastKwh;
  }
}

/**
 * A neutral starting price every peer can compute from the tariff: half-way between feed-in and
 * the most a buyer pays a neighbour before the grid is cheaper (buy price − fee).
 */
export function initialPrice(buyEurPerKwh: readonly number[], sellEurPerKwh: readonly number[], feeEurPerKwh: number): number[] {
  return buyEurPerKwh.map((buy, t) => (sellEurPerKwh[t]! + Math.max(sellEurPerKwh[t]!, buy - feeEurPerKwh)) / 2);
}

/**
 * In-process clearing (tests, central comparison): every peer answers every round in id order.
 * `absentFrom` simulates a peer that stops answering at a given round.
 */
export function clearAdmm(
  prosumers: readonly Prosumer[],
  settings: AdmmSettings,
  initialPriceEurPerKwh: readonly number[],
  absentFrom: ReadonlyMap<string, number> = new Map(),
): Clearing {
  const participants = prosumers.map((p) => new AdmmParticipant(p, settings));
  const byId = new Map(participants.map((p) => [p.id, p]));
  const aggregator = new AdmmAggregator([...byId.keys()], initialPriceEurPerKwh, prosumers[0]!.profile.stepHours, settings);
  let round = aggregator.round;
  while (!round.done) {
    const received = new Map<string, number[]>();
    for (const id of round.participants) {
      if ((absentFrom.get(id) ?? Number.POSITIVE_INFINITY) <= round.round) continue;
      received.set(id, byId.get(id)!.propose(round));
    }
    round = aggregator.collect(received);
  }
  return aggregator.clearing([...byId.keys()]);
}
