/**
 * The demo: the simulator and a gateway in one process on one accelerated clock. The gateway
 * discovers the simulated devices from the `sim` board profile exactly as it would find real
 * ones, reads them every control step, drives the battery with the self-consumption rule and
 * the surplus relay, prints a reading every 15 simulated minutes, then a summary.
 */
import { ScaledClock } from '../time/clock.ts';
import type { BatteryValues, LoadRelay, MeterValues, PvValues, Reading } from '../devices/capabilities.ts';
import { loadBoardProfile } from '../config/board.ts';
import { assembleGateway, type Gateway } from '../gateway/assemble.ts';
import { formatDiscoveryReport } from '../gateway/report.ts';
import { simBoardFile, startSimulator } from '../../sim/simulator.ts';
import type { PlantTotals } from '../../sim/plant/plant.ts';
import { selfConsumptionSetpointKw, surplusRelayOn } from './self-consumption.ts';

const MINUTE_MS = 60_000;

export interface DemoOptions {
  hours: number;
  /** Simulated seconds per wall-clock second. */
  speed: number;
  startMs: number;
  readingEveryMs?: number;
  controlEveryMs?: number;
  write?: (line: string) => void;
}

export interface DemoSummary {
  /** Simulated time between the first and the last reading. */
  hours: number;
  importedKwh: number;
  exportedKwh: number;
  pvKwh: number;
  /** Share of the PV energy used on site (by the house or the battery): 1 − exported / PV. */
  selfConsumptionFraction: number;
  peakImportKw: number;
  socMinFraction: number;
  socMaxFraction: number;
  /** Failed reads and writes per device id. */
  deviceErrors: Record<string, number>;
  controlSteps: number;
  /** Control instants that passed while an earlier step was still running: never run late, counted instead. */
  skippedControlSteps: number;
}

export interface DemoResult {
  summary: DemoSummary;
  /**
   * The plant's own counters just before and just after the control step of the gateway's
   * first and last reading: the counters the gateway read lie between them (they only grow).
   */
  plantAroundFirstReading: Bracket;
  plantAroundLastReading: Bracket;
  discovered: string[];
}

export interface Bracket {
  before: PlantTotals;
  after: PlantTotals;
}

interface Counters {
  importedKwh: number;
  exportedKwh: number;
  pvKwh: number;
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const readingEveryMs = options.readingEveryMs ?? 15 * MINUTE_MS;
  // A step reads every device and, every reading period, switches and reads the relays: up to
  // ~160 ms of wall time with the 9600-Bd relay board. At the CLI's default 2400× a 5-minute
  // period leaves 125 ms, so few steps are skipped; 1 minute at 3600× (17 ms) skipped a third.
  const controlEveryMs = options.controlEveryMs ?? 5 * MINUTE_MS;
  const clock = new ScaledClock(options.startMs, options.speed);
  const sim = await startSimulator({ clock });
  let gateway: Gateway | undefined;
  try {
    const board = loadBoardProfile(simBoardFile, sim.vars);
    gateway = await assembleGateway(board, { clock });
    write(formatDiscoveryReport(gateway.report));
    const loop = new ControlLoop(gateway, controlEveryMs, write);
    const endMs = clock.nowMs() + options.hours * 3_600_000;
    let first: { counters: Counters; plant: Bracket; atMs: number } | undefined;
    let last = first;
    let nextReadingMs = nextMultiple(clock.nowMs(), readingEveryMs);
    write(ControlLoop.header);
    // Steps fall on whole control periods and readings on whole reading periods of simulated
    // time; a step the gateway was too slow for is skipped (and counted), not squeezed in late.
    let skipped = 0;
    const lastStepAtMs = Math.floor(endMs / controlEveryMs) * controlEveryMs;
    for (let stepAtMs = nextMultiple(clock.nowMs(), controlEveryMs); stepAtMs <= lastStepAtMs; ) {
      if (clock.nowMs() < stepAtMs) await clock.sleep(stepAtMs - clock.nowMs());
      const print = stepAtMs >= nextReadingMs;
      if (print) nextReadingMs = nextMultiple(stepAtMs + 1, readingEveryMs);
      const before = sim.plant.totals();
      const counters = await loop.step(stepAtMs, print);
      if (counters) {
        last = { counters, plant: { before, after: sim.plant.totals() }, atMs: clock.nowMs() };
        first ??= last;
      }
      const nextAtMs = nextMultiple(Math.max(stepAtMs + 1, clock.nowMs()), controlEveryMs);
      skipped += (Math.min(nextAtMs, lastStepAtMs + controlEveryMs) - stepAtMs) / controlEveryMs - 1;
      stepAtMs = nextAtMs;
    }
    if (!first || !last) throw new Error('the gateway never read the meter and the PV inverter: no summary possible (see the discovery report above)');
    const summary = loop.summarise(first, last, skipped);
    for (const line of formatSummary(summary)) write(line);
    return { summary, plantAroundFirstReading: first.plant, plantAroundLastReading: last.plant, discovered: gateway.report.filter((r) => r.found).map((r) => r.id) };
  } finally {
    await gateway?.close();
    await sim.close();
  }
}

