/**
 * The hourly account (HourRecord) built from the fast loop's own readings: what the community
 * summary and the status page are made of. Energies come from the meter's and the PV
 * inverter's energy counters where the devices have them (interpolated at the hour boundary,
 * so the hours add up to the counters exactly), else by integrating power: the interval between
 * two iterations is measured by the reading that ends it, because the loop changes the battery
 * and the relays right after it reads, so the reading that starts an interval shows the state
 * before the change. A quantity a device did not report is not guessed.
 *
 * Violations are the chance-constraint rows of src/household/plant.ts, evaluated the same way (the
 * optimizer's `chanceRows`, the evaluation's tolerance): row k of each family of the plan step
 * k the fast loop followed, at the realised deviation ξ = w − μ_k − f_k averaged over the part
 * of the step inside the hour (the evaluation's steps are hours, so there it is the hour's ξ).
 * Safe-mode periods follow no plan and are not scored.
 *
 * Only hours observed from their start are recorded: the hour of the first iteration is left
 * out unless the loop began exactly on it, and so is any earlier hour (requests collected for
 * the time before the loop began, a clock that started the loop before the simulated start) —
 * a partial hour's energies would look like a whole hour's to whoever sums them.
 */
import type { GatewayConfig } from '../config/gateway-config.ts';
import { chanceRows, rowExcess, type ChanceFamily, type Plan } from '../optimizer/index.ts';
import { violationToleranceKw } from '../optimizer/settings.ts';
import type { HourRecord, HourTrade, MarketView, Measurement, TariffSource } from './types.ts';

const HOUR_MS = 3_600_000;
const FAMILIES: readonly ChanceFamily[] = ['import', 'export', 'discharge', 'charge', 'socMin', 'socMax'];

/** A lifetime energy counter (kWh) as read at `atMs` (the reading's own instant, not the iteration's). */
export interface CounterReading {
  atMs: number;
  kwh: number;
}

/** One fast-loop iteration, as the account needs it. */
export interface HourSample {
  atMs: number;
  measurement: Measurement;
  /** Lifetime energy counters of the meter and the PV inverter, where they have them. */
  counters: { imported?: CounterReading; exported?: CounterReading; pv?: CounterReading };
  safe: boolean;
  /** Shiftable energy served since the previous sample (kWh), and the requests that arrived. */
  servedKwh: number;
  arrivals: { atMs: number; energyKwh: number }[];
  /** The plan step covering this instant (in either mode), with the μ_k it was solved for. */
  step: { plan: Plan; index: number; netLoadForecastKw: number } | null;
  /** What the live community guard added to the battery command written at this instant (kW). */
  communityGuardKw: number;
}

interface StepDeviation {
  plan: Plan;
  index: number;
  sumKwH: number;
  hours: number;
}

interface HourBin {
  importKwh: number;
  exportKwh: number;
  pvKwh: number;
  chargeKwh: number;
  dischargeKwh: number;
  requestedKwh: number;
  servedKwh: number;
  peakImportKw: number;
  socMin: number;
  socMax: number;
  iterations: number;
  safeIterations: number;
  scheduledKwh: number;
  scheduledHours: number;
  communityGuardKwh: number;
  /** ξ of each plan step followed in this hour, keyed by plan start and step. */
  deviations: Map<string, StepDeviation>;
}

/** A quantity measured by a lifetime counter where there is one, else by integrating power. */
interface EnergyTrack {
  counter: CounterReading | null;
}

export class HourAccount {
  private readonly bins = new Map<number, HourBin>();
  private previous: HourSample | null = null;
  /** Instant of the first iteration: hours starting before it were not observed whole. */
  private firstAtMs = Number.NaN;
  private lastSocFraction = Number.NaN;
  private readonly tracks = { import: { counter: null } as EnergyTrack, export: { counter: null } as EnergyTrack, pv: { counter: null } as EnergyTrack };
  /** ξ averaged per step of the plan in force, for the SoC rows (they sum β ξ over the plan's earlier steps). */
  private planDeviations: { plan: Plan; sumKwH: number[]; hours: number[] } | null = null;
  private readonly bounds: { battery: GatewayConfig['site']['battery']; grid: GatewayConfig['site']['grid']; chance: { importLimit: GatewayConfig['control']['importLimit'] } };

