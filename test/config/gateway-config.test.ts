import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { battery, grid } from '../../src/data/assets.ts';
import { tariffParams } from '../../src/data/tariff.ts';
import { defaultOptimizerSettings } from '../../src/optimizer/settings.ts';
import { GatewayConfigError, loadGatewayConfig } from '../../src/config/gateway.ts';
import { gatewaySchema } from '../../src/config/gateway-schema.ts';

const piBoard = resolve('boards/raspberry-pi-4.yaml');
const simBoard = resolve('boards/sim.yaml');

describe('shipped example configs', () => {
  it('the simulator example loads with the defaults of evaluation.md and paths resolved against its folder', () => {
    const config = loadGatewayConfig('config/gateway.sim.yaml');
    expect(config.file).toBe(resolve('config/gateway.sim.yaml'));
    expect(config.board).toEqual({ file: simBoard, vars: {} });
    expect(config.simulator).toEqual({ household: 'residential1', startIso: '2016-07-01T00:00:00Z', speed: 600, hours: 24 });
    expect(config.site.battery).toEqual(battery);
    expect(config.site.grid).toEqual(grid);
    // The relay's rating comes from the board (boards/sim.yaml: dishwasher 2.0 kW).
    expect(config.site.shiftable).toEqual([{ relay: 'dishwasher', ratedPowerKw: 2, maxDelayHours: 6, demand: { source: 'simulator' } }]);
    expect(config.tariff).toEqual({ ...tariffParams, pricesFile: resolve('data/community/prices/day_ahead_DE_2015-2016.csv'), reloadCheckS: 60, fallbackDayAheadEurPerMwh: 30 });
    expect(config.forecast.historyFile).toBe(resolve('data/community/buildings/residential1_hourly.csv'));
    expect(config.control).toMatchObject({ stepMinutes: 60, horizonSteps: 24, samples: 20, radiusKw: 0.1, epsilon: 0.05, method: 'joint', importLimit: 'connection', solver: 'highs', solveBudgetMs: 2000, socGuardBandKwh: 0.2 });
    expect(config.storage).toEqual({ dir: resolve('var/sim'), measurementEveryS: 300 });
    expect(config.telemetry).toEqual({ mqtt: { brokerUrl: 'embedded:1884', discoveryPrefix: 'homeassistant', topicPrefix: 'prosumer-edge' }, statusPage: { host: '127.0.0.1', port: 8080 } });
    expect(config.market).toBeUndefined();
  });

  it('the Raspberry Pi example loads without opening its serial devices, battery capacity and relay ratings from the board', () => {
    const config = loadGatewayConfig('config/gateway.raspberry-pi.yaml');
    expect(config.board).toEqual({ file: piBoard, vars: {} });
    expect(config.simulator).toBeUndefined();
    expect(config.site.battery).toMatchObject({ capacityKwh: 9.6, maxEnergyKwh: 9.6, maxChargeKw: 3 });
    expect(config.site.battery.minEnergyKwh).toBeCloseTo(0.96, 12);
    expect(config.site.shiftable.map((l) => [l.relay, l.ratedPowerKw, l.demand.source])).toEqual([
      ['dishwasher', 2, 'schedule'],
      ['washing-machine', 2.2, 'schedule'],
      ['heat-pump-boost', 3, 'schedule'],
    ]);
    expect(config.storage.dir).toBe('/var/lib/prosumer-edge');
    expect(config.telemetry.mqtt).toMatchObject({ discoveryPrefix: 'homeassistant', topicPrefix: 'prosumer-edge' });
    expect(config.control).toMatchObject({ fastPeriodS: 5, revertTimeoutS: 60 });
  });
});

