/**
 * Loads a gateway config (`prosumer-edge run --config gateway.yaml`): YAML → schema check with
 * fixed defaults (ajv, src/config/gateway-schema.ts) → relative paths resolved against the
 * config file's folder → the board profile loaded (without opening any device) → defaults
 * taken from the board → cross-field checks the schema cannot express. Every error names the
 * file, the field path and what was expected; all problems are reported at once.
 */
import { dirname, join, resolve } from 'node:path';
import { schemaValidator } from './schema-validator.ts';
import { battery as evaluationBattery } from '../data/assets.ts';
import { BoardProfileError, endpointPlaceholders, loadBoardLayout, loadBoardProfile, type BoardProfile } from './board.ts';
import { ConfigFileError, describeSchemaErrors, readYamlFile } from './config-file.ts';
import type { GatewayConfig, ShiftableLoadConfig } from './gateway-config.ts';
import { GATEWAY_PATTERNS, gatewaySchema } from './gateway-schema.ts';
import { loadPriceFile } from '../prices/file-source.ts';
import { readSecurityToken } from '../prices/index.ts';
import { checkTimeZone } from '../time/zone.ts';

export class GatewayConfigError extends ConfigFileError {
  override name = 'GatewayConfigError';
}

/** The file's data once the schema has checked it and filled its fixed defaults. */
type Checked = Omit<GatewayConfig, 'file' | 'board' | 'site' | 'market'> & {
  board: { file: string; vars: Record<string, string | number> };
  site: {
    battery: Omit<GatewayConfig['site']['battery'], 'capacityKwh' | 'minEnergyKwh' | 'maxEnergyKwh'> & Partial<Pick<GatewayConfig['site']['battery'], 'capacityKwh' | 'minEnergyKwh' | 'maxEnergyKwh'>>;
    grid: GatewayConfig['site']['grid'];
    timeZone: string;
    shiftable: (Omit<ShiftableLoadConfig, 'ratedPowerKw'> & { ratedPowerKw?: number })[];
  };
  market?: Omit<NonNullable<GatewayConfig['market']>, 'identityFile' | 'maxTradeKw'> & { identityFile?: string; maxTradeKw?: number };
};

const validate = await schemaValidator('gateway', gatewaySchema);

export function loadGatewayConfig(file: string): GatewayConfig {
  const data = readYamlFile(file, 'the config', GatewayConfigError) ?? {};
  if (!validate(data)) throw new GatewayConfigError(file, describeSchemaErrors(validate.errors ?? [], GATEWAY_PATTERNS, gatewaySchema));
  const checked = data as Checked;
  const folder = dirname(resolve(file));
  const at = (p: string) => resolve(folder, p);

  const problems: string[] = [];
  const boardFile = at(checked.board.file);
  const vars = Object.fromEntries(Object.entries(checked.board.vars).map(([k, v]) => [k, String(v)]));
  const board = loadBoard(boardFile, vars, checked.simulator !== undefined, problems);
  if (!board) throw new GatewayConfigError(file, problems);

  const storageDir = at(checked.storage.dir);
  const config: GatewayConfig = {
    file: resolve(file),
    gatewayId: checked.gatewayId,
    board: { file: boardFile, vars },
    ...(checked.simulator ? { simulator: { ...checked.simulator, ...(checked.simulator.dataDir ? { dataDir: at(checked.simulator.dataDir) } : {}) } } : {}),
    site: {
      battery: batteryWithDefaults(checked.site.battery, board, problems),
      grid: checked.site.grid,
      timeZone: checked.site.timeZone,
      shiftable: checked.site.shiftable.map((load, i) => {
        const relay = relayOf(board, load.relay, `/site/shiftable/${i}/relay`, problems);
        return { ...load, ratedPowerKw: load.ratedPowerKw ?? relay?.ratedPowerKw ?? 0 };
      }),
    },
    tariff: {
      ...checked.tariff,
      ...(checked.tariff.pricesFile ? { pricesFile: at(checked.tariff.pricesFile) } : {}),
      ...(checked.tariff.feed?.securityTokenFile ? { feed: { ...checked.tariff.feed, securityTokenFile: at(checked.tariff.feed.securityTokenFile) } } : {}),
    },
    control: checked.control,
    forecast: { ...(checked.forecast.historyFile ? { historyFile: at(checked.forecast.historyFile) } : {}), ...(checked.forecast.freezeIso ? { freezeIso: checked.forecast.freezeIso } : {}) },
    ...(checked.market
      ? {
          market: {
            ...checked.market,
            // Created on first start (docs/market.md): kept with the gateway's other state.
            identityFile: checked.market.identityFile ? at(checked.market.identityFile) : join(storageDir, 'identity.json'),
            membersFile: at(checked.market.membersFile),
            ...(checked.market.passwordFile ? { passwordFile: at(checked.market.passwordFile) } : {}),
            ...(checked.market.tls ? { tls: Object.fromEntries(Object.entries(checked.market.tls).map(([k, v]) => [k, at(v)])) } : {}),
            // What the battery can deliver or absorb: more than that in one slot would be bought or sold through the grid.
            maxTradeKw: checked.market.maxTradeKw ?? Math.max(checked.site.battery.maxChargeKw, checked.site.battery.maxDischargeKw),
          },
        }
      : {}),
    storage: { ...checked.storage, dir: storageDir },
    telemetry: checked.telemetry,
  };
  crossCheck(config, problems);
  if (problems.length > 0) throw new GatewayConfigError(file, problems);
  return config;
}

