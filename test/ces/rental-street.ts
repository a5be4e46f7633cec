/**
 * A street for the CES tests: the CES and households h1, h2 (and h3, a member whose gateway never
 * answers) on a real community broker (member logins), each a member's market node with its own
 * identity, rental ledger and solver; the day is test/ces/household-day.ts's 8 hours and a small CES
 * whose own arbitrage competes with the households for its 8 kWh (test/ces/rental-market.test.ts) and
 * that sells P2P energy.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MeterHour } from '../../src/ces/account-movements.ts';
import { CesAgent, type CesAgentOptions } from '../../src/ces/agent.ts';
import { HouseholdRentalParty } from '../../src/ces/household-rental.ts';
import type { HouseholdDayInput } from '../../src/ces/household-model.ts';
import { RentalLedger } from '../../src/ces/rental-ledger.ts';
import { rentalChannel, RENTAL_ROUND_SCHEMAS, type RentalChannel } from '../../src/ces/rental-protocol.ts';
import { defaultCesSettings, type CesSettings } from '../../src/ces/settings.ts';
import { CesSolver } from '../../src/ces/solve.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/market/broker.ts';
import type { CommunityConfig } from '../../src/market/community.ts';
import { generateIdentity, saveIdentity, type Identity } from '../../src/market/identity.ts';
import { MarketNode } from '../../src/market/node.ts';
import { ManualClock } from '../../src/time/clock.ts';
import { collectLines } from '../child-lines.ts';
import { householdDay } from './household-day.ts';

/**
 * P2P at most 0.5 kW per household: the evening load then is part P2P, part account (with more, P2P
 * at these prices is cheaper than storing the noon surplus and nobody rents).
 */
export const settings: CesSettings = { ...defaultCesSettings, capacityKwh: 10, minEnergyKwh: 2, powerKw: 5, gridKw: 10, degradationEurPerKwh: 0.01, p2pMaxKwPerHousehold: 0.5 };
export const prices = [[0.02, 0.02, 0.02, 0.02, 0.03, 0.05, 0.05, 0.03], [0.02, 0.03, 0.02, 0.02, 0.03, 0.04, 0.06, 0.03]];
export const inputs: Record<string, HouseholdDayInput> = { h1: householdDay(1), h2: householdDay(0.8, 0.12) };
export const dayMs = Date.UTC(2016, 10, 1);
export const fees = { throughputFeeEurPerKwh: 0.01, withdrawalFeeEurPerKwh: 0.09 };
/** The CES buys a residue back at the households' feed-in price. */
export const feedInEurPerKwh = 0.08;

export const identities: Record<string, Identity> = Object.fromEntries(['ces', 'h1', 'h2', 'h3'].map((id) => [id, generateIdentity(id)]));
export const community: CommunityConfig = { communityId: 'street', members: Object.values(identities).map((i) => ({ peerId: i.peerId, publicKey: i.publicKey })) };

export interface Street {
  broker: EmbeddedBroker;
  /** The clock the CES's days are on (a settlement waits for its day's end). */
  clock: ManualClock;
  nodes: Map<string, MarketNode>;
  tempDir(): string;
  solver(): CesSolver;
  channel(id: string): Promise<RentalChannel>;
  ledger(id: string, dir?: string): RentalLedger;
  household(id: string): Promise<{ ledger: RentalLedger; party: HouseholdRentalParty }>;
  /** The CES agent; `dir` holds its rental ledger. */
  agent(households: string[], extra?: Partial<CesAgentOptions>): Promise<{ agent: CesAgent; ledger: RentalLedger; dir: string }>;
  close(): Promise<void>;
}

