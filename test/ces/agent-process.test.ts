/**
 * The CES agent as its own process (`prosumer-edge ces-agent`) on lock-step time, as the community
 * run coordinates its gateways: this test is the barrier, two households answer its rounds on their
 * market nodes over a real broker. The process clears the day with them, books it in its ledger and
 * theirs (mirrored), drives its simulated 100 kWh / 50 kW storage over Modbus TCP to its schedule
 * and meters it. Killed with SIGKILL in the middle of a day (its accounts' movements flowing in from
 * the households' meters) and restarted, it clears nothing twice, and every hour's movement and every
 * day's settlement is in its book and the household's once, mirrored.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CesAgentConfig } from '../../src/ces/agent-command.ts';
import { HouseholdRentalParty } from '../../src/ces/household-rental.ts';
import type { HouseholdDayInput } from '../../src/ces/household-model.ts';
import { booksMirror, RentalLedger, type RentalBooking } from '../../src/ces/rental-ledger.ts';
import { isAccountTrade, rentalChannel, RENTAL_ROUND_SCHEMAS } from '../../src/ces/rental-protocol.ts';
import type { MeteredHour } from '../../src/ces/storage.ts';
import { CesSolver } from '../../src/ces/solve.ts';
import { startEmbeddedBroker } from '../../src/market/broker.ts';
import { generateIdentity, saveIdentity } from '../../src/market/identity.ts';
import { Ledger } from '../../src/market/ledger.ts';
import { MarketNode } from '../../src/market/node.ts';
import { cliEntry, packageFile } from '../../src/package/paths.ts';
import { ManualClock } from '../../src/time/clock.ts';
import { LockstepBarrier, type LockstepReport } from '../../src/time/lockstep-clock.ts';
import { byHour, expectedMovements, journalMovementIds, meterOf } from './account-meter.ts';
import { until } from './rental-street.ts';

const HOUR_MS = 3_600_000;
const dayMs = Date.UTC(2016, 10, 1);
/** A noon surplus and an evening load (kW, hourly): what renting carries from one to the other. */
const household = (scale: number): HouseholdDayInput => ({
  netLoadKw: Array.from({ length: 24 }, (_, h) => scale * (h >= 10 && h <= 14 ? -2.5 : h >= 17 && h <= 21 ? 1.8 : 0.3)),
  buyEurPerKwh: new Array(24).fill(0.28),
  sellEurPerKwh: new Array(24).fill(0.08),
  demandChargeEurPerKwDay: 0.5,
  gridKw: 11,
  p2pFees: { localGridFeeEurPerKwh: 0.09, vatFactor: 1.19 },
});

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * A street of two households answering the CES on their market nodes over an embedded broker, and
 * the agent's config for `days` on lock-step time from `startMs` to `endMs`, written to `dir`.
 */
async function street(dir: string, days: string[], startMs: number, endMs: number, extra: Partial<CesAgentConfig> = {}) {
  const ids = { ces: generateIdentity('ces'), h1: generateIdentity('h1'), h2: generateIdentity('h2') };
  saveIdentity(ids.ces, join(dir, 'ces.identity.json'));
  const community = { communityId: 'street', members: Object.values(ids).map((i) => ({ peerId: i.peerId, publicKey: i.publicKey })) };
  const broker = await startEmbeddedBroker();
  const nodes: MarketNode[] = [];
  const ledgers: Record<string, RentalLedger> = {};
  const parties: Record<string, HouseholdRentalParty> = {};
  const solvers: CesSolver[] = [];
  const close = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    for (const l of Object.values(ledgers)) l.close();
    for (const s of solvers) s.dispose();
    await broker.close();
  };
  try {
    for (const [id, scale] of [['h1', 1], ['h2', 0.7]] as const) {
      const node = new MarketNode({ identity: ids[id], community, brokerUrl: broker.url, dataDir: join(dir, id, 'market'), protocolVersion: 4, roundSchemas: RENTAL_ROUND_SCHEMAS, slotClock: new ManualClock(startMs), log: () => undefined });
      await node.start();
      nodes.push(node);
      ledgers[id] = RentalLedger.open(join(dir, id), id);
      const solver = new CesSolver();
      solvers.push(solver);
      parties[id] = new HouseholdRentalParty({ channel: rentalChannel(node), cesId: 'ces', ledger: ledgers[id]!, solver, feedInEurPerKwh: 0.08, clock: new ManualClock(startMs), dayInput: () => household(scale) });
    }
  } catch (error) {
    await close();
    throw error;
  }
  const config: CesAgentConfig = {
    community,
    identityFile: 'ces.identity.json',
    brokerUrl: broker.url,
    dataDir: 'ces',
    households: ['h1', 'h2'],
    pricesDir: packageFile('data', 'community'),
    days,
    startIso: new Date(startMs).toISOString(),
    endIso: new Date(endMs).toISOString(),
    clock: 'lockstep',
    // P2P at most 0.5 kW per household: the evening is part P2P, part account (at more, P2P is cheaper than renting and nobody books).
    settings: { p2pMaxKwPerHousehold: 0.5 },
    ...extra,
  };
  writeFileSync(join(dir, 'ces-agent.json'), JSON.stringify(config));
  return { nodes, ledgers, parties, close };
}