describe('gateway configs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prosumer-edge-gateway-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, text);
    return file;
  };
  const problemsOf = (file: string) => {
    try {
      loadGatewayConfig(file);
    } catch (e) {
      expect(e).toBeInstanceOf(GatewayConfigError);
      return (e as Error).message.split('\n');
    }
    throw new Error(`${file} loaded without an error`);
  };

  const minimal = `gatewayId: home
board: {file: ${piBoard}}
storage: {dir: state}
`;

  it('a config of gateway id, board and storage takes every other value from the defaults', () => {
    const config = loadGatewayConfig(write('minimal', minimal));
    expect(config.site.shiftable).toEqual([]);
    expect(config.site.grid).toEqual(grid);
    expect(config.site.battery).toMatchObject({ capacityKwh: 9.6, maxChargeKw: battery.maxChargeKw, chargeEfficiency: battery.chargeEfficiency });
    expect(config.tariff).toEqual({ ...tariffParams, reloadCheckS: 60, fallbackDayAheadEurPerMwh: 30 });
    expect(config.control).toEqual({
      fastPeriodS: 5,
      stepMinutes: 60,
      horizonSteps: 24,
      samples: 20,
      radiusKw: 0.1,
      epsilon: defaultOptimizerSettings.epsilon.import,
      method: 'joint',
      importLimit: 'connection',
      solver: 'highs',
      solveBudgetMs: 2000,
      socGuardBandKwh: 0.2,
      revertTimeoutS: 60,
      batteryWearEurPerKw2h: defaultOptimizerSettings.weights.batteryWearEurPerKw2h,
      deferralEurPerKwh2: defaultOptimizerSettings.weights.deferralEurPerKwh2,
    });
    expect(config.forecast).toEqual({});
    expect(config.storage).toEqual({ dir: join(dir, 'state'), measurementEveryS: 60 });
    expect(config.telemetry).toEqual({});
  });

  it('a market section gets an identity file in the storage dir, a trade limit of the battery power and the auction unless it asks for community coordination (then cleared day-ahead only unless it asks for re-clearing, with the live community guard and the no-loss settlement)', () => {
    const config = loadGatewayConfig(write('market', `${minimal}market: {brokerUrl: "mqtt://192.168.1.10:1883", community: street-7, membersFile: members.json}\ntelemetry: {statusPage: {}}\n`));
    expect(config.market).toEqual({ brokerUrl: 'mqtt://192.168.1.10:1883', community: 'street-7', membersFile: join(dir, 'members.json'), identityFile: join(dir, 'state', 'identity.json'), maxTradeKw: battery.maxDischargeKw, coordination: 'auction', reclearEveryHours: 24, communityGuard: true, noLossSettlement: true });
    expect(config.telemetry.statusPage).toEqual({ host: '127.0.0.1', port: 8080 });
  });

  it('board vars given as numbers reach the board as text, and fill its placeholders', () => {
    const config = loadGatewayConfig(write('vars', minimal.replace(`{file: ${piBoard}}`, `{file: ${simBoard}, vars: {modbusTcpPort: 1502, rs485Pty: /dev/ttyUSB1, bmsPty: /dev/ttyUSB2, firmataPty: /dev/ttyACM0}}`)));
    expect(config.board.vars).toEqual({ modbusTcpPort: '1502', rs485Pty: '/dev/ttyUSB1', bmsPty: '/dev/ttyUSB2', firmataPty: '/dev/ttyACM0' });
  });

  const load = (relay: string, demand = '{source: schedule, daily: [{hour: 18, energyKwh: 1.2}]}', extra = '') => `site:\n  shiftable:\n    - {relay: ${relay}, demand: ${demand}${extra}}\n`;
  const simulated = `gatewayId: sim
board: {file: ${simBoard}}
simulator: {household: residential1, startIso: "2016-07-01T00:00:00Z", speed: 600}
storage: {dir: state}
control: {fastPeriodS: 60, revertTimeoutS: 600}
`;

  it.each([
    ['yaml-syntax', minimal.replace('{dir: state}', '{dir: state'), 'line 4, column'],
    ['no-gateway-id', minimal.replace('gatewayId: home\n', ''), '/gatewayId: is required'],
    ['bad-gateway-id', minimal.replace('gatewayId: home', 'gatewayId: My Home'), "/gatewayId: must be 1 to 32 lower-case letters, digits and '-'"],
    ['unknown-field', `${minimal}control: {fastPeriod: 5}\n`, '/control/fastPeriod: unknown field'],
    ['step-not-dividing-an-hour', `${minimal}control: {stepMinutes: 7}\n`, '/control/stepMinutes: must be one of 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60'],
    ['negative-efficiency', `${minimal}site: {battery: {chargeEfficiency: 1.2}}\n`, '/site/battery/chargeEfficiency: must be <= 1'],
    ['http-broker', `${minimal}telemetry: {mqtt: {brokerUrl: "http://ha.local:1883"}}\n`, '/telemetry/mqtt/brokerUrl: must be a broker URL: mqtt://host:port'],
    ['hour-out-of-range', minimal + load('dishwasher', '{source: schedule, daily: [{hour: 24, energyKwh: 1}]}'), '/site/shiftable/0/demand/daily/0/hour: must be <= 23'],
    ['schedule-without-daily', minimal + load('dishwasher', '{source: schedule}'), '/site/shiftable/0/demand/daily: is required'],
    ['unknown-demand-source', minimal + load('dishwasher', '{source: weather}'), '/site/shiftable/0/demand/source: must be one of simulator, schedule'],
    ['relay-not-on-board', minimal + load('sauna'), '/site/shiftable/0/relay: must name a relay device of the board (dishwasher, washing-machine, heat-pump-boost), got "sauna"'],
    ['rated-relay-not-on-board', minimal + load('sauna', undefined, ', ratedPowerKw: 6'), '/site/shiftable/0/relay: must name a relay device of the board'],
    ['relay-is-a-meter', minimal + load('meter'), '/site/shiftable/0/relay: must name a relay device of the board (dishwasher, washing-machine, heat-pump-boost), got "meter" (a meter)'],
    ['simulator-demand-without-simulator', minimal + load('dishwasher', '{source: simulator}'), '/site/shiftable/0/demand/source: must be schedule without a simulator section'],
    ['simulator-demand-without-household', simulated.replace('household: residential1, ', '') + load('dishwasher', '{source: simulator}'), '/site/shiftable/0/demand/source: simulator needs /simulator/household'],
    ['duplicate-hour', minimal + load('dishwasher', '{source: schedule, daily: [{hour: 7, energyKwh: 1}, {hour: 7, energyKwh: 2}]}'), '/site/shiftable/0/demand/daily/1/hour: hour 7 is listed twice'],
    ['delay-beyond-horizon', minimal + load('dishwasher', undefined, ', maxDelayHours: 30'), '/site/shiftable/0/maxDelayHours: must be below the horizon, horizonSteps × stepMinutes = 24 h, got 30'],
    ['min-above-max', `${minimal}site: {battery: {minEnergyKwh: 5, maxEnergyKwh: 4}}\n`, '/site/battery/minEnergyKwh: must be below maxEnergyKwh (4 kWh), got 5'],
    ['max-above-capacity', `${minimal}site: {battery: {maxEnergyKwh: 12}}\n`, '/site/battery/maxEnergyKwh: must be at most capacityKwh (9.6 kWh), got 12'],
    ['capacity-not-the-boards', `${minimal}site: {battery: {capacityKwh: 10}}\n`, "/site/battery/capacityKwh: must equal the board's battery capacity (9.6 kWh, /devices/battery/capacityKwh), got 10"],
    ['guard-band-too-wide', `${minimal}control: {socGuardBandKwh: 5}\n`, '/control/socGuardBandKwh: must leave room between the guarded limits'],
    ['fast-period-beyond-step', `${minimal}control: {fastPeriodS: 900, stepMinutes: 10, revertTimeoutS: 1800}\n`, '/control/fastPeriodS: must be at most one plan step, stepMinutes × 60 = 600 s, got 900'],
    ['revert-lapses', `${minimal}control: {fastPeriodS: 5, revertTimeoutS: 8}\n`, '/control/revertTimeoutS: must be at least twice fastPeriodS (10 s), got 8'],
    ['budget-beyond-step-at-speed', simulated.replace('speed: 600', 'speed: 3600'), '/control/solveBudgetMs: must fit in one plan step: 1000 ms of wall-clock time at simulator speed 3600, got 2000'],
    ['bad-start', simulated.replace('2016-07-01T00:00:00Z', '2016-13-01T00:00:00Z'), '/simulator/startIso: is not a valid instant: "2016-13-01T00:00:00Z"'],
    ['start-without-zone', simulated.replace('2016-07-01T00:00:00Z', '2016-07-01T00:00:00'), '/simulator/startIso: must be an ISO 8601 instant with a time zone'],
    ['trade-beyond-grid', `${minimal}site: {grid: {maxExportKw: 4}}\nmarket: {brokerUrl: "embedded:1884", community: c1, membersFile: m.json, maxTradeKw: 5}\n`, '/market/maxTradeKw: must fit through the grid connection (min of maxImportKw, maxExportKw = 4 kW), got 5'],
    ['broker-on-status-port', `${minimal}telemetry: {mqtt: {brokerUrl: "embedded:8080"}, statusPage: {}}\n`, "/telemetry/mqtt/brokerUrl: port 8080 is the status page's"],
    ['missing-board', minimal.replace(piBoard, 'no-such-board.yaml'), `/board: ${join(dir, 'no-such-board.yaml')}: cannot read the profile`],
    ['sim-board-without-simulator', minimal.replace(piBoard, simBoard), `/board: ${simBoard}: /buses/lan/port: placeholder \${modbusTcpPort} has no value`],
  ])('%s: names the file, the field and what was expected', (name, text, expected) => {
    const file = write(name, text);
    const lines = problemsOf(file);
    expect(lines.some((l) => l.startsWith(`${file}: ${expected}`)), lines.join('\n')).toBe(true);
    // One mistake, one line (the sim board without its endpoints has one per placeholder).
    if (name !== 'sim-board-without-simulator') expect(lines).toHaveLength(1);
  });

  it('a simulator on a board with fixed endpoints names every bus the simulator cannot serve', () => {
    const file = write('sim-on-pi', simulated.replace(simBoard, piBoard));
    expect(problemsOf(file)).toEqual([
      `${file}: /board/file: with a simulator every bus's endpoint must be a \${name} placeholder the simulator fills in; bus "rs485" (modbus-rtu) of ${piBoard} is fixed`,
      `${file}: /board/file: with a simulator every bus's endpoint must be a \${name} placeholder the simulator fills in; bus "bms-line" (serial) of ${piBoard} is fixed`,
      `${file}: /board/file: with a simulator every bus's endpoint must be a \${name} placeholder the simulator fills in; bus "gpio" (gpio) of ${piBoard} is fixed (GPIO pins cannot be simulated)`,
    ]);
  });

  it('only one shiftable load can serve the simulated household, and a relay serves one load', () => {
    const file = write('two-sim-loads', `${simulated}site:\n  shiftable:\n    - {relay: dishwasher, demand: {source: simulator}}\n    - {relay: washing-machine, demand: {source: simulator}}\n    - {relay: dishwasher, demand: {source: schedule, daily: [{hour: 1, energyKwh: 1}]}}\n`);
    expect(problemsOf(file)).toEqual([
      `${file}: /site/shiftable/1/demand/source: the simulated household's demand is already served by /site/shiftable/0; give this load a schedule`,
      `${file}: /site/shiftable/2/relay: relay "dishwasher" is already used by /site/shiftable/0`,
    ]);
  });

  it('every problem of a file is reported at once', () => {
    const file = write('several', `${minimal}control: {samples: 0, solver: gurobi}\ntelemetry: {statusPage: {port: 70000}}\n`);
    expect(problemsOf(file)).toEqual([
      `${file}: /control/samples: must be >= 1`,
      `${file}: /control/solver: must be one of highs, scs`,
      `${file}: /telemetry/statusPage/port: must be <= 65535`,
    ]);
  });

  it('a re-clearing interval that does not divide the day is an error naming the field', () => {
    const file = write('reclear', `${minimal}market: {brokerUrl: "mqtt://192.168.1.10:1883", community: street-7, membersFile: members.json, coordination: community, reclearEveryHours: 5}\n`);
    expect(problemsOf(file)).toEqual([`${file}: /market/reclearEveryHours: must be one of 1, 2, 3, 4, 6, 8, 12, 24`]);
  });

  it('a missing or empty config file is an error naming it', () => {
    expect(() => loadGatewayConfig(join(dir, 'nope.yaml'))).toThrow(/nope\.yaml: cannot read the config/);
    const empty = write('empty', '# nothing yet\n');
    expect(problemsOf(empty)).toEqual(['gatewayId', 'board', 'storage'].map((f) => `${empty}: /${f}: is required`));
  });
});

describe('docs/configuration.md', () => {
  it('documents every field of the schema', () => {
    const docs = readFileSync('docs/configuration.md', 'utf8');
    const fields = new Set<string>();
    const walk = (schema: unknown) => {
      if (schema === null || typeof schema !== 'object') return;
      const { properties } = schema as { properties?: Record<string, unknown> };
      for (const [name, sub] of Object.entries(properties ?? {})) {
        fields.add(name);
        walk(sub);
      }
      for (const value of Object.values(schema)) if (value !== properties) walk(value);
    };
    walk(gatewaySchema);
    const missing = [...fields].filter((f) => !docs.includes(`\`${f}\``));
    expect(missing).toEqual([]);
  });
});
