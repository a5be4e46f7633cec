/**
 * The no-loss settlement in the gateway (docs/community-coordination.md, "Who pays what"): the
 * shadow (shadow.ts) plans and steps beside the real household every hour; at the end of each
 * UTC day both days are billed the same way (src/household/bill.ts: metered energy, P2P as
 * contracted, the daily demand charge, battery wear) and settled with the other members
 * (no-loss-link.ts). Each day's outcome is logged and appended to `no-loss.jsonl` in the market's
 * folder (a checksummed journal, src/storage/journal.ts: one line a day, the newest 400 kept).
 *
 * A day is settled only when the gateway measured all its 24 hours and its shadow planned each of
 * them: a day the gateway started in, or one with an hour it did not account, is not. A restart
 * does not start the day or the shadow anew: both are kept in `no-loss-state.json` beside the
 * journal after every hour (no-loss-state.ts), and a gateway that comes back the same day goes on
 * from them. The hours it was down stay unaccounted, and so does the hour it came back in (the
 * hourly account records only hours measured from their start), so on a real clock that day is
 * still not settled; the days after it are, by a shadow that did not jump to the household's battery.
 */
import { existsSync } from 'node:fs';
import { Journal } from '../storage/journal.ts';
import { join } from 'node:path';
import { dayBill, emptyNoLossAccount, settledAccount, type MeteredHour, type NoLossAccount } from '../household/bill.ts';
import { holdWhile } from '../time/lockstep-clock.ts';
import type { Clock } from '../time/clock.ts';
import type { RuntimeLog } from './log.ts';
import { isoDay } from '../data/split.ts';
import { hourIso } from '../prices/index.ts';
import type { DayReport, DaySettlement } from './no-loss-link.ts';
import { accountedHour, readNoLossState, writeNoLossState, type AccountedHour, type MeteredRecord, type NoLossState } from './no-loss-state.ts';
import type { PlannerState } from './planner.ts';
import type { NoLossShadow } from './shadow.ts';
import type { HourRecord } from './types.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export interface NoLossSettlementOptions {
  shadow: NoLossShadow;
  /** The market loop's settlement with the other members; null: not connected (the day is not settled). */
  settle(report: DayReport): Promise<DaySettlement> | null;
  batteryWearEurPerKw2h: number;
  demandChargeEurPerKwDay: number;
  clock: Clock;
  /** The market's folder: `no-loss.jsonl` and `no-loss-state.json` are written there. */
  dataDir: string;
  /** Each day's outcome, once settled (telemetry). */
  onSettled?(settlement: DaySettlement): void;
  log: RuntimeLog;
}

/** A settled (or refused) day as `no-loss.jsonl` keeps it, with the running account after it (absent in a journal of the day-by-day settlement). */
export type SettlementRecord = DaySettlement & { household: { billEur: number; shadowBillEur: number }; account?: NoLossAccount };

const FILE = 'no-loss.jsonl';
const STATE_FILE = 'no-loss-state.json';
/** Days kept in `no-loss.jsonl`: at start, a journal past twice this keeps its newest (a year of days and a month). */
const KEPT_DAYS = 400;

function openJournal(dataDir: string): { journal: Journal<SettlementRecord>; records: SettlementRecord[] } {
  // A damaged line loses one day's record, not the settlement: it is skipped.
  return Journal.open<SettlementRecord>(join(dataDir, FILE), { damaged: 'skip' });
}

/** The days a gateway settled, from its market folder (after the gateway stopped). */
export function readSettlements(dataDir: string): SettlementRecord[] {
  if (!existsSync(join(dataDir, FILE))) return [];
  const { journal, records } = openJournal(dataDir);
  journal.close();
  return records;
}

export class NoLossSettlement {
  /** The day being accounted, hour by hour of the day (sparse until every hour came). */
  private day: { dayMs: number; hours: (AccountedHour | undefined)[] } = { dayMs: -1, hours: [] };
  private pending: Promise<void> = Promise.resolve();
  /** The shadow's work in order, each hour's plan and then its measured hour: its solve runs on while the household's hour goes on. */
  private shadowWork: Promise<void> = Promise.resolve();

  private readonly journal: Journal<SettlementRecord> | null;
  private closed = false;
  private readonly stateFile: string;
  /** The state kept before a restart, until the first hour shows whether it is recent. */
  private kept: NoLossState | undefined;
  /** The days settled with the community so far (the newest journal line's; what the next report carries). */
  private runningAccount: NoLossAccount = emptyNoLossAccount();

  constructor(private readonly options: NoLossSettlementOptions) {
    this.journal = this.openJournal();
    this.stateFile = join(options.dataDir, STATE_FILE);
    this.kept = this.readKept();
  }