describe('prosumer-edge ces-agent', () => {
  it('clears a day with the households on lock-step time, both ledgers mirror, its storage follows its schedule', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pe-ces-process-'));
    dirs.push(dir);
    const startMs = dayMs - 2 * HOUR_MS;
    const endMs = dayMs + 24 * HOUR_MS;
    const { nodes, ledgers, close } = await street(dir, ['2016-11-01'], startMs, endMs);
    const barrier = new LockstepBarrier(startMs, endMs);
    try {
      const child = spawn(process.execPath, [cliEntry, 'ces-agent', '--config', join(dir, 'ces-agent.json')], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      barrier.join('ces', (advance) => child.connected && child.send(advance));
      child.on('message', (report) => barrier.report('ces', report as LockstepReport));
      const exitCode = await new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
      barrier.leave('ces');
      expect(exitCode, stderr).toBe(0);
      expect(barrier.currentMs).toBe(endMs);

      const [day] = readFileSync(join(dir, 'ces', 'ces-days.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { priceEurPerKwhDay: number; bookings: RentalBooking[]; silent: string[]; unbooked: unknown[]; accountTrades: number; committedTrades: number; p2pTrades: number; committedP2pTrades: number; p2pKwh: number; p2pRevenueEur: number; schedule: { physicalChargeKw: number[]; physicalDischargeKw: number[] } });
      expect(day!.silent).toEqual([]);
      expect(day!.unbooked).toEqual([]);
      expect(day!.bookings.map((b) => b.household).sort()).toEqual(['h1', 'h2']);
      // The accounts' energy was committed as trades with the CES, each in the household's market ledger.
      expect(day!.accountTrades).toBeGreaterThan(0);
      expect(day!.committedTrades).toBe(day!.accountTrades);
      // And the P2P energy they answered, sold at the posted price: in the households' market ledgers, worth what the CES records.
      expect(day!.p2pTrades).toBeGreaterThan(0);
      expect(day!.committedP2pTrades).toBe(day!.p2pTrades);
      expect(nodes.reduce((n, node) => n + node.ledger.committed().length, 0)).toBe(day!.accountTrades + day!.p2pTrades);
      const bought = nodes.flatMap((node) => node.ledger.committed().filter((t) => !isAccountTrade(t)));
      expect(bought.reduce((s, t) => s + t.powerKw, 0)).toBeCloseTo(day!.p2pKwh, 9);
      expect(bought.reduce((s, t) => s + t.powerKw * t.priceEurPerKwh, 0)).toBeCloseTo(day!.p2pRevenueEur, 9);

      // Both parties' books hold each booking, with opposite signs; the CES's sums to what the households' owe.
      const cesLedger = RentalLedger.open(join(dir, 'ces'), 'ces');
      try {
        expect(cesLedger.allBookings()).toEqual(day!.bookings);
        let total = 0;
        for (const b of day!.bookings) {
          expect(ledgers[b.household]!.allBookings()).toEqual([b]);
          expect(ledgers[b.household]!.balanceEur(b.bookingId)).toBe(-cesLedger.balanceEur(b.bookingId));
          expect(cesLedger.balanceEur(b.bookingId)).toBeCloseTo(b.capacityKwh * day!.priceEurPerKwhDay, 12);
          total += cesLedger.balanceEur(b.bookingId) + ledgers[b.household]!.balanceEur(b.bookingId);
        }
        expect(total).toBe(0);
      } finally {
        cesLedger.close();
      }

      // The storage did what the schedule says, hour by hour (within the registers' resolution).
      const { hours } = JSON.parse(readFileSync(join(dir, 'ces', 'ces-metered.json'), 'utf8')) as { hours: MeteredHour[] };
      const dayHours = hours.filter((h) => h.hourStartMs >= dayMs);
      expect(dayHours).toHaveLength(24);
      const { physicalChargeKw: charge, physicalDischargeKw: discharge } = day!.schedule;
      dayHours.forEach((h, t) => {
        const both = Math.min(charge[t]!, discharge[t]!);
        expect(Math.abs(h.chargeKwh - (charge[t]! - both))).toBeLessThan(0.01);
        expect(Math.abs(h.dischargeKwh - (discharge[t]! - both))).toBeLessThan(0.01);
      });
      expect(dayHours.reduce((s, h) => s + h.chargeKwh, 0)).toBeGreaterThan(1);
    } finally {
      await close();
    }
  }, 90_000);
});

describe('prosumer-edge ces-agent killed with SIGKILL', () => {
  it('mid-day, restarted, follows the day it had cleared and clears the next; every booking, account trade, movement and settlement is in both ledgers once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pe-ces-kill-'));
    dirs.push(dir);
    const startMs = dayMs - 2 * HOUR_MS;
    // An hour after the second day, as the community run's cool-down: the day's settlement arrives while the agent runs.
    const endMs = dayMs + 49 * HOUR_MS;
    const { nodes, ledgers, parties, close } = await street(dir, ['2016-11-01', '2016-11-02'], startMs, endMs, { controlPeriodS: 1800 });
    const daysFile = join(dir, 'ces', 'ces-days.jsonl');
    const clearedDays = () => (existsSync(daysFile) ? readFileSync(daysFile, 'utf8').trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { day: string; bookings: RentalBooking[]; accountTrades: number; committedTrades: number; p2pTrades: number; committedP2pTrades: number }) : []);
    // The households' meters (each hour 80 % of the committed deposit exported, the withdrawal imported), read as lock-step time passes each hour.
    const ids = ['h1', 'h2'] as const;
    const hourStartsMs = Array.from({ length: 48 }, (_, h) => dayMs + h * HOUR_MS);
    const meters = Object.fromEntries(ids.map((id, n) => [id, () => meterOf(hourStartsMs, nodes[n]!.ledger.committed(), id, () => 0.8, () => 1)]));
    let meteredUntilMs = dayMs;
    const meterHours = async (nowMs: number) => {
      if (meteredUntilMs + HOUR_MS > Math.min(nowMs, dayMs + 48 * HOUR_MS)) return;
      for (; meteredUntilMs + HOUR_MS <= Math.min(nowMs, dayMs + 48 * HOUR_MS); meteredUntilMs += HOUR_MS) {
        for (const id of ids) parties[id]!.observeHour(meters[id]!().find((h) => h.hourStartMs === meteredUntilMs)!);
      }
      // The agent answers before time moves on, as a gateway's hour would hold lock-step time (reports it missed while dead are sent again with the next hour).
      await until(() => ids.every((id) => parties[id]!.unacknowledged().length === 0)).catch(() => undefined);
    };
    /** One life of the agent on its own lock-step barrier; `killWhen` sends SIGKILL once it holds. */
    const life = async (killWhen?: (nowMs: number) => boolean) => {
      const barrier = new LockstepBarrier(startMs, endMs);
      const child = spawn(process.execPath, [cliEntry, 'ces-agent', '--config', join(dir, 'ces-agent.json')], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      barrier.join('ces', (advance) => child.connected && child.send(advance));
      child.on('message', async (report) => {
        if (killWhen?.(barrier.currentMs)) return child.kill('SIGKILL');
        await meterHours(barrier.currentMs);
        barrier.report('ces', report as LockstepReport);
      });
      const [code, signal] = await new Promise<[number | null, string | null]>((done) => child.once('exit', (c, s) => done([c, s])));
      barrier.leave('ces');
      return { code, signal, stderr };
    };
    try {
      // Killed mid-day: the first day cleared, its noon deposits recorded, its evening withdrawals not yet.
      const killAtMs = dayMs + 15 * HOUR_MS;
      const killed = await life((nowMs) => nowMs >= killAtMs);
      expect(killed.signal, killed.stderr).toBe('SIGKILL');
      expect(clearedDays().map((d) => d.day)).toEqual(['2016-11-01']);
      const beforeKill = RentalLedger.open(join(dir, 'ces'), 'ces');
      const recordedBeforeKill = beforeKill.allBookings().flatMap((b) => beforeKill.movementsOf(b.bookingId));
      beforeKill.close();
      expect(recordedBeforeKill.length).toBeGreaterThan(0);
      expect(recordedBeforeKill.every((m) => m.meterKwh > 0 && m.slotStartMs < killAtMs)).toBe(true);
      const restarted = await life();
      expect(restarted.code, restarted.stderr).toBe(0);
      expect(restarted.stderr).toContain('2016-11-01 was cleared before a restart');

      const days = clearedDays();
      expect(days.map((d) => d.day)).toEqual(['2016-11-01', '2016-11-02']);
      const bookings = days.flatMap((d) => d.bookings);
      expect(bookings.length).toBeGreaterThan(2);
      const cesLedger = RentalLedger.open(join(dir, 'ces'), 'ces');
      try {
        expect(cesLedger.allBookings()).toEqual(bookings);
        for (const id of ['h1', 'h2']) expect(ledgers[id]!.allBookings()).toEqual(bookings.filter((b) => b.household === id));
        // Every hour's movement as metered, in both books alike, each once; every day settled in both; the books sum to zero.
        for (const b of bookings) {
          const n = ids.indexOf(b.household as 'h1' | 'h2');
          const expected = expectedMovements(b, nodes[n]!.ledger.committed(), meters[b.household]!().filter((h) => h.hourStartMs >= b.dayMs && h.hourStartMs < b.dayMs + 24 * HOUR_MS));
          const recorded = byHour(cesLedger, b.bookingId);
          expect([...recorded.keys()]).toEqual([...expected.keys()]);
          for (const [hourMs, kwh] of expected) kwh.forEach((v, k) => expect(recorded.get(hourMs)![k]).toBeCloseTo(v, 12));
          expect(cesLedger.settlement(b.bookingId)).toBeDefined();
          expect(booksMirror(cesLedger, ledgers[b.household]!, b.bookingId)).toBe(true);
          expect(ledgers[b.household]!.balanceEur(b.bookingId)).toBe(-cesLedger.balanceEur(b.bookingId));
        }
        expect(recordedBeforeKill.every((m) => cesLedger.movement(m.movementId)?.meterKwh === m.meterKwh)).toBe(true);
        for (const ledgerDir of [join(dir, 'ces'), join(dir, 'h1'), join(dir, 'h2')]) {
          const lines = journalMovementIds(ledgerDir);
          expect(new Set(lines).size).toBe(lines.length);
        }
        expect(journalMovementIds(join(dir, 'ces'))).toHaveLength(bookings.reduce((s, b) => s + cesLedger.movementsOf(b.bookingId).length, 0));
      } finally {
        cesLedger.close();
      }
      for (const d of days) expect([d.committedTrades, d.committedP2pTrades]).toEqual([d.accountTrades, d.p2pTrades]);
      // The CES's market ledger and the households' hold the same account and P2P trades, none twice.
      const cesTrades = Ledger.open(join(dir, 'ces', 'market'), 'ces');
      try {
        const key = (t: { tradeId: string; seller: string; buyer: string; slotStartMs: number; powerKw: number }) => `${t.tradeId}/${t.seller}/${t.buyer}/${t.slotStartMs}/${t.powerKw}`;
        const theirs = nodes.flatMap((n) => n.ledger.committed()).map(key).sort();
        expect(cesTrades.committed().map(key).sort()).toEqual(theirs);
        expect(theirs).toHaveLength(days.reduce((s, d) => s + d.accountTrades + d.p2pTrades, 0));
      } finally {
        cesTrades.close();
      }
    } finally {
      await close();
    }
  }, 120_000);
});