  constructor(
    config: GatewayConfig,
    private readonly tariff: TariffSource,
    private readonly market: MarketView | null,
  ) {
    this.bounds = { battery: config.site.battery, grid: config.site.grid, chance: { importLimit: config.control.importLimit } };
  }

  /** Adds one iteration; returns the records of the hours that ended before it, oldest first. */
  add(sample: HourSample): HourRecord[] {
    const m = sample.measurement;
    if (Number.isNaN(this.firstAtMs)) this.firstAtMs = sample.atMs;
    const bin = this.bin(hourOf(sample.atMs));
    bin.iterations += 1;
    if (sample.safe) bin.safeIterations += 1;
    if (m.gridKw !== null) bin.peakImportKw = Math.max(bin.peakImportKw, m.gridKw);
    if (m.socFraction !== null) {
      this.lastSocFraction = m.socFraction;
      bin.socMin = Math.min(bin.socMin, m.socFraction);
      bin.socMax = Math.max(bin.socMax, m.socFraction);
    }
    for (const a of sample.arrivals) this.bin(hourOf(a.atMs)).requestedKwh += a.energyKwh;

    const prev = this.previous;
    if (prev) this.integrate(prev, sample);
    this.counter(this.tracks.import, sample.counters.imported, (b, kwh) => (b.importKwh += kwh));
    this.counter(this.tracks.export, sample.counters.exported, (b, kwh) => (b.exportKwh += kwh));
    this.counter(this.tracks.pv, sample.counters.pv, (b, kwh) => (b.pvKwh += kwh));
    this.previous = sample;
    return this.close(hourOf(sample.atMs));
  }

  /**
   * Import and export (kWh) of the hour holding `atMs`, from its start to this iteration's reading
   * (which `add` has not taken yet), measured as `add` will measure it: what the fast loop holds the
   * hour's average to.
   */
  hourSoFar(atMs: number, gridKw: number | null, counters: HourSample['counters']): { importKwh: number; exportKwh: number } {
    const hourStartMs = hourOf(atMs);
    const bin = this.bins.get(hourStartMs);
    const oldestOpen = Math.min(hourStartMs, ...this.bins.keys());
    const inHour = (fromMs: number, toMs: number, amount: number) => (toMs > fromMs ? (amount * Math.max(0, Math.min(toMs, hourStartMs + HOUR_MS) - Math.max(fromMs, hourStartMs))) / (toMs - fromMs) : 0);
    const since = (track: EnergyTrack, reading: CounterReading | undefined, powerKw: number | null): number => {
      if (track.counter && reading) return inHour(Math.max(track.counter.atMs, oldestOpen), reading.atMs, Math.max(0, reading.kwh - track.counter.kwh));
      const prevMs = this.previous?.atMs;
      if (track.counter || reading || prevMs === undefined || powerKw === null) return 0;
      return inHour(prevMs, atMs, (Math.max(0, powerKw) * (atMs - prevMs)) / HOUR_MS);
    };
    return {
      importKwh: (bin?.importKwh ?? 0) + since(this.tracks.import, counters.imported, gridKw),
      exportKwh: (bin?.exportKwh ?? 0) + since(this.tracks.export, counters.exported, gridKw === null ? null : -gridKw),
    };
  }

