/**
 * JSON schema of a gateway config file (`prosumer-edge run --config gateway.yaml`). Fixed
 * defaults live here (ajv fills them in); defaults that depend on the board or on other
 * fields (battery capacity, relay ratings, identity file, trade limit) are filled by the
 * loader (src/config/gateway.ts). docs/configuration.md documents every field.
 */
import { battery, grid } from '../data/assets.ts';
import { tariffParams } from '../data/tariff.ts';
import { defaultOptimizerSettings } from '../optimizer/settings.ts';
import { ID_PATTERN } from '../market/community.ts';
import { DEFAULT_RELOAD_CHECK_S } from '../prices/file-source.ts';

const GATEWAY_ID_PATTERN = '^[a-z0-9-]{1,32}$';
/** `mqtt[s]://` / `ws[s]://` URLs, or `embedded:<port>` for an in-process broker. */
const BROKER_URL_PATTERN = '^((mqtts?|wss?)://[^\\s/]+(:[0-9]{1,5})?(/\\S*)?|embedded:[0-9]{1,5})$';
const ISO_INSTANT_PATTERN = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:\\d{2})$';
const TOPIC_LEVELS_PATTERN = '^[^\\s#+]+$';
const HTTP_URL_PATTERN = '^https?://\\S+$';
/** An EIC area code (ENTSO-E bidding zones): 16 characters. */
const EIC_PATTERN = '^[0-9A-Z][0-9A-Z-]{14}[0-9A-Z]$';

/** Words for the patterns, for error messages (a regex is no help to someone editing a file). */
export const GATEWAY_PATTERNS: Record<string, string> = {
  [GATEWAY_ID_PATTERN]: "1 to 32 lower-case letters, digits and '-'",
  [ID_PATTERN]: "1 to 64 letters, digits, '_' and '-'",
  [BROKER_URL_PATTERN]: 'a broker URL: mqtt://host:port, mqtts://…, ws://…, wss://… or embedded:<port>',
  [ISO_INSTANT_PATTERN]: 'an ISO 8601 instant with a time zone, e.g. 2016-07-01T00:00:00Z',
  [TOPIC_LEVELS_PATTERN]: "MQTT topic levels without spaces, '#' or '+'",
  [HTTP_URL_PATTERN]: 'an http:// or https:// URL',
  [EIC_PATTERN]: 'an EIC area code of 16 characters, e.g. 10Y1001A1001A82H (DE-LU)',
};

/**
 * The radius ρ chosen on validation days before the test split (docs/evaluation.md, "Selected
 * ρ = 0.1 kW"): the smallest that kept the joint violation below ε with confidence.
 */
const VALIDATED_RADIUS_KW = 0.1;

const path = { type: 'string', minLength: 1 } as const;
const positive = { type: 'number', exclusiveMinimum: 0 } as const;
const nonNegative = { type: 'number', minimum: 0 } as const;
const powerKw = { type: 'number', exclusiveMinimum: 0, maximum: 1000 } as const;
const brokerUrl = { type: 'string', pattern: BROKER_URL_PATTERN } as const;
const port = { type: 'integer', minimum: 1, maximum: 65535 } as const;

const shiftableLoad = {
  type: 'object',
  required: ['relay', 'demand'],
  additionalProperties: false,
  properties: {
    relay: { type: 'string', minLength: 1 },
    ratedPowerKw: { type: 'number', exclusiveMinimum: 0, maximum: 50 },
    // The evaluation's appliance rule (evaluation.md: dishwasher and washing machine up to 6 h later).
    maxDelayHours: { type: 'number', minimum: 0, maximum: 48, default: 6 },
    demand: {
      type: 'object',
      required: ['source'],
      properties: { source: { enum: ['simulator', 'schedule'] } },
      allOf: [
        {
          if: { required: ['source'], properties: { source: { const: 'simulator' } } },
          then: { additionalProperties: false, properties: { source: {} } },
        },
        {
          if: { required: ['source'], properties: { source: { const: 'schedule' } } },
          then: {
            required: ['daily'],
            additionalProperties: false,
            properties: {
              source: {},
              daily: {
                type: 'array',
                minItems: 1,
                items: {
                  type: 'object',
                  required: ['hour', 'energyKwh'],
                  additionalProperties: false,
                  properties: { hour: { type: 'integer', minimum: 0, maximum: 23 }, energyKwh: positive },
                },
              },
            },
          },
        },
      ],
    },
  },
} as const;

