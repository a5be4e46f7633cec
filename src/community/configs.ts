/**
 * The community run's folder: one signing identity and one gateway.yaml per household, and the
 * membership file listing every gateway's public key (docs/market.md), all written before any
 * gateway starts so each finds its peers' keys at its first message.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { generateIdentity, saveIdentity } from '../market/identity.ts';
import { packageRoot } from '../package/paths.ts';
import type { CommunityConfig } from '../market/community.ts';
import { grid } from '../data/assets.ts';
import type { CesAgentConfig } from '../ces/agent-command.ts';

export const repoDir = packageRoot;
export const communityId = 'community';

export interface GatewaySetup {
  household: string;
  /** Hours a shiftable request may wait (the household's shiftable rule). */
  maxDelayHours: number;
}

export interface RunLayoutOptions {
  runDir: string;
  dataDir: string;
  households: GatewaySetup[];
  brokerUrl: string;
  startIso: string;
  /** Simulated seconds per wall second (with the wall anchor), or 'lockstep'. */
  speed: number | 'lockstep';
  wallAnchorMs?: number;
  hours: number;
  /** With a CES (`--ces`, lock-step only): the days it clears and the run's end (docs/ces.md §5). */
  ces?: { days: string[]; endIso: string };
  /** The community import chance family every gateway plans with (`--community-chance`); absent: off. */
  communityImportChance?: { epsilon: number };
  /** The live community guard (`market.communityGuard`; `--no-live-guard` turns it off). */
  liveGuard: boolean;
  /** Forecast-error trajectories per solve (`control.samples`, `--samples`); absent: the configuration's default. */
  samples?: number;
  /** The evaluation's split: the gateways fit and sample only before it (`forecast.freezeIso`); absent: they learn from every hour. */
  freezeIso?: string;
}

export interface GatewayFiles {
  household: string;
  dir: string;
  configFile: string;
  storageDir: string;
  logFile: string;
  /** The command line after the CLI entry (default: `run --config <configFile>`). */
  command?: string[];
}

/** The CES's member id in a community run. */
export const cesId = 'ces';

/**
 * Fast loop and solve budget in wall-clock terms, whatever the speed: a fast-loop round every
 * `fastLoopWallMs` (a round reads the battery over the 9600-Bd BMS line and the relays, about
 * 100–200 ms), the revert timeout ten rounds, so a busy event loop does not let a setpoint
 * lapse, and a solve budget inside one hourly plan step (the market round follows the solve).
 */
const fastLoopWallMs = 250;
const stepMinutes = 60;

export function controlFor(speed: number | 'lockstep') {
  if (speed === 'lockstep') return lockstepControl;
  const fastPeriodS = Math.min(stepMinutes * 60, Math.max(1, Math.round((speed * fastLoopWallMs) / 1000)));
  const stepWallMs = (stepMinutes * 60 * 1000) / speed;
  return {
    fastPeriodS,
    stepMinutes,
    revertTimeoutS: 10 * fastPeriodS,
    solveBudgetMs: Math.max(10, Math.floor(Math.min(2000, 0.8 * stepWallMs))),
  };
}

/**
 * Lock-step: the fast loop every 5 minutes, and the evaluation's solve budget (time waits for the
 * solve, so a solve ends by convergence, not by the machine's load: the run is deterministic). The
 * replayed profiles are hourly means held for their hour, so two rounds an hour would see every
 * change of the data; but the relays realise the plan's f_k by duty cycle over the rounds, and a
 * half-hour round serves a 2 kW dishwasher in 1 kWh quanta, which made hours of the plan's small
 * f_k the households' daily peaks (docs/community.md, "Against the evaluation").
 */
const lockstepControl = { fastPeriodS: 300, stepMinutes, revertTimeoutS: 3_000, solveBudgetMs: 10_000 };

/**
 * No SoC guard band: it keeps a real battery's discharge off E^min against the BMS's error in its
 * state of charge, and a simulated battery's stored energy is exact. The evaluation's plant (and the
 * no-loss shadow, which steps it) has none either; with the default 0.2 kWh each battery stopped
 * that far above the floor its plans counted on, at the evening peak.
 */
const socGuardBandKwh = 0;

