/**
 * What the household asks of the gateway from Home Assistant (docs/telemetry.md, "Commands"):
 * the mode — `auto` (the optimizer's plan), `self-consumption` (the safe state's rule: the
 * battery covers the meter), `hold` (battery idle, loads as planned), `off` (the safe stop: battery
 * idle, loads run as asked) — and a battery reserve, a SoC floor above the site's E^min that the
 * planner and the fast loop's supervisor both keep. Every command is checked here (an unknown mode,
 * a reserve outside [E^min, E^max − 2 × guard band] of the battery is rejected) and becomes a
 * safety event either way, so the store, the log and the status page show who changed what. The
 * mode and the reserve are kept in a small file so a restart does not undo an `off`.
 */
import { readStateFile, writeStateFile } from '../storage/state-file.ts';
import type { SafetyEvent } from './types.ts';

export const USER_MODES = ['auto', 'self-consumption', 'hold', 'off'] as const;
export type UserMode = (typeof USER_MODES)[number];

/** A command as it arrived: which entity, and its payload as sent. */
export interface UserCommand {
  command: 'mode' | 'reserve' | 'plan-now';
  payload: string;
}

export interface UserControlState {
  mode: UserMode;
  /** SoC floor the household asked for (% of capacity); the site's own floor when none was asked. */
  reservePercent: number;
  /** The range a reserve may take (% of capacity). */
  minReservePercent: number;
  maxReservePercent: number;
}

export interface CommandOutcome {
  accepted: boolean;
  /** The safety event that records the command (action 'command' or 'rejected'). */
  event: SafetyEvent;
  /** A re-plan was asked for (the plan-now button, or a reserve that changes what may be planned). */
  replan: boolean;
}

/** What the fast loop and the planner read. */
export interface UserControlView {
  mode(): UserMode;
  /** The SoC floor in force (kWh): the site's E^min, or the reserve when higher. */
  reserveEnergyKwh(): number;
}

export interface UserControlOptions {
  battery: { capacityKwh: number; minEnergyKwh: number; maxEnergyKwh: number };
  guardBandKwh: number;
  /** Where the mode and reserve are kept across restarts (absent: not kept). */
  stateFile?: string;
}

export class UserControl implements UserControlView {
  private current: { mode: UserMode; reservePercent: number };
  private readonly minReservePercent: number;
  private readonly maxReservePercent: number;

  constructor(private readonly options: UserControlOptions) {
    const { capacityKwh, minEnergyKwh, maxEnergyKwh } = options.battery;
    this.minReservePercent = Math.ceil((100 * minEnergyKwh) / capacityKwh);
    // Above this the supervisor's guarded window [floor + band, E^max − band] would be empty.
    this.maxReservePercent = Math.floor((100 * (maxEnergyKwh - 2 * options.guardBandKwh)) / capacityKwh);
    this.current = { mode: 'auto', reservePercent: this.minReservePercent, ...this.load() };
  }

  mode(): UserMode {
    return this.current.mode;
  }

  reserveEnergyKwh(): number {
    return Math.max(this.options.battery.minEnergyKwh, (this.current.reservePercent / 100) * this.options.battery.capacityKwh);
  }

  state(): UserControlState {
    return { ...this.current, minReservePercent: this.minReservePercent, maxReservePercent: this.maxReservePercent };
  }

  /** Checks and applies one command made at `atMs`. */
  apply(command: UserCommand, atMs: number): CommandOutcome {
    const payload = command.payload.trim();
    const rejected = (why: string): CommandOutcome => ({ accepted: false, replan: false, event: { atMs, reason: 'user-command', action: 'rejected', detail: `${command.command} ${JSON.stringify(payload.slice(0, 64))} rejected: ${why}` } });
    const accepted = (detail: string, replan: boolean): CommandOutcome => ({ accepted: true, replan, event: { atMs, reason: 'user-command', action: 'command', detail } });

    switch (command.command) {
      case 'mode': {
        if (!(USER_MODES as readonly string[]).includes(payload)) return rejected(`the mode must be one of ${USER_MODES.join(', ')}`);
        const was = this.current.mode;
        this.current = { ...this.current, mode: payload as UserMode };
        this.save();
        return accepted(`mode ${payload} (was ${was})`, false);
      }
      case 'reserve': {
        const percent = payload === '' ? NaN : Number(payload);
        if (!Number.isFinite(percent)) return rejected('the reserve must be a number (% SoC)');
        if (percent < this.minReservePercent || percent > this.maxReservePercent) {
          return rejected(`the reserve must lie in [${this.minReservePercent}, ${this.maxReservePercent}] % (the battery's E^min, and E^max less twice the guard band)`);
        }
        const was = this.current.reservePercent;
        this.current = { ...this.current, reservePercent: percent };
        this.save();
        return accepted(`battery reserve ${percent} % = ${this.reserveEnergyKwh().toFixed(2)} kWh (was ${was} %)`, true);
      }
      case 'plan-now':
        if (payload !== 'PRESS') return rejected('the plan-now button sends PRESS');
        return accepted('plan now', true);
    }
  }

  private load(): Partial<{ mode: UserMode; reservePercent: number }> {
    if (!this.options.stateFile) return {};
    try {
      const kept = (readStateFile(this.options.stateFile) ?? {}) as { mode?: unknown; reservePercent?: unknown };
      const mode = (USER_MODES as readonly unknown[]).includes(kept.mode) ? (kept.mode as UserMode) : undefined;
      const percent = typeof kept.reservePercent === 'number' && kept.reservePercent >= this.minReservePercent && kept.reservePercent <= this.maxReservePercent ? kept.reservePercent : undefined;
      return { ...(mode ? { mode } : {}), ...(percent !== undefined ? { reservePercent: percent } : {}) };
    } catch {
      // None yet (first start) or unreadable: the defaults, which the next command rewrites.
      return {};
    }
  }

  private save(): void {
    if (!this.options.stateFile) return;
    writeStateFile(this.options.stateFile, this.current);
  }
}
