/**
 * Telemetry on MQTT (docs/telemetry.md): the runtime's snapshots, plans, trades, hours and safety
 * events under `<topicPrefix>/<gatewayId>/`, and Home Assistant discovery configs. Publishing
 * never blocks or throws into the runtime: while the broker is away the latest state, plan and
 * trades are kept and a bounded queue holds the events, all sent on (re)connect.
 */
import { connect, type MqttClient } from 'mqtt';
import type { HourRecord, RuntimeSnapshot, SafetyEvent } from '../records/types.ts';
import type { RuntimeLog } from '../runtime/log.ts';
import { systemClock, type Clock } from '../time/clock.ts';
import type { UserCommand, UserControlState } from '../runtime/user-control.ts';
import type { EnergyTotals } from './energy-totals.ts';
import { discoveryMessages, telemetryTopics, type CommandLimits } from './home-assistant.ts';
import { energyMessage, planMessage, settlementMessage, stateMessage } from './messages.ts';
import type { DaySettlement } from '../runtime/no-loss-link.ts';

export interface MqttTelemetryOptions {
  brokerUrl: string;
  gatewayId: string;
  topicPrefix: string;
  discoveryPrefix: string;
  /**
   * Paces `state` publishing. Wall time on purpose, not the gateway's (possibly accelerated)
   * clock: the broker and Home Assistant run in wall time. Default: the system clock.
   */
  wallClock?: Clock;
  /** At most one `state` message per this many wall ms (default 1000). */
  minStateIntervalMs?: number;
  log: RuntimeLog;
  /**
   * Take commands from Home Assistant: the command entities are announced (with the reserve's
   * range) and the gateway's own `set/…` topics subscribed; each command is handed to `onCommand`
   * as it arrived, to be checked and applied there. Absent: telemetry only watches.
   */
  commands?: CommandLimits & { onCommand(command: UserCommand): void };
  /** The gateway settles with its community (market.noLossSettlement): its sensors are announced. */
  settlement?: boolean;
}

export interface MqttTelemetry {
  publishSnapshot(snapshot: RuntimeSnapshot): void;
  publishHour(record: HourRecord): void;
  publishSafetyEvent(event: SafetyEvent): void;
  /** The energy counters (retained; resent on reconnect). */
  publishEnergy(totals: EnergyTotals): void;
  /** The household's mode and reserve as in force (retained; resent on reconnect): the command entities' state. */
  publishControl(state: UserControlState): void;
  /** A day of the no-loss settlement (retained; resent on reconnect). */
  publishSettlement(settlement: DaySettlement): void;
  connected(): boolean;
  /** Publishes `offline` (when connected) and disconnects cleanly. */
  close(): Promise<void>;
}

/** Events kept while the broker is away; the oldest go first beyond this. */
const MAX_QUEUED_EVENTS = 1000;

