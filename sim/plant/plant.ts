/**
 * The simulated physical world behind the devices. Every call first integrates the state up
 * to `clock.nowMs()` (lazily, piecewise: never across a profile hour, never longer than
 * `maxStepMs`, with the flows of each piece taken at its start), so every value read at one
 * instant is consistent: meter = load + relay loads − PV − battery (+ discharge).
 *
 * A relay load is either a plain load (its rating while the relay is on) or an appliance with
 * its own requests (`demand`): requested energy arrives into the appliance's pending energy, and
 * with the relay on the appliance draws its rating while something is pending and, once nothing
 * is, only what arrives (at most its rating) — so a relay left on over an empty appliance draws
 * nothing. Pieces also end where the pending energy runs out, so each piece's flows hold for it.
 */
import type { Clock } from '../../src/time/clock.ts';
import type { PlantView } from './plant-view.ts';
import { loadProfile, type Profile } from './profile.ts';
import { cellVoltagesV, defaultBatteryParams, liveLimitsKw, packVoltageV, validateBatteryParams, type BatteryParams } from './battery-pack.ts';

const HOUR_MS = 3_600_000;

/** Below this, an appliance has nothing pending (kWh): float dust from draining is not a job. */
const EMPTY_KWH = 1e-9;

export interface RelayLoad {
  channel: number;
  ratedPowerKw: number;
  /** The appliance's own requests; without them the load draws its rating whenever the relay is on. */
  demand?: RelayDemand;
}

/** Requests made of an appliance, as a rate (kW): the energy asked for in [a, b) is its integral. */
export interface RelayDemand {
  /** Rate at `tMs`, constant until `nextChangeMs(tMs)`. */
  requestKw(tMs: number): number;
  /** The next instant after `tMs` at which the rate may change. */
  nextChangeMs(tMs: number): number;
}

export interface PlantOptions {
  clock: Clock;
  /** The instant the plant's state is at (default: the clock's now); it integrates from there. */
  startMs?: number;
  profile?: Profile;
  pvRatedPowerKw?: number;
  battery?: Partial<BatteryParams>;
  initialSocFraction?: number;
  temperatureC?: number;
  /** Shiftable loads by relay channel; none by default. */
  relays?: RelayLoad[];
  /** Longest integration piece: short enough that the SoC taper is followed smoothly. */
  maxStepMs?: number;
}

/** Energy that crossed each boundary since the plant started (kWh, all ≥ 0), and the SoC range so far. */
export interface PlantTotals {
  loadKwh: number;
  relayLoadKwh: number;
  pvKwh: number;
  batteryChargeAcKwh: number;
  batteryDischargeAcKwh: number;
  importedKwh: number;
  exportedKwh: number;
  minSocFraction: number;
  maxSocFraction: number;
}

interface Appliance {
  ratedKw: number;
  demand: RelayDemand | null;
  on: boolean;
  pendingKwh: number;
}

interface Flows {
  loadKw: number;
  /** By channel; their sum is what the relays add to the meter. */
  relayKw: Map<number, number>;
  pvKw: number;
  batteryKw: number;
  netImportKw: number;
  maxChargeKw: number;
  maxDischargeKw: number;
}

export class Plant implements PlantView {
  readonly battery: BatteryParams;
  private readonly clock: Clock;
  private readonly profile: Profile;
  private readonly pvRatedKw: number;
  private readonly appliances: Map<number, Appliance>;
  private readonly maxStepMs: number;
  private tMs: number;
  private storedKwh: number;
  private temperatureC: number;
  private setpointKw = 0;
  private pvLimitFraction: number | null = null;
  private readonly totalsKwh: PlantTotals;

  constructor(options: PlantOptions) {
    this.clock = options.clock;
    this.profile = options.profile ?? loadProfile();
    this.battery = validateBatteryParams({ ...defaultBatteryParams, ...options.battery });
    this.pvRatedKw = options.pvRatedPowerKw ?? 10;
    if (!(this.pvRatedKw > 0)) throw new RangeError(`pvRatedPowerKw must be > 0, got ${this.pvRatedKw}`);
    this.appliances = new Map((options.relays ?? []).map((r) => [r.channel, { ratedKw: r.ratedPowerKw, demand: r.demand ?? null, on: false, pendingKwh: 0 }]));
    this.maxStepMs = options.maxStepMs ?? 10_000;
    const soc = options.initialSocFraction ?? 0.5;
    if (!(soc >= this.battery.minSocFraction && soc <= this.battery.maxSocFraction)) {
      throw new RangeError(`initialSocFraction ${soc} is outside [${this.battery.minSocFraction}, ${this.battery.maxSocFraction}]`);
    }
    this.storedKwh = soc * this.battery.capacityKwh;
    this.temperatureC = options.temperatureC ?? 25;
    this.tMs = options.startMs ?? this.clock.nowMs();
    this.totalsKwh = { loadKwh: 0, relayLoadKwh: 0, pvKwh: 0, batteryChargeAcKwh: 0, batteryDischargeAcKwh: 0, importedKwh: 0, exportedKwh: 0, minSocFraction: soc, maxSocFraction: soc };
  }