export const gatewaySchema = {
  type: 'object',
  required: ['gatewayId', 'board', 'storage'],
  additionalProperties: false,
  properties: {
    gatewayId: { type: 'string', pattern: GATEWAY_ID_PATTERN },
    board: {
      type: 'object',
      required: ['file'],
      additionalProperties: false,
      properties: {
        file: path,
        vars: { type: 'object', default: {}, additionalProperties: { type: ['string', 'number'] } },
      },
    },
    simulator: {
      type: 'object',
      required: ['startIso', 'speed'],
      additionalProperties: false,
      properties: {
        household: { type: 'string', pattern: ID_PATTERN },
        dataDir: path,
        startIso: { type: 'string', pattern: ISO_INSTANT_PATTERN },
        // 'lockstep': time advances when every process of the run has finished its step (src/time/lockstep-clock.ts).
        speed: { anyOf: [{ type: 'number', exclusiveMinimum: 0, maximum: 100_000 }, { const: 'lockstep' }] },
        wallAnchorMs: { type: 'integer', minimum: 0 },
        hours: positive,
      },
    },
    site: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        battery: {
          type: 'object',
          default: {},
          additionalProperties: false,
          properties: {
            // capacityKwh, minEnergyKwh, maxEnergyKwh: defaults from the board (src/config/gateway.ts).
            capacityKwh: { type: 'number', exclusiveMinimum: 0, maximum: 1000 },
            minEnergyKwh: nonNegative,
            maxEnergyKwh: positive,
            maxChargeKw: { ...powerKw, default: battery.maxChargeKw },
            maxDischargeKw: { ...powerKw, default: battery.maxDischargeKw },
            chargeEfficiency: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: battery.chargeEfficiency },
            dischargeEfficiency: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: battery.dischargeEfficiency },
          },
        },
        grid: {
          type: 'object',
          default: {},
          additionalProperties: false,
          properties: {
            maxImportKw: { ...powerKw, default: grid.maxImportKw },
            maxExportKw: { ...nonNegative, maximum: 1000, default: grid.maxExportKw },
          },
        },
        shiftable: { type: 'array', default: [], items: shiftableLoad },
        // UTC by default, as schedules were before the setting existed (checked against the platform's zones by the loader).
        timeZone: { type: 'string', minLength: 1, default: 'UTC' },
      },
    },
    tariff: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        pricesFile: path,
        // How often the price file is checked for a new version (wall-clock seconds).
        reloadCheckS: { type: 'number', minimum: 1, maximum: 86_400, default: DEFAULT_RELOAD_CHECK_S },
        feed: {
          type: 'object',
          required: ['source'],
          additionalProperties: false,
          properties: {
            source: { enum: ['awattar', 'entsoe'] },
            url: { type: 'string', pattern: HTTP_URL_PATTERN },
            pollMinutes: { type: 'number', minimum: 1, maximum: 1440, default: 60 },
            biddingZone: { type: 'string', pattern: EIC_PATTERN },
            securityTokenFile: path,
          },
          allOf: [
            {
              if: { required: ['source'], properties: { source: { const: 'entsoe' } } },
              then: { required: ['biddingZone', 'securityTokenFile'] },
            },
          ],
        },
        // The mean German day-ahead price of 2015–2016 (../shared/data/prices), rounded.
        fallbackDayAheadEurPerMwh: { type: 'number', minimum: -500, maximum: 5000, default: 30 },
        gridFeesEurPerKwh: { ...nonNegative, default: tariffParams.gridFeesEurPerKwh },
        vatFactor: { type: 'number', minimum: 1, maximum: 2, default: tariffParams.vatFactor },
        feedInEurPerKwh: { type: 'number', default: tariffParams.feedInEurPerKwh },
        realtimeBuyAdderEurPerKwh: { ...nonNegative, default: tariffParams.realtimeBuyAdderEurPerKwh },
        realtimeSellDiscountEurPerKwh: { ...nonNegative, default: tariffParams.realtimeSellDiscountEurPerKwh },
        demandChargeEurPerKwDay: { ...nonNegative, default: tariffParams.demandChargeEurPerKwDay },
        p2pGridFeeEurPerKwh: { ...nonNegative, default: tariffParams.p2pGridFeeEurPerKwh },
      },
    },
    control: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        fastPeriodS: { type: 'number', minimum: 0.1, maximum: 3600, default: 5 },
        // Divisors of an hour, so plan steps line up with the hourly prices and hour records.
        stepMinutes: { enum: [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60], default: 60 },
        horizonSteps: { type: 'integer', minimum: 1, maximum: 672, default: 24 },
        samples: { type: 'integer', minimum: 1, maximum: 1000, default: 20 },
        radiusKw: { ...nonNegative, maximum: 100, default: VALIDATED_RADIUS_KW },
        epsilon: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, default: defaultOptimizerSettings.epsilon.import },
        method: { enum: ['joint', 'bonferroni'], default: 'joint' },
        importLimit: { enum: ['connection', 'peak'], default: 'connection' },
        solver: { enum: ['highs', 'scs'], default: 'highs' },
        solveBudgetMs: { type: 'integer', minimum: 10, maximum: 3_600_000, default: 2000 },
        socGuardBandKwh: { ...nonNegative, default: 0.2 },
        revertTimeoutS: { type: 'number', exclusiveMinimum: 0, maximum: 86_400, default: 60 },
        batteryWearEurPerKw2h: { ...nonNegative, default: defaultOptimizerSettings.weights.batteryWearEurPerKw2h },
        deferralEurPerKwh2: { ...nonNegative, default: defaultOptimizerSettings.weights.deferralEurPerKwh2 },
      },
    },
    forecast: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: { historyFile: path, freezeIso: { type: 'string', pattern: ISO_INSTANT_PATTERN } },
    },
    market: {
      type: 'object',
      required: ['brokerUrl', 'community', 'membersFile'],
      additionalProperties: false,
      properties: {
        brokerUrl,
        community: { type: 'string', pattern: ID_PATTERN },
        identityFile: path,
        membersFile: path,
        maxTradeKw: powerKw,
        // docs/market-loop.md: a day-ahead community clearing (the auction as its fallback), or the six-hourly auction only.
        coordination: { enum: ['auction', 'community'], default: 'auction' },
        // Hours between community clearings from midnight: a divisor of 24 (24: day-ahead only).
        reclearEveryHours: { enum: [1, 2, 3, 4, 6, 8, 12, 24], default: 24 },
        communityGuard: { type: 'boolean', default: true },
        noLossSettlement: { type: 'boolean', default: true },
        // With community coordination (docs/community-coordination.md): π^C, EUR per kW of the community's
        // daily coincident peak (absent: 1, the evaluation's), and the community import chance family (absent: off).
        communityPeakChargeEurPerKwDay: { ...nonNegative, maximum: 100 },
        communityImportChance: {
          type: 'object',
          required: ['epsilon'],
          additionalProperties: false,
          properties: {
            epsilon: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
            radiusKw: { ...nonNegative, maximum: 100 },
            // The leader names at most as many days as its round message fits (26 at 24 steps and 4 gateways: sharing-rounds.ts wireSampleCount).
            samples: { type: 'integer', minimum: 1, maximum: 64 },
          },
        },
        // docs/ces.md §5: the CES member whose rental rounds this gateway answers.
        ces: { type: 'string', pattern: ID_PATTERN },
        // The broker login (deploy/mosquitto); docs/configuration.md says which combination does what.
        username: { type: 'string', pattern: ID_PATTERN },
        passwordFile: path,
        tls: {
          type: 'object',
          additionalProperties: false,
          properties: { caFile: path, certFile: path, keyFile: path },
        },
        listenHost: { type: 'string', minLength: 1, maxLength: 253 },
      },
    },
    storage: {
      type: 'object',
      required: ['dir'],
      additionalProperties: false,
      properties: {
        dir: path,
        measurementEveryS: { type: 'number', exclusiveMinimum: 0, maximum: 86_400, default: 60 },
      },
    },
    telemetry: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        mqtt: {
          type: 'object',
          required: ['brokerUrl'],
          additionalProperties: false,
          properties: {
            brokerUrl,
            discoveryPrefix: { type: 'string', pattern: TOPIC_LEVELS_PATTERN, default: 'homeassistant' },
            topicPrefix: { type: 'string', pattern: TOPIC_LEVELS_PATTERN, default: 'prosumer-edge' },
          },
        },
        statusPage: {
          type: 'object',
          additionalProperties: false,
          properties: {
            host: { type: 'string', minLength: 1, default: '127.0.0.1' },
            port: { ...port, default: 8080 },
          },
        },
      },
    },
  },
} as const;