  private readKept(): NoLossState | undefined {
    try {
      return readNoLossState(this.stateFile);
    } catch (error) {
      this.options.log('warn', `no-loss settlement: ignoring the damaged ${this.stateFile} (${(error as Error).message}): the shadow starts from the measured battery and the hours accounted before the restart are lost`);
      return undefined;
    }
  }

  /**
   * At the first hour after a start: goes on from the kept state when it is of this day, or of the
   * previous day's last hour (a restart right after midnight: the shadow goes on, the day is new).
   * An older one, or one ahead of this hour (the clock was set back), is not this gateway's now.
   */
  private resume(hourStartMs: number): void {
    const kept = this.kept;
    if (kept === undefined) return;
    this.kept = undefined;
    const dayMs = hourStartMs - (hourStartMs % DAY_MS);
    const newestMs = Math.max(kept.shadow.held.hourStartMs, ...kept.day.hours.map(({ record }) => record.hourStartMs));
    if (newestMs > hourStartMs || newestMs < dayMs - HOUR_MS) {
      this.options.log('info', `no-loss settlement: not going on from ${this.stateFile}: its newest hour ${hourIso(newestMs)} is not of ${isoDay(dayMs)} nor the hour before it; the shadow starts from the measured battery`);
      return;
    }
    this.options.shadow.restore(kept.shadow);
    const hours = kept.day.dayMs === dayMs ? kept.day.hours : [];
    this.day = { dayMs, hours: [] };
    for (const hour of hours) this.day.hours[(hour.record.hourStartMs - dayMs) / HOUR_MS] = hour;
    this.options.log('info', `no-loss settlement: going on from ${this.stateFile} (its newest hour ${hourIso(newestMs)}; ${hours.length} hours of ${isoDay(dayMs)} accounted before the restart)`);
  }

  private save(): void {
    const shadow = this.options.shadow.state();
    if (shadow === null) return;
    try {
      writeNoLossState(this.stateFile, { shadow, day: { dayMs: this.day.dayMs, hours: this.day.hours.filter((hour) => hour !== undefined) } });
    } catch (error) {
      this.options.log('warn', `no-loss settlement: cannot keep the day in ${this.stateFile} (${(error as Error).message}): a restart would lose it`);
    }
  }

  /** The journal, compacted; null when it cannot be opened (the days are then only logged). */
  private openJournal(): Journal<SettlementRecord> | null {
    try {
      const { journal, records } = openJournal(this.options.dataDir);
      this.runningAccount = accountOf(records);
      if (records.length > 2 * KEPT_DAYS) journal.rewrite(records.slice(-KEPT_DAYS));
      return journal;
    } catch (error) {
      this.options.log('error', `no-loss settlement: ${FILE} cannot be opened (${(error as Error).message}); settled days are logged only`);
      return null;
    }
  }

  /** Waits for the settlements under way and closes the journal. */
  async close(): Promise<void> {
    await this.settled();
    this.journal?.close();
    this.closed = true;
  }

  /**
   * At a whole hour: the shadow plans it, off the household's control path. Its problem is built
   * from this instant's forecast and state (lock-step time is held until it is); its solve runs on
   * in the background, and the hour's measurement waits for it (observeHour).
   */
  decide(hourStartMs: number, state: PlannerState): void {
    let built!: () => void;
    void holdWhile(this.options.clock, new Promise<void>((resolve) => (built = resolve)));
    this.shadowWork = this.shadowWork
      .then(() => {
        this.resume(hourStartMs);
        const solving = this.options.shadow.decide(hourStartMs, state);
        built();
        return solving;
      })
      .then(() => this.save())
      .catch((error: Error) => {
        built();
        this.options.log('error', `no-loss shadow: ${hourIso(hourStartMs)} not planned: ${error.message}`);
      });
  }

  /** A measured hour: the shadow steps on it once it planned it; the day's last hour settles the day (in the background). */
  observeHour(record: HourRecord): void {
    // Held: on lock-step time the hour ends only once the shadow has planned and stepped it.
    this.shadowWork = holdWhile(this.options.clock, this.shadowWork.then(() => this.account(record))).catch((error: Error) =>
      this.options.log('error', `no-loss shadow: ${hourIso(record.hourStartMs)} not accounted: ${error.message}`),
    );
  }

