/**
 * The live community guard (docs/community-coordination.md, "The live community guard"): every
 * fast period the community's gateways tell each other what they are about to import and how much
 * more their batteries could discharge; when the sum passes the peak the community pays for today,
 * every battery discharges more in proportion to its room, as the evaluation's `holdCommunityImport`
 * does hour by hour (src/eval/run.ts).
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

const DAY_MS = 86_400_000;

/** What a gateway tells the community each fast period; the wire form of the market's `live-import` round. */
export interface GuardReport {
  /** The fast-loop instant it is for (a multiple of the fast period). */
  atMs: number;
  /** Net import after the household's own command (kW, + import): its meter as the battery will leave it. */
  importKw: number;
  /** How much more its battery could discharge for an hour from its command (kW ≥ 0): power, SoC floor and guard band. */
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
    const roomKw = sum([...reports.values()].map((r) => r.roomKw));
    const excessKw = communityImportKw - guardKw;
    const share = excessKw > 1e-9 && roomKw > 1e-9 ? Math.min(1, excessKw / roomKw) : 0;
    return { atMs, guardKw, communityImportKw, roomKw, share, members: [...reports.keys()] };
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