export async function rentalStreet(): Promise<Street> {
  const broker = await startEmbeddedBroker({ community });
  const clock = new ManualClock(dayMs - 3_600_000);
  const open: { close(): unknown }[] = [];
  const dirs: string[] = [];
  const nodes = new Map<string, MarketNode>();
  const street: Street = {
    broker,
    clock,
    nodes,
    tempDir() {
      const dir = mkdtempSync(join(tmpdir(), 'pe-ces-street-'));
      dirs.push(dir);
      return dir;
    },
    solver() {
      const s = new CesSolver();
      open.push({ close: () => s.dispose() });
      return s;
    },
    async channel(id) {
      const node = new MarketNode({ identity: identities[id]!, community, brokerUrl: broker.url, dataDir: street.tempDir(), protocolVersion: 4, roundSchemas: RENTAL_ROUND_SCHEMAS, credentials: { username: id }, log: () => undefined });
      await node.start();
      nodes.set(id, node);
      open.push({ close: () => node.stop() });
      return rentalChannel(node);
    },
    ledger(id, dir = street.tempDir()) {
      const l = RentalLedger.open(dir, id);
      open.push(l);
      return l;
    },
    async household(id) {
      const ledger = street.ledger(id);
      const party = new HouseholdRentalParty({ channel: await street.channel(id), cesId: 'ces', ledger, solver: street.solver(), feedInEurPerKwh, clock, dayInput: () => inputs[id]!, commitTimeoutMs: 5_000 });
      return { ledger, party };
    },
    async agent(households, extra = {}) {
      const dir = street.tempDir();
      const ledger = street.ledger('ces', dir);
      const agent = new CesAgent({ channel: await street.channel('ces'), ledger, solver: street.solver(), settings, households, ...fees, residueCreditEurPerKwh: feedInEurPerKwh, clock, toleranceEurPerKwhDay: 1e-4, ...extra });
      return { agent, ledger, dir };
    },
    async close() {
      for (const o of open.splice(0).reverse()) await o.close();
      await broker.close();
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
  return street;
}

/** Waits (wall time, up to `ms`, 10 s unless told) until `done` holds. */
export async function until(done: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await new Promise((wake) => setTimeout(wake, 50));
  if (!done()) throw new Error('timed out waiting');
}

/**
 * What a member of the street as a child process is started with: the community and its identity
 * written to `dir`, and the script (household-process.ts for h1, ces-process.ts for the CES).
 */
export function memberProcessFiles(dir: string, id: 'h1' | 'ces'): { files: { community: string; identity: string }; script: string } {
  const files = { community: join(dir, 'community.json'), identity: join(dir, `${id}.identity.json`) };
  writeFileSync(files.community, JSON.stringify(community));
  saveIdentity(identities[id]!, files.identity);
  return { files, script: fileURLToPath(new URL(id === 'ces' ? './ces-process.ts' : './household-process.ts', import.meta.url)) };
}


export interface ChildLife {
  child: ChildProcessWithoutNullStreams;
  /** Its stdout, line by line, as they come. */
  lines: string[];
  exited: Promise<[code: number | null, signal: string | null]>;
  stderr(): string;
}

/**
 * One life of a member's child process (`script` run by tsx with `args`), added to `children` (for
 * the test's cleanup) at once; resolves once it printed `ready` (it is on the broker), throws with its
 * stderr if it does not within 30 s (a cold start on a loaded machine).
 */
export async function startChild(script: string, args: string[], children: ChildProcessWithoutNullStreams[]): Promise<ChildLife> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: 'pipe' });
  children.push(child);
  const lines: string[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  collectLines(child.stdout, lines);
  const exited = new Promise<[number | null, string | null]>((done) => child.once('exit', (code, signal) => done([code, signal])));
  await until(() => lines.includes('ready') || child.exitCode !== null, 30_000).catch(() => undefined);
  if (!lines.includes('ready')) throw new Error(`${script} not ready: ${stderr}`);
  return { child, lines, exited, stderr: () => stderr };
}

export interface HouseholdLife extends ChildLife {
  /** Hands it a metered hour and waits until it acknowledged it (`hour <hourStartMs>`). */
  observe(hour: MeterHour): Promise<void>;
}

/**
 * One life of h1 as a child process (household-process.ts) on `h1Dir`, with the street's day; its slot
 * clock at `nowMs` (default the day's start), frozen before a commit or a booking's decision with `mode`.
 */
export async function startHousehold(files: ReturnType<typeof memberProcessFiles>, h1Dir: string, brokerUrl: string, children: ChildProcessWithoutNullStreams[], at: { nowMs: number; mode?: 'freeze' | 'freeze-booked' } | undefined = undefined): Promise<HouseholdLife> {
  const clock = at === undefined ? [] : [String(at.nowMs), ...(at.mode ? [at.mode] : [])];
  const life = await startChild(files.script, [h1Dir, brokerUrl, files.files.community, files.files.identity, String(dayMs), ...clock], children);
  const observe = async (hour: MeterHour) => {
    life.child.stdin.write(`${JSON.stringify(hour)}\n`);
    await until(() => life.lines.includes(`hour ${hour.hourStartMs}`));
  };
  return { ...life, observe };
}