  /** What happened over [prev.atMs, next.atMs): measured by next's readings, under the plan step and mode prev chose. */
  private integrate(prev: HourSample, next: HourSample): void {
    const from = prev.atMs;
    const to = next.atMs;
    const m = next.measurement;
    const hours = (to - from) / HOUR_MS;
    const spread = (amount: number, add: (bin: HourBin, share: number) => void) => this.spread(from, to, amount, add);
    if (m.batteryKw !== null) {
      spread(Math.max(0, m.batteryKw) * hours, (b, kwh) => (b.dischargeKwh += kwh));
      spread(Math.max(0, -m.batteryKw) * hours, (b, kwh) => (b.chargeKwh += kwh));
    }
    // Power is integrated only for a quantity whose device has shown no counter: once it has,
    // the counter covers every interval (a gap included) and integrating too would count twice.
    const { tracks } = this;
    if (m.gridKw !== null) {
      if (!tracks.import.counter && !next.counters.imported) spread(Math.max(0, m.gridKw) * hours, (b, kwh) => (b.importKwh += kwh));
      if (!tracks.export.counter && !next.counters.exported) spread(Math.max(0, -m.gridKw) * hours, (b, kwh) => (b.exportKwh += kwh));
    }
    if (m.pvKw !== null && !tracks.pv.counter && !next.counters.pv) spread(m.pvKw * hours, (b, kwh) => (b.pvKwh += kwh));
    spread(next.servedKwh, (b, kwh) => (b.servedKwh += kwh));
    // As commanded: what the battery then delivered is in its discharge.
    spread(prev.communityGuardKw * hours, (b, kwh) => (b.communityGuardKwh += kwh));

    const step = prev.step;
    if (step) {
      const scheduledKw = step.plan.gridImportKw[step.index]! - step.plan.gridExportKw[step.index]!;
      spread(hours, (b, h) => {
        b.scheduledKwh += scheduledKw * h;
        b.scheduledHours += h;
      });
    }
    if (step && !prev.safe && m.netLoadKw !== null) {
      const deviationKw = m.netLoadKw - step.netLoadForecastKw - step.plan.shiftableKw[step.index]!;
      const key = `${step.plan.startMs}:${step.index}`;
      spread(hours, (b, h) => {
        const d = b.deviations.get(key) ?? { plan: step.plan, index: step.index, sumKwH: 0, hours: 0 };
        d.sumKwH += deviationKw * h;
        d.hours += h;
        b.deviations.set(key, d);
      });
      if (this.planDeviations?.plan !== step.plan) {
        const T = step.plan.stepHours.length;
        this.planDeviations = { plan: step.plan, sumKwH: new Array<number>(T).fill(0), hours: new Array<number>(T).fill(0) };
      }
      this.planDeviations.sumKwH[step.index]! += deviationKw * hours;
      this.planDeviations.hours[step.index]! += hours;
    }
  }

  /**
   * A counter reading: the energy since the previous reading of the same counter is spread
   * over the time between them. Energy that belongs to hours already closed (the counter was
   * missing across an hour boundary) goes to the oldest open hour, so the hours still add up.
   */
  private counter(track: EnergyTrack, reading: CounterReading | undefined, add: (bin: HourBin, kwh: number) => void): void {
    if (!reading) return;
    if (track.counter) {
      const oldestOpen = Math.min(...this.bins.keys());
      this.spread(Math.max(track.counter.atMs, oldestOpen), reading.atMs, Math.max(0, reading.kwh - track.counter.kwh), add);
    }
    track.counter = reading;
  }

  /** Splits `amount` over [fromMs, toMs) in proportion to the time in each hour. */
  private spread(fromMs: number, toMs: number, amount: number, add: (bin: HourBin, share: number) => void): void {
    if (!(toMs > fromMs) || amount === 0) return;
    for (let t = fromMs; t < toMs; ) {
      const end = Math.min(toMs, hourOf(t) + HOUR_MS);
      add(this.bin(hourOf(t)), (amount * (end - t)) / (toMs - fromMs));
      t = end;
    }
  }

  private bin(hourStartMs: number): HourBin {
    let bin = this.bins.get(hourStartMs);
    if (!bin) {
      bin = {
        importKwh: 0, exportKwh: 0, pvKwh: 0, chargeKwh: 0, dischargeKwh: 0, requestedKwh: 0, servedKwh: 0,
        peakImportKw: 0, socMin: Infinity, socMax: -Infinity, iterations: 0, safeIterations: 0,
        scheduledKwh: 0, scheduledHours: 0, communityGuardKwh: 0, deviations: new Map(),
      };
      this.bins.set(hourStartMs, bin);
    }
    return bin;
  }