export function startMqttTelemetry(options: MqttTelemetryOptions): MqttTelemetry {
  const wallClock = options.wallClock ?? systemClock;
  const minStateIntervalMs = options.minStateIntervalMs ?? 1000;
  const topics = telemetryTopics(options.topicPrefix, options.gatewayId);
  const discovery = discoveryMessages({ ...options, ...(options.commands ? { commands: options.commands } : {}), settlement: options.settlement === true });
  const commandOf = new Map<string, UserCommand['command']>([
    [topics.setMode, 'mode'],
    [topics.setReserve, 'reserve'],
    [topics.planNow, 'plan-now'],
  ]);
  const stop = new AbortController();

  const client: MqttClient = connect(options.brokerUrl, {
    // 3.1.1: the embedded aedes broker refuses MQTT 5, and nothing here needs 5.
    protocolVersion: 4,
    clientId: `pe-telemetry-${options.gatewayId}-${Math.random().toString(16).slice(2, 10)}`,
    clean: true,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    keepalive: 30,
    // mqtt-packet's number cache is 65 536 two-byte Buffers (~6 MiB of heap, kept for the process's
    // life) to save one tiny allocation per packet: not worth it at a few messages a second.
    writeCache: false,
    will: { topic: topics.availability, payload: Buffer.from('offline'), qos: 1, retain: true },
  });

  let latest: RuntimeSnapshot | null = null;
  let lastSafety: SafetyEvent | null = null;
  let stateDirty = false;
  let stateTimerArmed = false;
  let lastStateWallMs = -Infinity;
  let publishedPlanKey: string | null = null;
  let publishedTrades: { ref: RuntimeSnapshot['trades']; json: string } | null = null;
  const queuedEvents: { topic: string; payload: string }[] = [];
  let droppedEvents = 0;
  let lastError = '';
  let reportedAway = false;
  let closing = false;
  /** Retained, resent on every (re)connect. */
  const retained = new Map<string, string>();

  const send = (topic: string, payload: string, retain: boolean): void => {
    client.publish(topic, payload, { qos: 1, retain }, (error) => {
      if (error && !closing) options.log('warn', `telemetry: publishing ${topic} failed: ${error.message}`);
    });
  };

  const flushState = (): void => {
    if (!stateDirty || latest === null || !client.connected) return;
    stateDirty = false;
    lastStateWallMs = wallClock.nowMs();
    send(topics.state, JSON.stringify(stateMessage(latest, lastSafety)), true);
  };

  const scheduleState = (): void => {
    if (stateTimerArmed || !client.connected) return;
    const waitMs = lastStateWallMs + minStateIntervalMs - wallClock.nowMs();
    if (waitMs <= 0) return flushState();
    stateTimerArmed = true;
    void wallClock.sleep(waitMs, stop.signal).then((elapsed) => {
      stateTimerArmed = false;
      if (elapsed) flushState();
    });
  };

  const publishPlanAndTrades = (snapshot: RuntimeSnapshot): void => {
    if (!client.connected) return;
    const plan = snapshot.plan;
    const planKey = plan === null ? 'none' : `${plan.startMs}|${plan.objectiveEur}|${snapshot.lastSolve?.atMs ?? ''}`;
    if (planKey !== publishedPlanKey) {
      publishedPlanKey = planKey;
      send(topics.plan, plan === null ? '' : JSON.stringify(planMessage(plan, snapshot.lastSolve)), true);
    }
    if (publishedTrades?.ref !== snapshot.trades) {
      const json = JSON.stringify(snapshot.trades);
      if (json !== publishedTrades?.json) send(topics.trades, json, true);
      publishedTrades = { ref: snapshot.trades, json };
    }
  };

  const publishEvent = (topic: string, payload: string): void => {
    if (client.connected) return send(topic, payload, false);
    queuedEvents.push({ topic, payload });
    if (queuedEvents.length > MAX_QUEUED_EVENTS) {
      queuedEvents.shift();
      if (droppedEvents++ === 0) options.log('warn', `telemetry: broker away, dropping the oldest queued events beyond ${MAX_QUEUED_EVENTS}`);
    }
  };

  client.on('connect', () => {
    lastError = '';
    reportedAway = false;
    options.log('info', `telemetry: connected to ${options.brokerUrl}`);
    send(topics.availability, 'online', true);
    for (const message of discovery) send(message.topic, JSON.stringify(message.config), true);
    for (const [topic, payload] of retained) send(topic, payload, true);
    if (options.commands) {
      client.subscribe([...commandOf.keys()], { qos: 1 }, (error) => {
        if (error && !closing) options.log('warn', `telemetry: cannot subscribe to the command topics: ${error.message}`);
      });
    }
    publishedPlanKey = null;
    publishedTrades = null;
    if (latest !== null) {
      publishPlanAndTrades(latest);
      stateDirty = true;
      scheduleState();
    }
    for (const event of queuedEvents.splice(0)) send(event.topic, event.payload, false);
    if (droppedEvents > 0) options.log('warn', `telemetry: ${droppedEvents} events were dropped while the broker was away`);
    droppedEvents = 0;
  });
  client.on('close', () => {
    // mqtt.js retries every second; one line per outage is enough.
    if (closing || reportedAway) return;
    reportedAway = true;
    options.log('warn', `telemetry: broker ${options.brokerUrl} unreachable${lastError ? ` (${lastError})` : ''}; retrying, events are queued`);
  });
  client.on('error', (error) => {
    lastError = error.message;
  });
  client.on('message', (topic, payload, packet) => {
    const command = commandOf.get(topic);
    // An empty payload is how MQTT deletes a retained message, not a command.
    if (!command || !options.commands || payload.length === 0) return;
    // A retained command would be carried out again at every reconnect: a command is a press, not a state.
    if (packet.retain) {
      options.log('warn', `telemetry: ignoring a retained ${command} command on ${topic}; commands must not be retained (clear it with an empty retained message)`);
      return;
    }
    options.commands.onCommand({ command, payload: payload.toString('utf8') });
  });

  const publishRetained = (topic: string, payload: string): void => {
    retained.set(topic, payload);
    if (client.connected) send(topic, payload, true);
  };

  return {
    publishSnapshot(snapshot) {
      latest = snapshot;
      stateDirty = true;
      publishPlanAndTrades(snapshot);
      scheduleState();
    },
    publishHour(record) {
      publishEvent(topics.hour, JSON.stringify(record));
    },
    publishSafetyEvent(event) {
      lastSafety = event;
      publishEvent(topics.safety, JSON.stringify(event));
      stateDirty = true;
      scheduleState();
    },
    publishEnergy(totals) {
      publishRetained(topics.energy, JSON.stringify(energyMessage(totals)));
    },
    publishControl(state) {
      publishRetained(topics.control, JSON.stringify(state));
    },
    publishSettlement(settlement) {
      publishRetained(topics.settlement, JSON.stringify(settlementMessage(settlement)));
    },
    connected: () => client.connected,
    async close() {
      closing = true;
      stop.abort();
      if (client.connected) {
        // A clean DISCONNECT suppresses the will, so say `offline` ourselves.
        await client.publishAsync(topics.availability, 'offline', { qos: 1, retain: true }).catch(() => undefined);
        await client.endAsync();
      } else {
        await client.endAsync(true);
      }
    },
  };
}