/**
 * The board as the gateway will see it. With a simulator, its endpoints exist only once the
 * simulator runs, so the structure is checked with stand-ins (loadBoardLayout), and every bus
 * must be one the simulator can serve. Nothing is opened either way.
 */
function loadBoard(boardFile: string, vars: Record<string, string>, simulated: boolean, problems: string[]): BoardProfile | null {
  let board: BoardProfile;
  try {
    board = simulated ? loadBoardLayout(boardFile, vars) : loadBoardProfile(boardFile, vars);
  } catch (e) {
    if (!(e instanceof BoardProfileError)) throw e;
    problems.push(...e.problems.map((p) => `/board: ${e.file}: ${p}`));
    return null;
  }
  if (simulated) {
    const served = endpointPlaceholders(boardFile);
    for (const [name, bus] of Object.entries(board.buses)) {
      if (!served[name]) problems.push(`/board/file: with a simulator every bus's endpoint must be a \${name} placeholder the simulator fills in; bus "${name}" (${bus.type}) of ${boardFile} is fixed${bus.type === 'gpio' ? ' (GPIO pins cannot be simulated)' : ''}`);
    }
  }
  return board;
}

/** Capacity from the board's battery; the energy window scales the evaluation's [1, 10] of 10 kWh. */
function batteryWithDefaults(given: Checked['site']['battery'], board: BoardProfile, problems: string[]): GatewayConfig['site']['battery'] {
  // Several storage inverters are one pool (src/gateway/battery-pool.ts): their capacities add up.
  const storages = Object.entries(board.devices).flatMap(([id, d]) => (d.kind === 'battery-storage' ? [{ id, capacityKwh: d.capacityKwh }] : []));
  const boardCapacityKwh = storages.length > 0 ? storages.reduce((sum, s) => sum + s.capacityKwh, 0) : undefined;
  if (given.capacityKwh !== undefined && boardCapacityKwh !== undefined && given.capacityKwh !== boardCapacityKwh) {
    problems.push(`/site/battery/capacityKwh: must equal the board's battery capacity (${boardCapacityKwh} kWh, ${storages.map((s) => `/devices/${s.id}/capacityKwh`).join(' + ')}), got ${given.capacityKwh}; leave it out to take the board's`);
  }
  const capacityKwh = given.capacityKwh ?? boardCapacityKwh ?? evaluationBattery.capacityKwh;
  return {
    ...given,
    capacityKwh,
    minEnergyKwh: given.minEnergyKwh ?? (capacityKwh * evaluationBattery.minEnergyKwh) / evaluationBattery.capacityKwh,
    maxEnergyKwh: given.maxEnergyKwh ?? (capacityKwh * evaluationBattery.maxEnergyKwh) / evaluationBattery.capacityKwh,
  };
}

