/**
 * `prosumer-edge ces-agent --config ces-agent.json`: the CES operator as its own process
 * (docs/ces.md §5). It serves its simulated storage (sim/ces/storage.ts: the simulator's SunSpec
 * storage, 100 kWh / 50 kW by default, on Modbus TCP) and drives it through the battery driver,
 * joins the community with its own identity on its market node, and before each of its days clears
 * the rental with the households over the community's signed messages, books what they accepted in
 * its rental ledger, commits the accounts' and the P2P energy as market trades and schedules its battery; then it follows the schedule until the day after, and
 * records in its rental ledger the accounts' movements the households report from their meters and,
 * after each day, the settlement of the residues (docs/ces.md §4).
 * On lock-step time (`"clock": "lockstep"`, spawned with an IPC channel by the coordinator) every
 * clearing and every control step holds time still, as the gateways' do.
 *
 * Writes `<dataDir>/ces-days.jsonl` (each day's clearing, P2P sales and schedule, one JSON line) and, on stop,
 * `<dataDir>/ces-metered.json` (what the battery did per hour).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const usage = 'usage: prosumer-edge ces-agent --config <ces-agent.json>';

/** The agent's configuration (JSON). Paths relative to the file's folder. */
export interface CesAgentConfig {
  /** The community's membership; the CES's `id` must be listed with the key of `identityFile`. */
  community: { communityId: string; members: { peerId: string; publicKey: string }[] };
  identityFile: string;
  brokerUrl: string;
  /** Log in at the broker as the member (a community broker); default false (an open broker). */
  login?: boolean;
  dataDir: string;
  /** The households asked each round. */
  households: string[];
  /** Day-ahead prices in the layout of ../shared/data (`<pricesDir>/prices/*.csv`): the price scenarios. */
  pricesDir: string;
  /** The days to clear and run (YYYY-MM-DD, UTC). */
  days: string[];
  /** Simulated time from `startIso` to `endIso`. */
  startIso: string;
  endIso: string;
  /** 'lockstep': time advances with the coordinator's barrier (the community run); 'system': wall time. */
  clock: 'lockstep' | 'system';
  /** How long before each day the clearing runs (minutes, default 60). */
  clearLeadMinutes?: number;
  scenarioDays?: number;
  throughputFeeEurPerKwh?: number;
  withdrawalFeeEurPerKwh?: number;
  /** What the CES pays per kWh left in an account after its day (default: the scenario's feed-in price, src/data/tariff.ts). */
  residueCreditEurPerKwh?: number;
  /** Overrides of the CES's settings (src/ces/settings.ts). */
  settings?: Record<string, number>;
  /** Wall time a round waits for the households' answers (ms, default 20 000). */
  answerTimeoutMs?: number;
  /** The storage's control period (simulated seconds, default 60). */
  controlPeriodS?: number;
}