  pvAcPowerKw(): number {
    return this.now().pvKw;
  }
  pvRatedPowerKw(): number {
    return this.pvRatedKw;
  }
  pvEnergyKwh(): number {
    this.now();
    return this.totalsKwh.pvKwh;
  }
  setPvLimitFraction(fraction: number | null): void {
    if (fraction !== null && !(fraction >= 0 && fraction <= 1)) throw new RangeError(`PV limit fraction must be in [0, 1] or null, got ${fraction}`);
    this.now();
    this.pvLimitFraction = fraction;
  }

  meterNetImportKw(): number {
    return this.now().netImportKw;
  }
  meterImportedEnergyKwh(): number {
    this.now();
    return this.totalsKwh.importedKwh;
  }
  meterExportedEnergyKwh(): number {
    this.now();
    return this.totalsKwh.exportedKwh;
  }
  /** The feeder's impedance makes import pull the voltage down and export push it up. */
  gridVoltageV(): number {
    return 230 - 0.4 * this.now().netImportKw;
  }
  gridFrequencyHz(): number {
    return 50;
  }

  batteryPowerKw(): number {
    return this.now().batteryKw;
  }
  batteryEnergyKwh(): number {
    this.now();
    return this.storedKwh;
  }
  batteryCapacityKwh(): number {
    return this.battery.capacityKwh;
  }
  batterySocFraction(): number {
    this.now();
    return this.soc();
  }
  batteryMaxChargeKw(): number {
    return this.now().maxChargeKw;
  }
  batteryMaxDischargeKw(): number {
    return this.now().maxDischargeKw;
  }
  batteryPackVoltageV(): number {
    return packVoltageV(this.batteryCellVoltagesV());
  }
  batteryCellVoltagesV(): number[] {
    const { batteryKw } = this.now();
    return cellVoltagesV(this.battery, this.soc(), this.dcPowerKw(batteryKw));
  }
  batteryTemperaturesC(): number[] {
    this.now();
    return Array.from({ length: this.battery.temperatureSensors }, (_, i) => this.temperatureC + 0.5 * i);
  }
  setBatterySetpointKw(powerKw: number): void {
    if (!Number.isFinite(powerKw)) throw new RangeError(`battery setpoint must be a finite number, got ${powerKw}`);
    this.now();
    this.setpointKw = powerKw;
  }
  /** The commanded power before the plant clips it to the live limits. */
  batterySetpointKw(): number {
    return this.setpointKw;
  }
  /** A what-if / fault switch: the pack's temperature, which derates the live limits. */
  setBatteryTemperatureC(temperatureC: number): void {
    this.now();
    this.temperatureC = temperatureC;
  }

  relayOn(channel: number): boolean {
    const appliance = this.appliance(channel);
    this.now();
    return appliance.on;
  }
  setRelay(channel: number, on: boolean): void {
    const appliance = this.appliance(channel);
    this.now();
    appliance.on = on;
  }
  /** The load's rating: what it draws while on with something to do. */
  relayLoadKw(channel: number): number {
    return this.appliance(channel).ratedKw;
  }
  /** What the load on `channel` draws now (kW). */
  relayDrawKw(channel: number): number {
    this.appliance(channel);
    return this.now().relayKw.get(channel)!;
  }
  /** Energy asked of the appliance on `channel` and not drawn yet (kWh); 0 for a plain load. */
  relayPendingKwh(channel: number): number {
    const appliance = this.appliance(channel);
    this.now();
    return appliance.pendingKwh;
  }

  totals(): PlantTotals {
    this.now();
    return { ...this.totalsKwh };
  }

  private appliance(channel: number): Appliance {
    const appliance = this.appliances.get(channel);
    if (!appliance) throw new RangeError(`no relay load on channel ${channel} (channels: ${[...this.appliances.keys()].join(', ')})`);
    return appliance;
  }

  /**
   * Where a piece starting at `tMs` must end for the appliances' draw to stay constant over it:
   * a change of a request rate, or the instant a running appliance's pending energy runs out.
   */
  private applianceEventMs(tMs: number): number {
    let endMs = Infinity;
    for (const a of this.appliances.values()) {
      if (!a.demand) continue;
      endMs = Math.min(endMs, a.demand.nextChangeMs(tMs));
      const netDrainKw = a.ratedKw - a.demand.requestKw(tMs);
      if (!(a.on && a.pendingKwh > EMPTY_KWH && netDrainKw > 0)) continue;
      const emptyMs = tMs + (a.pendingKwh / netDrainKw) * HOUR_MS;
      // Too little left to reach the next representable instant: it is rounding, not a job.
      if (emptyMs > tMs) endMs = Math.min(endMs, emptyMs);
      else a.pendingKwh = 0;
    }
    return endMs;
  }