  private close(currentHourMs: number): HourRecord[] {
    const records: HourRecord[] = [];
    for (const hourStartMs of [...this.bins.keys()].sort((a, b) => a - b)) {
      if (hourStartMs >= currentHourMs) break;
      if (hourStartMs >= this.firstAtMs) records.push(this.record(hourStartMs, this.bins.get(hourStartMs)!));
      this.bins.delete(hourStartMs);
    }
    return records;
  }

  private record(hourStartMs: number, bin: HourBin): HourRecord {
    const trades = this.tradesOf(hourStartMs);
    // An hour without a reading of its own (the loop stalled through it) keeps the SoC last seen.
    const socMin = Number.isFinite(bin.socMin) ? bin.socMin : this.lastSocFraction;
    const socMax = Number.isFinite(bin.socMax) ? bin.socMax : this.lastSocFraction;
    return {
      hourStartMs,
      importKwh: bin.importKwh,
      exportKwh: bin.exportKwh,
      peakImportKw: bin.peakImportKw,
      pvKwh: bin.pvKwh,
      batteryDischargeKwh: bin.dischargeKwh,
      batteryChargeKwh: bin.chargeKwh,
      shiftableRequestedKwh: bin.requestedKwh,
      shiftableServedKwh: bin.servedKwh,
      scheduledGridKw: bin.scheduledHours > 0 ? bin.scheduledKwh / bin.scheduledHours : null,
      ...this.tariff.hour(hourStartMs),
      tradeKwh: trades.kwh,
      tradeCostEur: trades.costEur,
      trades: trades.list,
      socMinFraction: socMin,
      socMaxFraction: socMax,
      violations: this.violations(bin),
      communityGuardKwh: bin.communityGuardKwh,
      safeIterations: bin.safeIterations,
      iterations: bin.iterations,
    };
  }

  private violations(bin: HourBin): string[] {
    const violated = new Set<ChanceFamily>();
    for (const d of bin.deviations.values()) {
      if (!(d.hours > 0)) continue;
      // ξ of the plan's earlier steps as realised, this step's as realised in this hour.
      const xi = d.plan.stepHours.map((_, s) => {
        if (s === d.index) return d.sumKwH / d.hours;
        const pd = this.planDeviations;
        return pd && pd.plan === d.plan && s < d.index && pd.hours[s]! > 0 ? pd.sumKwH[s]! / pd.hours[s]! : 0;
      });
      for (const family of FAMILIES) {
        const row = chanceRows(this.bounds, d.plan, family)[d.index]!;
        if (rowExcess([row], xi)[0]! > violationToleranceKw) violated.add(family);
      }
    }
    return FAMILIES.filter((f) => violated.has(f));
  }

  /** Committed P2P trades of the hour: + bought; the buyer pays the price plus the P2P grid fee, the seller earns the price. */
  private tradesOf(hourStartMs: number): { kwh: number; costEur: number; list: HourTrade[] } {
    let kwh = 0;
    let costEur = 0;
    const list: HourTrade[] = [];
    for (const t of this.market?.trades() ?? []) {
      if (t.state !== 'committed') continue;
      const overlapH = (Math.min(t.slotEndMs, hourStartMs + HOUR_MS) - Math.max(t.slotStartMs, hourStartMs)) / HOUR_MS;
      if (!(overlapH > 0)) continue;
      const e = t.powerKw * overlapH;
      kwh += e;
      costEur += e * t.priceEurPerKwh + Math.max(0, e) * this.tariff.p2pGridFeeEurPerKwh;
      list.push({ tradeId: t.tradeId, peerId: t.peerId, energyKwh: e, priceEurPerKwh: t.priceEurPerKwh });
    }
    return { kwh, costEur, list };
  }
}

function hourOf(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}