  private account(record: HourRecord): void {
    this.resume(record.hourStartMs);
    const shadow = this.options.shadow.observeHour(record);
    const dayMs = record.hourStartMs - (record.hourStartMs % DAY_MS);
    if (dayMs !== this.day.dayMs) this.day = { dayMs, hours: [] };
    // An hour the shadow did not plan leaves the day incomplete: it is not settled.
    const hour = (record.hourStartMs - dayMs) / HOUR_MS;
    if (shadow !== null) this.day.hours[hour] = accountedHour(record, shadow);
    this.save();
    if (hour !== 23) return;
    const hours = Array.from({ length: 24 }, (_, h) => this.day.hours[h]);
    const missing = hours.filter((h) => h === undefined).length;
    if (missing > 0) {
      this.options.log('info', `no-loss settlement: ${isoDay(dayMs)} not settled: ${missing} of its hours were not accounted with a shadow (the gateway or its shadow started during the day)`);
      return;
    }
    const report = this.report(dayMs, hours as AccountedHour[]);
    // Held from now: on lock-step time the day is settled before time moves on.
    this.pending = holdWhile(this.options.clock, this.pending.then(() => this.settle(report))).catch((error: Error) => this.options.log('error', `no-loss settlement: ${isoDay(dayMs)} failed: ${error.message}`));
  }

  /** Resolves when the shadow's hours and the settlements under way are done. */
  settled(): Promise<void> {
    return this.shadowWork.then(() => this.pending);
  }

  private report(dayMs: number, hours: readonly AccountedHour[]): Omit<DayReport, 'account'> {
    const { batteryWearEurPerKw2h, demandChargeEurPerKwDay } = this.options;
    const metered = (gridKw: number, batteryKw: number, r: MeteredRecord, tradeKw = 0): MeteredHour => ({ gridKw, tradeKw, batteryKw, buyEurPerKwh: r.buyEurPerKwh, sellEurPerKwh: r.sellEurPerKwh });
    const gridKw = hours.map(({ record: r }) => r.importKwh - r.exportKwh);
    const bill = dayBill(hours.map(({ record: r }, h) => metered(gridKw[h]!, r.batteryDischargeKwh - r.batteryChargeKwh, r, r.tradeKwh)), batteryWearEurPerKw2h, demandChargeEurPerKwDay);
    const shadowBill = dayBill(hours.map(({ record: r, shadow }) => metered(shadow.gridKw, shadow.batteryKw, r)), batteryWearEurPerKw2h, demandChargeEurPerKwDay);
    return {
      dayMs,
      gridKw,
      shadowGridKw: hours.map(({ shadow }) => shadow.gridKw),
      billEur: bill.total + hours.reduce((sum, { record: r }) => sum + r.tradeCostEur, 0),
      shadowBillEur: shadowBill.total,
    };
  }

  private async settle(day: Omit<DayReport, 'account'>): Promise<void> {
    const { log } = this.options;
    // Taken now, not when the day ended: the day before may have been settled since.
    const report: DayReport = { ...day, account: this.runningAccount };
    const outcome = await this.options.settle(report);
    if (outcome === null) {
      log('warn', `no-loss settlement: ${isoDay(report.dayMs)} not settled: not connected to the community`);
      return;
    }
    const own = outcome.ownTransferEur;
    log(outcome.booked ? 'info' : 'warn', `no-loss settlement: ${isoDay(report.dayMs)} among ${outcome.participants.length}: ${outcome.booked ? `booked, this household ${own >= 0 ? 'pays' : 'receives'} ${Math.abs(own).toFixed(2)} EUR (alone ${outcome.aloneEur.toFixed(2)}, with the community ${outcome.withCommunityEur.toFixed(2)} EUR)` : `not booked: ${outcome.reason}`}`);
    this.options.onSettled?.(outcome);
    this.runningAccount = accountAfter(this.runningAccount, outcome);
    const record: SettlementRecord = { ...outcome, household: { billEur: report.billEur, shadowBillEur: report.shadowBillEur }, account: this.runningAccount };
    try {
      if (!this.closed) this.journal?.append(record);
    } catch (error) {
      log('error', `no-loss settlement: ${isoDay(report.dayMs)} not written: ${(error as Error).message}`);
    }
  }
}

/**
 * The running account after the journal's days: its newest line's, or, in a journal written before
 * the lines carried it, the sum of its days settled with another member.
 */
export function accountOf(records: readonly SettlementRecord[]): NoLossAccount {
  const newest = records.at(-1);
  if (newest?.account) return newest.account;
  return records.reduce(accountAfter, emptyNoLossAccount());
}

/** The account after a settled day: its bills, and its transfer when booked. A day settled with nobody else is nobody's to make up. */
function accountAfter(account: NoLossAccount, day: DaySettlement): NoLossAccount {
  if (day.participants.length < 2) return account;
  return settledAccount(account, day.aloneEur, day.withCommunityEur, day.booked ? day.ownTransferEur : 0);
}