export function writeRunLayout(options: RunLayoutOptions): { membersFile: string; gateways: GatewayFiles[]; ces?: GatewayFiles } {
  const dataDir = resolve(options.dataDir);
  const control = { ...controlFor(options.speed), socGuardBandKwh, ...(options.samples !== undefined ? { samples: options.samples } : {}) };
  mkdirSync(options.runDir, { recursive: true });
  const gateways = options.households.map(({ household }) => {
    const dir = join(options.runDir, household);
    return { household, dir, configFile: join(dir, 'gateway.yaml'), storageDir: join(dir, 'store'), logFile: join(dir, 'gateway.log'), identityFile: join(dir, 'identity.json') };
  });
  const members: CommunityConfig = {
    communityId,
    members: gateways.map((g) => {
      const identity = generateIdentity(g.household);
      saveIdentity(identity, g.identityFile);
      // Each gateway's connection (the configuration's default): what its live-guard reports may claim.
      return { peerId: identity.peerId, publicKey: identity.publicKey, maxImportKw: grid.maxImportKw, maxExportKw: grid.maxExportKw };
    }),
  };
  const ces = options.ces === undefined ? undefined : writeCesLayout(options, members, options.ces);
  const membersFile = join(options.runDir, 'members.json');
  writeFileSync(membersFile, `${JSON.stringify(members, null, 2)}\n`);

  options.households.forEach((setup, i) => {
    const g = gateways[i]!;
    const config = {
      gatewayId: setup.household,
      board: { file: join(repoDir, 'boards', 'sim.yaml') },
      simulator: {
        household: setup.household,
        dataDir,
        startIso: options.startIso,
        speed: options.speed,
        ...(options.wallAnchorMs !== undefined ? { wallAnchorMs: options.wallAnchorMs } : {}),
        hours: options.hours,
      },
      site: {
        // The simulated household's shiftable requests go to the dishwasher relay (sim/plant/household.ts).
        shiftable: [{ relay: 'dishwasher', maxDelayHours: setup.maxDelayHours, demand: { source: 'simulator' } }],
      },
      tariff: { pricesFile: join(dataDir, 'prices', 'day_ahead_DE_2015-2016.csv') },
      forecast: { historyFile: join(dataDir, 'buildings', `${setup.household}_hourly.csv`), ...(options.freezeIso !== undefined ? { freezeIso: options.freezeIso } : {}) },
      control,
      market: { brokerUrl: options.brokerUrl, community: communityId, identityFile: g.identityFile, membersFile, coordination: 'community', communityGuard: options.liveGuard, ...(ces ? { ces: cesId } : {}), ...(options.communityImportChance ? { communityImportChance: options.communityImportChance } : {}) },
      storage: { dir: g.storageDir, measurementEveryS: Math.max(control.fastPeriodS, 300) },
      // No status page: four gateways on one machine would need four ports, and the report shows the run.
      telemetry: { mqtt: { brokerUrl: options.brokerUrl } },
    };
    mkdirSync(g.dir, { recursive: true });
    writeFileSync(g.configFile, `# Written by \`prosumer-edge community\` (src/community/configs.ts) for this run.\n${stringify(config)}`);
  });
  return { membersFile, gateways: gateways.map(({ identityFile: _, ...files }) => files), ...(ces ? { ces } : {}) };
}

/**
 * The CES agent's folder (`prosumer-edge ces-agent`, docs/ces.md §5): its identity, added to the
 * members, and its config — on the run's broker and lock-step time, its storage stepped with the
 * gateways' fast loop, each day cleared at 23:10 (after the households' 23:00 solve, whose problem
 * they answer from; before the community's clearing at midnight).
 */
function writeCesLayout(options: RunLayoutOptions, members: CommunityConfig, ces: NonNullable<RunLayoutOptions['ces']>): GatewayFiles {
  if (options.speed !== 'lockstep') throw new RangeError('a CES runs on lock-step time only (no --speed with --ces)');
  const dir = join(options.runDir, cesId);
  mkdirSync(dir, { recursive: true });
  const identity = generateIdentity(cesId);
  saveIdentity(identity, join(dir, 'identity.json'));
  members.members.push({ peerId: identity.peerId, publicKey: identity.publicKey });
  const config: CesAgentConfig = {
    community: members,
    identityFile: join(dir, 'identity.json'),
    brokerUrl: options.brokerUrl,
    dataDir: join(dir, 'data'),
    households: options.households.map((h) => h.household),
    pricesDir: resolve(options.dataDir),
    days: ces.days,
    startIso: options.startIso,
    endIso: ces.endIso,
    clock: 'lockstep',
    clearLeadMinutes: 50,
    controlPeriodS: controlFor('lockstep').fastPeriodS,
  };
  const configFile = join(dir, 'ces-agent.json');
  writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);
  return { household: cesId, dir, configFile, storageDir: config.dataDir, logFile: join(dir, 'ces-agent.log'), command: ['ces-agent', '--config', configFile] };
}