/** One control step: read everything, decide, command; it remembers what the summary needs. */
class ControlLoop {
  static readonly header = `${'time (UTC)'.padEnd(17)} ${'PV kW'.padStart(7)} ${'load kW'.padStart(8)} ${'meter kW'.padStart(9)} ${'batt kW'.padStart(8)} ${'SoC %'.padStart(6)}  relays`;
  private peakImportKw = -Infinity;
  private socMin = Infinity;
  private socMax = -Infinity;
  private steps = 0;
  private readonly errors = new Map<string, number>();
  private readonly relayOn = new Map<string, boolean>();

  constructor(
    private readonly gw: Gateway,
    private readonly controlEveryMs: number,
    private readonly write: (line: string) => void,
  ) {}

  async step(atMs: number, print: boolean): Promise<Counters | undefined> {
    this.steps++;
    const { meter, pv, battery } = this.gw;
    const [m, p, b] = await Promise.all([meter && this.readOf(meter.id, meter.read()), pv && this.readOf(pv.id, pv.read()), battery && this.readOf(battery.id, battery.read())]);
    if (m) this.peakImportKw = Math.max(this.peakImportKw, m.netImportKw);
    if (b) {
      this.socMin = Math.min(this.socMin, b.socFraction);
      this.socMax = Math.max(this.socMax, b.socFraction);
    }
    if (battery && m && b) {
      const setpointKw = selfConsumptionSetpointKw({ netImportKw: m.netImportKw, batteryPowerKw: b.powerKw, maxChargeKw: b.maxChargeKw, maxDischargeKw: b.maxDischargeKw });
      // A few steps of grace: if the gateway stalls, the inverter falls back to 0 kW by itself.
      await this.attempt(battery.id, battery.setPowerSetpoint(setpointKw, 10 * this.controlEveryMs));
    }
    if (print) {
      if (m) {
        // Each relay decides on the balance the ones before it leave.
        let balanceKw = m.netImportKw;
        for (const relay of this.gw.relays) balanceKw = await this.switchForSurplus(relay, balanceKw);
      }
      await this.printReading(atMs, m, p, b);
    }
    if (!m || !p || m.importedEnergyKwh === undefined || m.exportedEnergyKwh === undefined || p.energyKwh === undefined) return undefined;
    return { importedKwh: m.importedEnergyKwh, exportedKwh: m.exportedEnergyKwh, pvKwh: p.energyKwh };
  }

