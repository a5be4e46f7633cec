/**
 * Telemetry test fixtures: snapshots built around plans the real optimizer solved on the
 * synthetic household (10 kWh battery, one peer with two committed slots), and an MQTT watcher
 * that records everything under a test's own prefixes and clears what it left retained.
 */
import { randomUUID } from 'node:crypto';
import { connectAsync, type MqttClient } from 'mqtt';
import { createOptimizer, type Plan } from '../../src/optimizer/index.ts';
import { pvKw, syntheticInput } from '../../src/optimizer/synthetic.ts';
import type { HourRecord, RuntimeSnapshot, SafetyEvent, TradeView } from '../../src/runtime/types.ts';
import { planBatteryKw, planGridKw, stepStartsMs } from '../../src/telemetry/messages.ts';

const MS_PER_HOUR = 3_600_000;
export const CAPACITY_KWH = 10;
/** 10:00 UTC on a June day: PV is up, so the plan exports and charges. */
export const PLAN_START_MS = Date.UTC(2026, 5, 15, 10, 0);

export async function solvedPlan(options: { startMs?: number; stepHours: number[]; samples?: number; initialEnergyKwh?: number }): Promise<Plan> {
  const startMs = options.startMs ?? PLAN_START_MS;
  const optimizer = createOptimizer({ solver: 'highs' });
  try {
    const input = syntheticInput({
      stepHours: options.stepHours,
      samples: options.samples ?? 5,
      startHour: new Date(startMs).getUTCHours() + new Date(startMs).getUTCMinutes() / 60,
      peers: 1,
      initialEnergyKwh: options.initialEnergyKwh ?? 5,
    });
    const result = await optimizer.solve(input, { startMs });
    if (!result.ok) throw new Error(`fixture plan did not solve: ${result.status} ${result.message}`);
    return result.plan;
  } finally {
    optimizer.dispose();
  }
}

/** The plan's committed P2P slots (the synthetic peer fixes steps 0 and 1) as the ledger shows them. */
export function committedTrades(plan: Plan): TradeView[] {
  const starts = stepStartsMs(plan);
  return Object.entries(plan.tradesKw).flatMap(([peerId, kw]) =>
    kw.slice(0, 2).map((powerKw, t) => ({
      tradeId: `${peerId}-${t}`,
      peerId,
      slotStartMs: starts[t]!,
      slotEndMs: starts[t]! + plan.stepHours[t]! * MS_PER_HOUR,
      powerKw,
      priceEurPerKwh: 0.21,
      state: 'committed',
    })),
  );
}

/**
 * The gateway at `atMs`, following `plan` with a small real-time deviation: the battery covers
 * β of it (the decision rule) and the grid the rest.
 */
export function snapshotAt(plan: Plan, atMs: number, overrides: Partial<RuntimeSnapshot> = {}): RuntimeSnapshot {
  const starts = stepStartsMs(plan);
  const t = Math.max(0, starts.filter((s) => s <= atMs).length - 1);
  const share = Math.min(1, (atMs - starts[t]!) / (plan.stepHours[t]! * MS_PER_HOUR));
  const deviationKw = 0.3 * Math.sin(atMs / 600_000);
  const beta = plan.decisionRule[t]!;
  const batteryKw = planBatteryKw(plan)[t]! + beta * deviationKw;
  const gridKw = planGridKw(plan)[t]! + (1 - beta) * deviationKw;
  const energyKwh = plan.energyKwh[t]! + share * (plan.energyKwh[t + 1]! - plan.energyKwh[t]!);
  const hour = new Date(atMs).getUTCHours() + new Date(atMs).getUTCMinutes() / 60;
  return {
    gatewayId: 'gw-test',
    atMs,
    measurement: {
      atMs,
      gridKw,
      pvKw: pvKw(hour),
      batteryKw,
      socFraction: energyKwh / CAPACITY_KWH,
      energyKwh,
      maxChargeKw: 4,
      maxDischargeKw: 4,
      netLoadKw: gridKw + batteryKw,
      relaysOn: [plan.shiftableKw[t]! > 0.05],
    },
    setpoint: { atMs, requestedKw: batteryKw, commandedKw: batteryKw, mode: 'plan', reasons: [] },
    mode: 'plan',
    reasons: [],
    plan,
    lastSolve: { atMs: plan.startMs, status: plan.solver.status, solveMs: plan.solver.solveMs, fallback: false },
    trades: committedTrades(plan),
    brokerConnected: true,
    ...overrides,
  };
}

export function hourRecord(hourStartMs: number): HourRecord {
  return {
    hourStartMs,
    importKwh: 0.4,
    exportKwh: 1.9,
    peakImportKw: 1.2,
    pvKwh: 3.1,
    batteryDischargeKwh: 0.2,
    batteryChargeKwh: 1.1,
    shiftableRequestedKwh: 0.5,
    shiftableServedKwh: 0.5,
    scheduledGridKw: -1.4,
    buyEurPerKwh: 0.28,
    sellEurPerKwh: 0.08,
    realtimeBuyEurPerKwh: 0.35,
    realtimeSellEurPerKwh: 0.05,
    tradeKwh: 0.5,
    tradeCostEur: 0.1,
    trades: [{ tradeId: 't1', peerId: 'gw-b', energyKwh: 0.5, priceEurPerKwh: 0.11 }],
    socMinFraction: 0.48,
    socMaxFraction: 0.6,
    violations: [],
    safeIterations: 0,
    iterations: 720,
  };
}

export const safetyEvent = (atMs: number, detail = 'the battery did not answer 3 reads in a row'): SafetyEvent => ({ atMs, reason: 'battery-unavailable', action: 'enter', detail });

export interface Heard {
  topic: string;
  payload: string;
  retain: boolean;
}

/** A subscriber to a test's own topics; `close` also clears every retained message it saw. */
export class Watcher {
  readonly heard: Heard[] = [];

  private constructor(private readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => this.heard.push({ topic, payload: payload.toString(), retain: packet.retain }));
  }

  static async start(url: string, filters: string[]): Promise<Watcher> {
    const client = await connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, clientId: `pe-test-watch-${randomUUID()}` });
    const watcher = new Watcher(client);
    await client.subscribeAsync(filters, { qos: 1 });
    return watcher;
  }

  on(topic: string): Heard[] {
    return this.heard.filter((h) => h.topic === topic);
  }

  /** Publishes as another client would (QoS 1). */
  async publish(topic: string, payload: string, retain = false): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: 1, retain });
  }

  /** Resolves once the broker has delivered everything that reached it before this call. */
  async barrier(topic: string): Promise<void> {
    const marker = randomUUID();
    await this.client.publishAsync(topic, marker, { qos: 1 });
    const start = performance.now();
    while (!this.heard.some((h) => h.topic === topic && h.payload === marker)) {
      if (performance.now() - start > 10_000) throw new Error(`barrier on ${topic} never came back`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async close(): Promise<void> {
    const retained = new Set(this.heard.filter((h) => h.payload !== '').map((h) => h.topic));
    for (const topic of retained) await this.client.publishAsync(topic, '', { qos: 1, retain: true });
    await this.client.endAsync();
  }
}
