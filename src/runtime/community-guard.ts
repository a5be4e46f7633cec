/**
 * The live community guard (docs/community-coordination.md, "The live community guard"): every
 * fast period the community's gateways tell each other what they are about to import, what they
 * have imported since the hour began and how much more their batteries could discharge; when the
 * hour's import would pass the peak the community pays for today, every battery discharges more in
 * proportion to its room, as the evaluation's `holdCommunityImport` does hour by hour
 * (src/eval/run.ts).
 *
 * The peak is billed on hourly averages, so the guard holds the hour's energy, not each reading:
 * what the hour has imported so far plus the present import over the rest of it. A load that ran
 * between two readings (a relay's five minutes) or an instant the batteries answered late is made
 * up for in the rest of the hour instead of raising the day's metered peak, and with it the guard.
 *
 * Each household's own peak guard (fast-loop.ts) sees its own meter only: a forecast miss in one
 * house raises the community's peak while a neighbour's battery, on schedule, holds energy it would
 * have spent. That is where most of the community's period peak was lost (the docs' table).
 *
 * The peak the community pays for today is the larger of the day's clearing's scheduled peak (the
 * sum of the members' cleared net imports, slot by slot) and the highest metered hour of today so
 * far (the sum of the members' metered net imports): below the first the plans already pay for the
 * peak, below the second it is billed anyway.
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** What a gateway tells the community each fast period; the wire form of the market's `live-import` round. */
export interface GuardReport {
  /** The fast-loop instant it is for (a multiple of the fast period). */
  atMs: number;
  /** Net import after the household's own command (kW, + import): its meter as the battery and the relays will leave it. */
  importKw: number;
  /** Its net import from the start of the hour to `atMs` (kWh). */
  hourSoFarKwh: number;
  /** How much more its battery could discharge over the rest of the hour from its command (kW ≥ 0): power, SoC floor and guard band. */
  roomKw: number;
  /** Its last metered hour's net import (kWh), null before the first. */
  closedHour: { startMs: number; netImportKwh: number } | null;
  /** Its net import in the clearing in force, by slot of today (kW); empty when the clearing covers none of today. */
  planned: { slotStartsMs: number[]; netKw: number[] };
}

/** The community's guard at one instant: what every member computes from the same reports. */
export interface GuardDecision {
  atMs: number;
  /** The peak the community pays for today (kW). */
  guardKw: number;
  /** Σ of the members' importKw (kW). */
  communityImportKw: number;
  /** Σ of the members' hourSoFarKwh (kWh). */
  hourSoFarKwh: number;
  /** Σ of the members' roomKw (kW). */
  roomKw: number;
  /** The fraction of its room each battery discharges more (0: the community is at or below its guard). */
  share: number;
  /** The members whose reports it counts, this gateway included. */
  members: string[];
}

/**
 * The guard's memory: the members' metered hours of today (at most members × 24 numbers). Reports
 * come in instant order, one per member and instant, so every gateway holds the same hours.
 */
export class CommunityGuard {
  private readonly hours = new Map<number, Map<string, number>>();

  /**
   * The decision at `atMs` from the members' reports of that instant (this gateway's among them);
   * null when no member's clearing covers today: there is no scheduled peak to hold.
   */
  decide(atMs: number, received: ReadonlyMap<string, GuardReport>): GuardDecision | null {
    // In member order, not arrival order: the sums then have the same bits on every gateway and in every run.
    const reports = new Map([...received].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const dayStartMs = atMs - (atMs % DAY_MS);
    for (const hourStartMs of this.hours.keys()) if (hourStartMs < dayStartMs) this.hours.delete(hourStartMs);
    for (const [peerId, report] of reports) {
      const closed = report.closedHour;
      if (closed === null || closed.startMs < dayStartMs || closed.startMs >= atMs) continue;
      const hour = this.hours.get(closed.startMs) ?? new Map<string, number>();
      this.hours.set(closed.startMs, hour);
      hour.set(peerId, closed.netImportKwh);
    }
    const plannedKw = new Map<number, number>();
    for (const { planned } of reports.values()) {
      planned.slotStartsMs.forEach((slotMs, s) => {
        if (slotMs >= dayStartMs && slotMs < dayStartMs + DAY_MS) plannedKw.set(slotMs, (plannedKw.get(slotMs) ?? 0) + planned.netKw[s]!);
      });
    }
    if (plannedKw.size === 0) return null;
    const meteredPeakKw = Math.max(0, ...[...this.hours.values()].map((hour) => [...hour.values()].reduce((a, b) => a + b, 0)));
    const guardKw = Math.max(Math.max(...plannedKw.values()), meteredPeakKw);
    const communityImportKw = sum([...reports.values()].map((r) => r.importKw));
    const hourSoFarKwh = sum([...reports.values()].map((r) => r.hourSoFarKwh));
    const roomKw = sum([...reports.values()].map((r) => r.roomKw));
    const restH = (HOUR_MS - (atMs % HOUR_MS)) / HOUR_MS;
    // The rate the rest of the hour may import at, for the hour's average to stay at the guard.
    const excessKw = communityImportKw - (guardKw - hourSoFarKwh) / restH;
    const share = excessKw > 1e-9 && roomKw > 1e-9 ? Math.min(1, excessKw / roomKw) : 0;
    return { atMs, guardKw, communityImportKw, hourSoFarKwh, roomKw, share, members: [...reports.keys()] };
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
