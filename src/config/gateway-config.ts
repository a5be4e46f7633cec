/**
 * A gateway's configuration (`prosumer-edge run --config gateway.yaml`), as the loader
 * returns it: validated, defaults filled in, relative paths resolved against the config
 * file's folder. docs/configuration.md documents every field.
 */
import type { BatteryParams, ChanceMethod } from '../optimizer/types.ts';
import type { TariffParams } from '../data/tariff.ts';

export interface GatewayConfig {
  /** The file this was loaded from (absolute). */
  file: string;
  /** [a-z0-9-]{1,32}: names the gateway on MQTT, in Home Assistant and in the P2P market. */
  gatewayId: string;
  board: {
    /** Absolute path of the board profile (boards/*.yaml). */
    file: string;
    /** Values for the profile's ${placeholders}. */
    vars: Record<string, string>;
  };
  /**
   * Present: run the hardware simulator in this process (its endpoints fill the board's
   * placeholders) on an accelerated clock. Absent: real devices and the system clock.
   */
  simulator?: {
    /** Household whose real data the plant replays ('residential1' …); default: the sim board's own slice. */
    household?: string;
    /** Folder with `<household>_hourly.csv` and the price file (default: the project's data/community). */
    dataDir?: string;
    /** Simulated start instant (ISO 8601, UTC). */
    startIso: string;
    /**
     * Simulated seconds per wall-clock second, or 'lockstep': simulated time advances when every
     * process of a multi-gateway run has finished its step (no wall-clock pacing; the community run).
     */
    speed: number | 'lockstep';
    /** Wall-clock instant (ms since epoch) at which simulated time is `startIso`; default: start of the process. Lets several processes share one simulated time. */
    wallAnchorMs?: number;
    /** Stop after this many simulated hours (default: run until stopped). */
    hours?: number;
  };
  site: {
    /** The optimizer's battery parameters; the charge/discharge limits are the ratings (the BMS's live limits are read at run time). */
    battery: BatteryParams;
    grid: { maxImportKw: number; maxExportKw: number };
    /** Shiftable loads: relay device ids of the board, each with what it must deliver. */
    shiftable: ShiftableLoadConfig[];
    /** IANA time zone of the house (`Europe/Berlin`): the schedules' hours are on its clocks. The loader fills in UTC. */
    timeZone?: string;
  };
  tariff: TariffParams & {
    /** Day-ahead price CSV (timestamp,price_eur_per_mwh) — the same format as the shared data. */
    pricesFile?: string;
    /** How often the price file is checked for a new version (s); a changed file is reloaded. Default: DEFAULT_RELOAD_CHECK_S. */
    reloadCheckS?: number;
    /** A day-ahead price API polled instead of a file (src/prices): aWATTar's JSON or ENTSO-E's A44 XML. */
    feed?: {
      source: 'awattar' | 'entsoe';
      /** Default: the source's public API (src/prices/index.ts FEED_URLS). */
      url?: string;
      pollMinutes: number;
      /** entsoe: EIC code of the bidding zone (10Y1001A1001A82H: DE-LU). */
      biddingZone?: string;
      /** entsoe: a file holding the personal security token (absolute). */
      securityTokenFile?: string;
    };
    /** Used for hours the price file does not cover, and when there is none (EUR/MWh). */
    fallbackDayAheadEurPerMwh: number;
  };
  control: {
    /** Fast loop period (simulated seconds): read, apply the decision rule, switch relays. */
    fastPeriodS: number;
    /** Slow loop period Δt (minutes): re-solve and commit a plan. */
    stepMinutes: number;
    horizonSteps: number;
    /** Forecast-error sample trajectories I. */
    samples: number;
    radiusKw: number;
    epsilon: number;
    method: ChanceMethod;
    /**
     * What the import chance family protects: the grid connection G^imp ('connection', the
     * evaluation's default, chosen on its validation window) or the billed daily peak ('peak', which
     * makes importing up to a raised planned peak look free: docs/evaluation.md).
     */
    importLimit: 'connection' | 'peak';
    solver: 'highs' | 'scs';
    /** Wall-clock budget of one solve; past it the fallback plan is used. */
    solveBudgetMs: number;
    /** SoC kept this far inside [E^min, E^max] by the supervisor (kWh). */
    socGuardBandKwh: number;
    /** Revert timeout written with every battery setpoint (s); the setpoint is refreshed at most every half of it. */
    revertTimeoutS: number;
    batteryWearEurPerKw2h: number;
    deferralEurPerKwh2: number;
  };
  forecast: {
    /** Hourly history (the household CSV format) to fit the forecaster and seed error samples before the gateway has its own. */
    historyFile?: string;
    /**
     * Fit the forecaster and take error samples only from hours before this instant; after it the
     * forecaster still observes every hour, but its parameters and its samples stay as they were.
     * An evaluation's split (../shared/docs/evaluation.md: "samples and any fitting: days before
     * 2016-07-01"), which the community run follows; absent: the gateway learns from every hour.
     */
    freezeIso?: string;
  };
  market?: {
    /** mqtt://host:port, or `embedded:<port>`: this process starts an embedded broker on 127.0.0.1:<port> (the simulator example). */
    brokerUrl: string;
    community: string;
    /** Ed25519 identity of this gateway (created on first start if missing). */
    identityFile: string;
    /** Community membership file: members' ids and public keys (docs/market.md). */
    membersFile: string;
    maxTradeKw: number;
    /**
     * `community`: a community clearing day-ahead (ADMM in sharing form over MQTT, at midnight and at
     * start-up) that the planner anchors to, the price-only auction when it fails; `auction`
     * (default): the six-hourly auction only. docs/market-loop.md.
     */
    coordination?: 'auction' | 'community';
    /**
     * With `community` coordination: hours between two community clearings, from midnight (a
     * divisor of 24; default 24, the day-ahead clearing only). A re-clearing re-anchors the plans
     * on fresh forecasts; the day's P2P trades stay those of its first clearing.
     */
    reclearEveryHours?: number;
    /**
     * With `community` coordination: the live community guard (default on): every fast period the
     * gateways exchange their imports, and when the community's passes the peak it pays for today
     * every battery discharges more, in proportion to its room (docs/community-coordination.md).
     */
    communityGuard?: boolean;
    /**
     * With `community` coordination: the no-loss settlement (default on): each gateway runs its own
     * controller in shadow, without the community, and after each day the members settle transfers
     * that leave every household at its bill alone less an equal share of the community's saving
     * (docs/community-coordination.md, "Who pays what"). Needs hourly plan steps.
     */
    noLossSettlement?: boolean;
    /** With `community` coordination: π^C, EUR per kW of the community's daily coincident peak of scheduled import; default 1 (DEFAULT_COMMUNITY_PEAK_CHARGE_EUR_PER_KW_DAY). */
    communityPeakChargeEurPerKwDay?: number;
    /**
     * With `community` coordination: the community import chance family (formulation §8) over the
     * households' joint error samples, ε^C, its Wasserstein radius (default `control.radiusKw`) and
     * the number of joint samples I (default 10); absent: off. Only the clearing's leader's setting
     * counts (docs/community-coordination.md, "Over MQTT").
     */
    communityImportChance?: { epsilon: number; radiusKw?: number; samples?: number };
    /**
     * The community's cloud energy storage operator (its member id): this gateway answers its rental
     * rounds from its own plan and commits what it booked (docs/ces.md §5). Omit: no CES.
     */
    ces?: string;
    /** The broker login; default: none, or `gatewayId` with a `passwordFile` or an embedded broker. */
    username?: string;
    /** A file holding the login's password (Mosquitto); without one a login uses a signed login token (an embedded community broker). */
    passwordFile?: string;
    /** PEM files for mqtts://: the CA the broker's certificate chains to, and a client certificate and key. */
    tls?: { caFile?: string; certFile?: string; keyFile?: string };
    /** `embedded:<port>` only: the address the embedded community broker listens on (default 127.0.0.1). */
    listenHost?: string;
  };
  storage: {
    /** Folder of the crash-safe store (plans, measurements, samples, ledger). */
    dir: string;
    /** Downsampling of stored measurements (simulated seconds). */
    measurementEveryS: number;
  };
  telemetry: {
    mqtt?: {
      brokerUrl: string;
      /** Home Assistant discovery prefix. */
      discoveryPrefix: string;
      /** State topics live under `<topicPrefix>/<gatewayId>/…`. */
      topicPrefix: string;
    };
    statusPage?: { host: string; port: number };
  };
}

export interface ShiftableLoadConfig {
  /** Board device id of the relay that switches this load. */
  relay: string;
  /** Rated power drawn while the relay is on (kW); default: the board's `ratedPowerKw`. */
  ratedPowerKw: number;
  /** Latest service after a request (h). */
  maxDelayHours: number;
  /**
   * Where requests come from: 'simulator' — the simulated household's appliance data (only
   * with `simulator`); otherwise a daily schedule of desired energy by hour of the day in `site.timeZone`.
   */
  demand: { source: 'simulator' } | { source: 'schedule'; daily: { hour: number; energyKwh: number }[] };
}