export async function run(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${usage}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${usage}\n\nThe CES operator as its own process (docs/ces.md §5): its simulated storage, its identity in the\ncommunity, the rental clearing over the community's signed messages, its schedule followed.\n`);
    return 0;
  }
  if (!values.config) {
    process.stderr.write(`--config is required\n${usage}\n`);
    return 2;
  }
  const file = resolve(values.config);
  let config: CesAgentConfig;
  try {
    config = JSON.parse(readFileSync(file, 'utf8')) as CesAgentConfig;
    for (const field of ['community', 'identityFile', 'brokerUrl', 'dataDir', 'households', 'pricesDir', 'days', 'startIso', 'endIso', 'clock'] as const) {
      if (config[field] === undefined) throw new Error(`${file}: ${field} is required`);
    }
    if (config.clock !== 'lockstep' && config.clock !== 'system') throw new Error(`${file}: clock must be "lockstep" or "system"`);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    await runCesAgent(config, resolve(file, '..'), stop.signal);
    return 0;
  } catch (e) {
    process.stderr.write(`ces-agent: stopped on an error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

async function runCesAgent(config: CesAgentConfig, base: string, signal: AbortSignal): Promise<void> {
  const [{ CesAgent }, { CesStorage }, { RentalLedger }, { rentalChannel, RENTAL_ROUND_SCHEMAS }, { defaultCesSettings, validateCesSettings }, { CesSolver }, { priceScenarios }, { loadPrices, DAY_MS }, { tariffParams }, { MarketNode, loadIdentity }, { LockstepClock, parentLink, holdWhile }, { systemClock }, { createModbusTcpBus }, { SunSpecBattery }, { startCesStorageSim }] = await Promise.all([
    import('./agent.ts'), import('./storage.ts'), import('./rental-ledger.ts'), import('./rental-protocol.ts'), import('./settings.ts'), import('./solve.ts'), import('./price-scenarios.ts'),
    import('../data/households.ts'), import('../data/tariff.ts'), import('../market/index.ts'), import('../time/lockstep-clock.ts'), import('../time/clock.ts'),
    import('../../drivers/modbus/tcp.ts'), import('../../drivers/sunspec/battery.ts'),
    // The simulator is loaded only here, as the runtime loads it for a simulated household.
    import('../../sim/ces/storage.ts'),
  ]);
  const path = (p: string) => resolve(base, p);
  const dataDir = path(config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const settings = { ...defaultCesSettings, ...config.settings };
  validateCesSettings(settings, 'ces-agent settings');
  const startMs = Date.parse(config.startIso);
  const endMs = Date.parse(config.endIso);
  const days = config.days.map((d) => Date.parse(`${d}T00:00:00Z`));
  if (!(endMs > startMs) || days.some((d) => !Number.isFinite(d))) throw new RangeError('ces-agent: startIso < endIso and days as YYYY-MM-DD are required');
  const clock = config.clock === 'lockstep' ? new LockstepClock(startMs, parentLink()) : systemClock;
  const identity = loadIdentity(path(config.identityFile));
  const prices = await loadPrices(path(config.pricesDir));

  const sim = await startCesStorageSim({ clock, settings });
  const bus = createModbusTcpBus({ host: '127.0.0.1', port: sim.port, clock });
  const battery = new SunSpecBattery({ id: 'ces-storage', bus, unitId: sim.unitId, clock, capacityKwh: settings.capacityKwh, maxPlausibleKw: settings.powerKw * 1.2 });
  // Messages carry wall-clock stamps, as the gateways' market nodes do (an accelerated or lock-step clock would make them expire in flight);
  // the ledger forgets trades by the clock their slots are on.
  const node = new MarketNode({
    identity,
    community: config.community,
    brokerUrl: config.brokerUrl,
    dataDir: join(dataDir, 'market'),
    protocolVersion: 4,
    roundSchemas: RENTAL_ROUND_SCHEMAS,
    slotClock: clock,
    ...(config.login ? { credentials: { username: identity.peerId } } : {}),
    // The community's own clearing rounds are not the CES's: it has no schema for them, and they are no news.
    log: (level, line) => level === 'warn' && !line.includes('no schema registered') && log(`ces-agent market: ${line}`),
  });
  const ledger = RentalLedger.open(dataDir, identity.peerId);
  const solver = new CesSolver();
  const storage = new CesStorage({ battery, clock, log, ...(config.controlPeriodS !== undefined ? { periodMs: config.controlPeriodS * 1000 } : {}) });
  const stopStorage = new AbortController();
  let storageRun: Promise<void> = Promise.resolve();
  try {
    await node.start();
    const agent = new CesAgent({
      channel: rentalChannel(node),
      ledger,
      solver,
      settings,
      households: config.households,
      throughputFeeEurPerKwh: config.throughputFeeEurPerKwh ?? settings.degradationEurPerKwh,
      withdrawalFeeEurPerKwh: config.withdrawalFeeEurPerKwh ?? 0.09,
      residueCreditEurPerKwh: config.residueCreditEurPerKwh ?? tariffParams.feedInEurPerKwh,
      clock,
      ...(config.answerTimeoutMs !== undefined ? { answerTimeoutMs: config.answerTimeoutMs } : {}),
      log,
    });
    storageRun = storage.run(stopStorage.signal);
    if (clock instanceof LockstepClock) clock.started();
    const leadMs = (config.clearLeadMinutes ?? 60) * 60_000;
    // A restarted agent (kill -9 included) does not clear a day it has cleared: it follows the schedule it recorded.
    const daysFile = join(dataDir, 'ces-days.jsonl');
    const done = new Map((existsSync(daysFile) ? readFileSync(daysFile, 'utf8').split('\n').filter((l) => l.trim() !== '') : []).map((l) => {
      const line = JSON.parse(l) as { day: string; schedule: { physicalChargeKw: number[]; physicalDischargeKw: number[] } };
      return [Date.parse(`${line.day}T00:00:00Z`), line.schedule] as const;
    }));
    for (const dayMs of days) {
      const recorded = done.get(dayMs);
      if (recorded !== undefined) {
        storage.follow(dayMs, recorded);
        log(`ces-agent: ${new Date(dayMs).toISOString().slice(0, 10)} was cleared before a restart: following its schedule`);
        continue;
      }
      if (!(await clock.sleep(dayMs - leadMs - clock.nowMs(), signal))) return;
      const result = await holdWhile(clock, agent.clearDay(dayMs, priceScenarios(prices, dayMs, config.scenarioDays ?? 28)));
      storage.follow(dayMs, result.schedule);
      const { schedule } = result;
      appendFileSync(daysFile, `${JSON.stringify({
        day: new Date(dayMs).toISOString().slice(0, 10),
        priceEurPerKwhDay: result.priceEurPerKwhDay,
        rounds: result.rounds.length,
        bookings: result.bookings,
        unbooked: result.unbooked,
        silent: result.silent,
        accountTrades: result.accountTrades,
        committedTrades: result.committedTrades,
        p2pPriceEurPerKwh: result.p2pPriceEurPerKwh,
        p2pTrades: result.p2pTrades,
        committedP2pTrades: result.committedP2pTrades,
        p2pKwh: result.p2pKwh,
        p2pRevenueEur: result.p2pRevenueEur,
        schedule: { physicalChargeKw: schedule.physicalChargeKw, physicalDischargeKw: schedule.physicalDischargeKw, marketKw: schedule.marketKw, rentedKwh: schedule.rentedKwh, expectedProfitEur: schedule.expectedProfitEur, cvarEur: schedule.cvarEur, degradationEur: schedule.degradationEur, throughputKwh: schedule.throughputKwh },
      })}\n`);
      log(`ces-agent: ${new Date(dayMs).toISOString().slice(0, 10)} cleared at ${result.priceEurPerKwhDay.toFixed(4)} EUR/kWh·day in ${result.rounds.length} rounds, ${result.bookings.reduce((s, b) => s + b.capacityKwh, 0).toFixed(2)} kWh booked, ${result.p2pKwh.toFixed(2)} kWh P2P sold for ${result.p2pRevenueEur.toFixed(3)} EUR`);
    }
    await clock.sleep(endMs - clock.nowMs(), signal);
  } finally {
    stopStorage.abort();
    await storageRun;
    // The last setpoint reverts by itself; command 0 kW now rather than wait for it.
    await battery.setPowerSetpoint(0, storage.periodMs * 3).catch(() => undefined);
    writeFileSync(join(dataDir, 'ces-metered.json'), JSON.stringify({ hours: storage.meteredHours(startMs - DAY_MS, endMs) }));
    await node.stop().catch(() => undefined);
    ledger.close();
    solver.dispose();
    await bus.close();
    await sim.close();
  }
}
