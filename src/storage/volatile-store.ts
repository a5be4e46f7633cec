/**
 * What a gateway keeps when its store cannot be opened (a full or read-only SD card, an I/O
 * error): the recent records in memory, so the loops, the forecaster and the status page work on,
 * and nothing on disk. Bounded like the store's retention, in records: a gateway that runs for
 * months this way does not grow.
 */
import type { Plan } from '../optimizer/types.ts';
import type { HourRecord, Measurement, RuntimeStore, SafetyEvent } from '../records/types.ts';
import type { ErrorSample } from './store.ts';

/** Records kept per stream: more than a plan horizon of hours and the forecaster's recent days. */
const KEPT = { plans: 96, measurements: 2_880, hours: 24 * 60, errorSamples: 24 * 60, safetyEvents: 500 };

class Recent<T> {
  private readonly items: T[] = [];

  constructor(private readonly limit: number) {}

  add(item: T): void {
    this.items.push(item);
    if (this.items.length > this.limit) this.items.splice(0, this.items.length - this.limit);
  }

  list(): T[] {
    return [...this.items];
  }
}

/** A store in memory; `marketDir` is still where the market tries to keep its ledger (it pauses while it cannot). */
export function volatileStore(marketDir: string): RuntimeStore {
  const plans = new Recent<Plan>(KEPT.plans);
  const measurements = new Recent<Measurement>(KEPT.measurements);
  const hours = new Recent<HourRecord>(KEPT.hours);
  const errorSamples = new Recent<ErrorSample>(KEPT.errorSamples);
  const safetyEvents = new Recent<SafetyEvent>(KEPT.safetyEvents);
  return {
    appendPlan: (plan) => plans.add(plan),
    appendMeasurement: (m) => measurements.add(m),
    appendHour: (h) => hours.add(h),
    appendErrorSample: (s) => errorSamples.add(s),
    appendSafetyEvent: (e) => safetyEvents.add(e),
    plans: () => plans.list(),
    measurements: () => measurements.list(),
    hours: () => hours.list(),
    errorSamples: () => errorSamples.list(),
    safetyEvents: () => safetyEvents.list(),
    marketDir,
    close: () => undefined,
  };
}
