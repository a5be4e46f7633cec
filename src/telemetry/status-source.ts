/**
 * What the status page shows, kept from what the runtime publishes: the latest snapshot, a
 * downsampled ring of measurements, the part of each past plan that was in force, recent hours
 * and safety events. Every item gets a sequence number so the page's event stream sends each
 * client only what it has not seen yet.
 */
import type { HourRecord, Measurement, RuntimeSnapshot, SafetyEvent } from '../records/types.ts';
import { planBatteryKw, planGridKw, planMessage, stateMessage, stepStartsMs, type PlanMessage, type StateMessage } from './messages.ts';

const MS_PER_HOUR = 3_600_000;

/** A stretch of a past plan that was in force: planned values there (kW). */
export interface PlannedSegment {
  startMs: number;
  endMs: number;
  gridKw: number;
  batteryKw: number;
}

/** What changed after a sequence number (0: everything kept). */
export interface StatusUpdate {
  seq: number;
  /** Present when the snapshot changed: its state, plan and trades as published on MQTT. */
  current?: { state: StateMessage; plan: PlanMessage | null; trades: RuntimeSnapshot['trades'] };
  measurements: Measurement[];
  /** Present when it changed: the whole (short) list, oldest first. */
  plannedHistory?: PlannedSegment[];
  hours: HourRecord[];
  safetyEvents: SafetyEvent[];
}

export interface StatusSourceOptions {
  /** Keep at most one measurement per this many gateway ms (default 60 000). */
  measurementSpacingMs?: number;
  /** Keep measurements and plan history this far back from the newest snapshot (gateway ms, default 24 h). */
  historyMs?: number;
  maxHours?: number;
  maxSafetyEvents?: number;
}

export interface StatusSource {
  publishSnapshot(snapshot: RuntimeSnapshot): void;
  publishHour(record: HourRecord): void;
  publishSafetyEvent(event: SafetyEvent): void;
  since(seq: number): StatusUpdate;
  /** Calls `listener` after every publish; returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
}

interface Numbered<T> {
  seq: number;
  item: T;
}

export function createStatusSource(options: StatusSourceOptions = {}): StatusSource {
  const spacingMs = options.measurementSpacingMs ?? 60_000;
  const historyMs = options.historyMs ?? 24 * MS_PER_HOUR;
  const maxHours = options.maxHours ?? 48;
  const maxSafetyEvents = options.maxSafetyEvents ?? 50;

  let seq = 0;
  let latest: Numbered<RuntimeSnapshot> | null = null;
  let lastSafety: SafetyEvent | null = null;
  const measurements: Numbered<Measurement>[] = [];
  const hours: Numbered<HourRecord>[] = [];
  const safetyEvents: Numbered<SafetyEvent>[] = [];
  let plannedHistory: PlannedSegment[] = [];
  let plannedHistorySeq = 0;
  const listeners = new Set<() => void>();

  const changed = (): void => {
    for (const listener of listeners) listener();
  };
  const newer = <T>(list: Numbered<T>[], after: number): T[] => list.filter((n) => n.seq > after).map((n) => n.item);

  /** Records what of `previous` was in force until `untilMs` (its steps, clipped). */
  const retire = (previous: RuntimeSnapshot['plan'], untilMs: number): void => {
    if (previous === null) return;
    const grid = planGridKw(previous);
    const battery = planBatteryKw(previous);
    stepStartsMs(previous).forEach((startMs, t) => {
      const endMs = Math.min(startMs + previous.stepHours[t]! * MS_PER_HOUR, untilMs);
      if (endMs > startMs) plannedHistory.push({ startMs, endMs, gridKw: grid[t]!, batteryKw: battery[t]! });
    });
  };

  return {
    publishSnapshot(snapshot) {
      seq++;
      const previous = latest?.item;
      if (previous?.plan && previous.plan !== snapshot.plan && snapshot.plan?.startMs !== previous.plan.startMs) {
        retire(previous.plan, snapshot.plan?.startMs ?? snapshot.atMs);
        plannedHistorySeq = seq;
      }
      const cutoffMs = snapshot.atMs - historyMs;
      if (plannedHistory.length > 0 && plannedHistory[0]!.endMs <= cutoffMs) {
        plannedHistory = plannedHistory.filter((s) => s.endMs > cutoffMs);
        plannedHistorySeq = seq;
      }
      latest = { seq, item: snapshot };
      const last = measurements.at(-1);
      if (last === undefined || snapshot.measurement.atMs - last.item.atMs >= spacingMs) measurements.push({ seq, item: snapshot.measurement });
      while (measurements.length > 0 && measurements[0]!.item.atMs < cutoffMs) measurements.shift();
      changed();
    },
    publishHour(record) {
      hours.push({ seq: ++seq, item: record });
      if (hours.length > maxHours) hours.shift();
      changed();
    },
    publishSafetyEvent(event) {
      lastSafety = event;
      safetyEvents.push({ seq: ++seq, item: event });
      if (safetyEvents.length > maxSafetyEvents) safetyEvents.shift();
      // The state message carries the last safety reason, so it changed too.
      if (latest !== null) latest = { seq, item: latest.item };
      changed();
    },
    since(after) {
      const snapshot = latest !== null && latest.seq > after ? latest.item : null;
      return {
        seq,
        ...(snapshot !== null
          ? {
              current: {
                state: stateMessage(snapshot, lastSafety),
                plan: snapshot.plan === null ? null : planMessage(snapshot.plan, snapshot.lastSolve),
                trades: snapshot.trades,
              },
            }
          : {}),
        measurements: newer(measurements, after),
        ...(plannedHistorySeq > after ? { plannedHistory } : {}),
        hours: newer(hours, after),
        safetyEvents: newer(safetyEvents, after),
      };
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