  summarise(first: { counters: Counters; atMs: number }, last: { counters: Counters; atMs: number }, skippedControlSteps: number): DemoSummary {
    const delta = (k: keyof Counters) => last.counters[k] - first.counters[k];
    const pvKwh = delta('pvKwh');
    const deviceErrors: Record<string, number> = {};
    for (const [id, n] of this.errors) deviceErrors[id] = n;
    return {
      hours: (last.atMs - first.atMs) / 3_600_000,
      importedKwh: delta('importedKwh'),
      exportedKwh: delta('exportedKwh'),
      pvKwh,
      selfConsumptionFraction: pvKwh > 0 ? 1 - delta('exportedKwh') / pvKwh : 1,
      peakImportKw: this.peakImportKw,
      socMinFraction: this.socMin,
      socMaxFraction: this.socMax,
      deviceErrors,
      controlSteps: this.steps,
      skippedControlSteps,
    };
  }

  /** Switches the relay if the surplus rule says so; returns the balance expected afterwards. */
  private async switchForSurplus(relay: LoadRelay, netImportKw: number): Promise<number> {
    const on = this.relayOn.get(relay.id) ?? false;
    const wanted = surplusRelayOn(on, netImportKw, relay.ratedPowerKw);
    if (wanted === on || !(await this.attempt(relay.id, relay.switch(wanted)))) return netImportKw;
    this.relayOn.set(relay.id, wanted);
    return netImportKw + (wanted ? relay.ratedPowerKw : -relay.ratedPowerKw);
  }

  private async printReading(atMs: number, m: MeterValues | undefined, p: PvValues | undefined, b: BatteryValues | undefined): Promise<void> {
    // Relays on different buses answer in parallel; those sharing a bus queue on it anyway.
    const states = await Promise.all(this.gw.relays.map((relay) => this.readOf(relay.id, relay.read())));
    const relays = this.gw.relays.map((relay, i) => `${relay.id}:${states[i] ? (states[i].on ? 'on' : 'off') : 'n/a'}`);
    const num = (v: number | undefined, width: number, digits = 2) => (v === undefined ? 'n/a' : v.toFixed(digits)).padStart(width);
    const loadKw = m && p && b ? m.netImportKw + p.acPowerKw + b.powerKw : undefined;
    const time = new Date(atMs).toISOString().slice(0, 16).replace('T', ' ');
    this.write(`${time.padEnd(17)} ${num(p?.acPowerKw, 7)} ${num(loadKw, 8)} ${num(m?.netImportKw, 9)} ${num(b?.powerKw, 8)} ${num(b && b.socFraction * 100, 6, 1)}  ${relays.join(' ')}`);
  }

  private async readOf<T>(id: string, reading: Promise<Reading<T>>): Promise<T | undefined> {
    const r = await reading;
    if (r.ok) return r.value;
    this.errors.set(id, (this.errors.get(id) ?? 0) + 1);
    return undefined;
  }

  private async attempt(id: string, action: Promise<void>): Promise<boolean> {
    try {
      await action;
      return true;
    } catch {
      this.errors.set(id, (this.errors.get(id) ?? 0) + 1);
      return false;
    }
  }
}

function nextMultiple(tMs: number, periodMs: number): number {
  return Math.ceil(tMs / periodMs) * periodMs;
}

function formatSummary(s: DemoSummary): string[] {
  const errors = Object.entries(s.deviceErrors);
  return [
    '',
    `summary over ${s.hours.toFixed(2)} simulated hours`,
    `  control steps          ${s.controlSteps} ran, ${s.skippedControlSteps} skipped (the gateway was still busy with an earlier one)`,
    `  energy imported        ${s.importedKwh.toFixed(3)} kWh`,
    `  energy exported        ${s.exportedKwh.toFixed(3)} kWh`,
    `  PV energy              ${s.pvKwh.toFixed(3)} kWh`,
    `  self-consumption       ${(s.selfConsumptionFraction * 100).toFixed(1)} % of PV used on site`,
    `  peak import            ${s.peakImportKw.toFixed(2)} kW`,
    `  battery SoC range      ${(s.socMinFraction * 100).toFixed(1)} % … ${(s.socMaxFraction * 100).toFixed(1)} %`,
    `  device errors          ${errors.length === 0 ? 'none' : errors.map(([id, n]) => `${id}: ${n}`).join(', ')}`,
  ];
}