function relayOf(board: BoardProfile, id: string, path: string, problems: string[]) {
  const device = board.devices[id];
  if (device?.kind === 'relay') return device;
  const relays = Object.entries(board.devices).flatMap(([name, d]) => (d.kind === 'relay' ? [name] : []));
  problems.push(`${path}: must name a relay device of the board (${relays.join(', ') || 'it has none'}), got "${id}"${device ? ` (a ${device.kind})` : ''}`);
  return undefined;
}

function crossCheck(config: GatewayConfig, problems: string[]): void {
  const { battery, shiftable } = config.site;
  const { control } = config;
  const problem = (path: string, text: string) => problems.push(`${path}: ${text}`);

  try {
    checkTimeZone(config.site.timeZone ?? 'UTC');
  } catch (e) {
    problem('/site/timeZone', (e as Error).message);
  }

  if (config.simulator && Number.isNaN(Date.parse(config.simulator.startIso))) problem('/simulator/startIso', `is not a valid instant: "${config.simulator.startIso}"`);

  if (!(battery.minEnergyKwh < battery.maxEnergyKwh)) problem('/site/battery/minEnergyKwh', `must be below maxEnergyKwh (${battery.maxEnergyKwh} kWh), got ${battery.minEnergyKwh}`);
  if (battery.maxEnergyKwh > battery.capacityKwh) problem('/site/battery/maxEnergyKwh', `must be at most capacityKwh (${battery.capacityKwh} kWh), got ${battery.maxEnergyKwh}`);
  // The supervisor keeps SoC inside [E^min + band, E^max − band]: that window must not be empty.
  if (battery.minEnergyKwh < battery.maxEnergyKwh && battery.minEnergyKwh + control.socGuardBandKwh >= battery.maxEnergyKwh - control.socGuardBandKwh) {
    problem('/control/socGuardBandKwh', `must leave room between the guarded limits: twice the band must be below maxEnergyKwh − minEnergyKwh (${battery.maxEnergyKwh - battery.minEnergyKwh} kWh), got ${control.socGuardBandKwh}`);
  }

  const stepS = control.stepMinutes * 60;
  if (control.fastPeriodS > stepS) problem('/control/fastPeriodS', `must be at most one plan step, stepMinutes × 60 = ${stepS} s, got ${control.fastPeriodS}`);
  // A setpoint refreshed every fast period must never lapse between two refreshes.
  if (control.revertTimeoutS < 2 * control.fastPeriodS) problem('/control/revertTimeoutS', `must be at least twice fastPeriodS (${2 * control.fastPeriodS} s), got ${control.revertTimeoutS}`);
  // The budget is wall-clock time; a plan step lasts stepMinutes of gateway time, i.e. less wall time
  // under a simulator. Lock-step time waits for every solve: no wall-clock step to fit in.
  const speed = config.simulator?.speed ?? 1;
  const stepWallMs = speed === 'lockstep' ? Infinity : (stepS * 1000) / speed;
  if (control.solveBudgetMs > stepWallMs) problem('/control/solveBudgetMs', `must fit in one plan step: ${stepWallMs} ms of wall-clock time${speed === 1 ? '' : ` at simulator speed ${speed}`}, got ${control.solveBudgetMs}`);

  const horizonHours = (control.horizonSteps * control.stepMinutes) / 60;
  const seen = new Map<string, number>();
  let simulatorDemandAt: number | undefined;
  shiftable.forEach((load, i) => {
    const at = `/site/shiftable/${i}`;
    if (seen.has(load.relay)) problem(`${at}/relay`, `relay "${load.relay}" is already used by /site/shiftable/${seen.get(load.relay)}`);
    else seen.set(load.relay, i);
    if (load.demand.source === 'simulator') {
      if (!config.simulator) problem(`${at}/demand/source`, 'must be schedule without a simulator section (simulator: the simulated household asks for the energy)');
      else if (!config.simulator.household) problem(`${at}/demand/source`, 'simulator needs /simulator/household: the replayed household is what asks for the energy');
      // The simulated household has one shiftable demand (sim/plant/household.ts): one relay serves it.
      if (simulatorDemandAt !== undefined) problem(`${at}/demand/source`, `the simulated household's demand is already served by /site/shiftable/${simulatorDemandAt}; give this load a schedule`);
      simulatorDemandAt ??= i;
    }
    if (load.demand.source === 'schedule') {
      const hours = new Set<number>();
      load.demand.daily.forEach(({ hour }, j) => {
        if (hours.has(hour)) problem(`${at}/demand/daily/${j}/hour`, `hour ${hour} is listed twice`);
        hours.add(hour);
      });
    }
    // The deadline must fall inside the planning horizon, or the planner cannot see it.
    if (load.maxDelayHours >= horizonHours) problem(`${at}/maxDelayHours`, `must be below the horizon, horizonSteps × stepMinutes = ${horizonHours} h, got ${load.maxDelayHours}`);
  });

  if (config.tariff.pricesFile !== undefined) {
    if (config.tariff.feed !== undefined) problem('/tariff/feed', 'a price feed and a price file (/tariff/pricesFile) exclude each other: give one');
    // Read now, so a missing or malformed file stops the start before any device is opened.
    try {
      loadPriceFile(config.tariff.pricesFile);
    } catch (e) {
      problem('/tariff/pricesFile', (e as Error).message);
    }
  }

  for (const field of ['biddingZone', 'securityTokenFile'] as const) {
    if (config.tariff.feed?.source === 'awattar' && config.tariff.feed[field] !== undefined) problem(`/tariff/feed/${field}`, 'is for source: entsoe; aWATTar needs neither a zone nor a token');
  }
  if (config.tariff.feed?.securityTokenFile !== undefined) {
    try {
      readSecurityToken(config.tariff.feed.securityTokenFile);
    } catch (e) {
      problem('/tariff/feed/securityTokenFile', (e as Error).message);
    }
  }

  if (config.market) {
    const throughKw = Math.min(config.site.grid.maxImportKw, config.site.grid.maxExportKw);
    if (config.market.maxTradeKw > throughKw) problem('/market/maxTradeKw', `must fit through the grid connection (min of maxImportKw, maxExportKw = ${throughKw} kW), got ${config.market.maxTradeKw}`);
    const embedded = config.market.brokerUrl.startsWith('embedded:');
    if (config.market.listenHost !== undefined && !embedded) problem('/market/listenHost', 'is for an embedded broker (brokerUrl: embedded:<port>)');
    if ((config.market.tls?.certFile === undefined) !== (config.market.tls?.keyFile === undefined)) problem('/market/tls', 'certFile and keyFile go together');
    for (const key of ['communityPeakChargeEurPerKwDay', 'communityImportChance'] as const) {
      if (config.market[key] !== undefined && config.market.coordination !== 'community') problem(`/market/${key}`, 'is a term of the community clearing (coordination: community)');
    }
    // The market's embedded broker admits the community's members only.
    if (embedded && config.market.brokerUrl === config.telemetry.mqtt?.brokerUrl) problem('/telemetry/mqtt/brokerUrl', `the market's embedded broker (${config.market.brokerUrl}) admits only the community's members: give the telemetry its own port`);
  }
  // Embedded brokers and the status page all listen on this host: one port each.
  const page = config.telemetry.statusPage;
  for (const [path, url] of [['/market/brokerUrl', config.market?.brokerUrl], ['/telemetry/mqtt/brokerUrl', config.telemetry.mqtt?.brokerUrl]] as const) {
    const embeddedPort = /^embedded:(\d+)$/.exec(url ?? '')?.[1];
    if (embeddedPort === undefined) continue;
    if (Number(embeddedPort) < 1 || Number(embeddedPort) > 65535) problem(path, `must be a TCP port (1..65535), got ${embeddedPort}`);
    if (page && Number(embeddedPort) === page.port) problem(path, `port ${embeddedPort} is the status page's (/telemetry/statusPage/port)`);
  }
}