  private soc(): number {
    return this.storedKwh / this.battery.capacityKwh;
  }

  private dcPowerKw(acKw: number): number {
    return acKw >= 0 ? acKw / this.battery.dischargeEfficiency : acKw * this.battery.chargeEfficiency;
  }

  /** Brings the state up to the clock, then returns the flows in force now. */
  private now(): Flows {
    const nowMs = this.clock.nowMs();
    while (this.tMs < nowMs) {
      const endMs = Math.min(nowMs, this.profile.nextChangeMs(this.tMs), this.tMs + this.maxStepMs, this.applianceEventMs(this.tMs));
      this.integrate(this.tMs, this.flows(this.tMs, (endMs - this.tMs) / HOUR_MS), (endMs - this.tMs) / HOUR_MS);
      this.tMs = endMs;
    }
    return this.flows(this.tMs, 0);
  }

  /**
   * Flows at `tMs`, with the battery power also clipped so that holding it for `durationH`
   * cannot carry the stored energy past a SoC bound (the BMS would cut off there).
   */
  private flows(tMs: number, durationH: number): Flows {
    const { loadKw, pvKw: availablePvKw } = this.profile.at(tMs);
    const pvKw = this.pvLimitFraction === null ? availablePvKw : Math.min(availablePvKw, this.pvLimitFraction * this.pvRatedKw);
    const relayKw = new Map<number, number>();
    let relaySumKw = 0;
    for (const [channel, a] of this.appliances) {
      const drawKw = !a.on ? 0 : !a.demand || a.pendingKwh > EMPTY_KWH ? a.ratedKw : Math.min(a.ratedKw, a.demand.requestKw(tMs));
      relayKw.set(channel, drawKw);
      relaySumKw += drawKw;
    }
    const { maxChargeKw, maxDischargeKw } = liveLimitsKw(this.battery, this.soc(), this.temperatureC);
    let batteryKw = Math.min(maxDischargeKw, Math.max(-maxChargeKw, this.setpointKw));
    if (durationH > 0) {
      const p = this.battery;
      const roomToFillKwh = Math.max(0, p.maxSocFraction * p.capacityKwh - this.storedKwh);
      const roomToEmptyKwh = Math.max(0, this.storedKwh - p.minSocFraction * p.capacityKwh);
      batteryKw = Math.min(batteryKw, (roomToEmptyKwh * p.dischargeEfficiency) / durationH);
      batteryKw = Math.max(batteryKw, -roomToFillKwh / p.chargeEfficiency / durationH);
    }
    batteryKw ||= 0; // no negative zero in what devices report
    return { loadKw, relayKw, pvKw, batteryKw, netImportKw: loadKw + relaySumKw - pvKw - batteryKw, maxChargeKw, maxDischargeKw };
  }

  private integrate(fromMs: number, f: Flows, durationH: number): void {
    const p = this.battery;
    const t = this.totalsKwh;
    for (const [channel, a] of this.appliances) {
      const drawKw = f.relayKw.get(channel)!;
      t.relayLoadKwh += drawKw * durationH;
      if (!a.demand) continue;
      const draining = drawKw >= a.ratedKw && a.pendingKwh > EMPTY_KWH;
      a.pendingKwh = Math.max(0, a.pendingKwh + (a.demand.requestKw(fromMs) - drawKw) * durationH);
      // A piece that drained the appliance ends where it ran out: what is left is rounding.
      if (draining && a.pendingKwh <= EMPTY_KWH) a.pendingKwh = 0;
    }
    this.storedKwh -= this.dcPowerKw(f.batteryKw) * durationH;
    this.storedKwh = Math.min(p.maxSocFraction * p.capacityKwh, Math.max(p.minSocFraction * p.capacityKwh, this.storedKwh));
    t.loadKwh += f.loadKw * durationH;
    t.pvKwh += f.pvKw * durationH;
    t.batteryDischargeAcKwh += Math.max(0, f.batteryKw) * durationH;
    t.batteryChargeAcKwh += Math.max(0, -f.batteryKw) * durationH;
    t.importedKwh += Math.max(0, f.netImportKw) * durationH;
    t.exportedKwh += Math.max(0, -f.netImportKw) * durationH;
    t.minSocFraction = Math.min(t.minSocFraction, this.soc());
    t.maxSocFraction = Math.max(t.maxSocFraction, this.soc());
  }
}
