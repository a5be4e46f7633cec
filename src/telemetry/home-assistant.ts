/**
 * Home Assistant MQTT discovery (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery):
 * one retained config per entity at `<discoveryPrefix>/<component>/<gatewayId>/<objectId>/config`,
 * all grouped under one device. Every value_template is the plain `{{ value_json.a.b }}` form so
 * the tests can check it resolves against the published state (test/telemetry).
 */
import { readFileSync } from 'node:fs';
import { packageFile } from '../package/paths.ts';

export type HaComponent = 'sensor' | 'binary_sensor' | 'select' | 'number' | 'button';

/** The discovery payload of one entity (full option names, as Home Assistant documents them). */
export interface HaEntityConfig {
  name: string;
  unique_id: string;
  /** Home Assistant ≥ 2025.10 names the entity from this; `object_id` is kept for older versions. */
  default_entity_id: string;
  object_id: string;
  /** Absent on a button (it has no state). */
  state_topic?: string;
  value_template?: string;
  /** select, number, button: where Home Assistant sends the command. */
  command_topic?: string;
  /** select: the choices. */
  options?: string[];
  /** number: the range and step, and how it is edited. */
  min?: number;
  max?: number;
  step?: number;
  mode?: 'auto' | 'box' | 'slider';
  /** button: what a press sends. */
  payload_press?: string;
  availability_topic: string;
  payload_available: string;
  payload_not_available: string;
  device: { identifiers: string[]; name: string; manufacturer: string; model: string; sw_version: string };
  origin: { name: string; sw_version: string };
  device_class?: string;
  state_class?: 'measurement' | 'total_increasing';
  unit_of_measurement?: string;
  suggested_display_precision?: number;
  json_attributes_topic?: string;
  icon?: string;
  payload_on?: string;
  payload_off?: string;
  qos: 0 | 1;
}

export interface DiscoveryMessage {
  topic: string;
  component: HaComponent;
  objectId: string;
  config: HaEntityConfig;
}

export interface TelemetryTopics {
  state: string;
  plan: string;
  trades: string;
  hour: string;
  safety: string;
  availability: string;
  /** Cumulative energy counters (retained): the Energy dashboard's sensors. */
  energy: string;
  /** The household's mode and reserve as in force (retained): the command entities' state. */
  control: string;
  /** The last day of the community's no-loss settlement (retained). */
  settlement: string;
  /** Where commands arrive: the only topics the gateway subscribes to on the telemetry broker. */
  setMode: string;
  setReserve: string;
  planNow: string;
}

export function telemetryTopics(topicPrefix: string, gatewayId: string): TelemetryTopics {
  const base = `${topicPrefix}/${gatewayId}`;
  return {
    state: `${base}/state`,
    plan: `${base}/plan`,
    trades: `${base}/trades`,
    hour: `${base}/hour`,
    safety: `${base}/safety`,
    availability: `${base}/availability`,
    energy: `${base}/energy`,
    control: `${base}/control`,
    settlement: `${base}/settlement`,
    setMode: `${base}/set/mode`,
    setReserve: `${base}/set/reserve`,
    planNow: `${base}/set/plan-now`,
  };
}

const SOFTWARE_VERSION: string = (JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as { version: string }).version;

interface EntitySpec {
  component: HaComponent;
  objectId: string;
  name: string;
  /** Path into the state message, e.g. ['planNow', 'gridKw']; absent for a button. */
  path?: string[];
  /** Default: the `state` topic. */
  stateTopic?: string;
  extra: Partial<HaEntityConfig>;
}

/**
 * A counter for the Energy dashboard (grid consumption and return, solar production, battery in
 * and out): kWh that only grow, from the gateway's hour records (src/telemetry/energy-totals.ts).
 */
const energyTotal = (topics: TelemetryTopics, objectId: string, name: string, field: string, icon: string): EntitySpec => ({
  component: 'sensor',
  objectId,
  name,
  path: [field],
  stateTopic: topics.energy,
  extra: { device_class: 'energy', unit_of_measurement: 'kWh', state_class: 'total_increasing', suggested_display_precision: 2, icon },
});

/** The no-loss settlement's last day, for a gateway in a community that settles (docs/community-coordination.md). */
function settlementSpecs(topics: TelemetryTopics): EntitySpec[] {
  const money = (objectId: string, name: string, field: string, icon: string): EntitySpec => ({
    component: 'sensor',
    objectId,
    name,
    path: [field],
    stateTopic: topics.settlement,
    extra: { device_class: 'monetary', unit_of_measurement: 'EUR', suggested_display_precision: 2, icon, json_attributes_topic: topics.settlement },
  });
  return [
    money('community_saving', 'Community saving (last settled day)', 'savingEur', 'mdi:account-group'),
    money('community_transfer', 'Community transfer (last settled day)', 'transferEur', 'mdi:swap-horizontal'),
  ];
}

/** The household's limits on the reserve (% SoC), when the gateway takes commands. */
export interface CommandLimits {
  minReservePercent: number;
  maxReservePercent: number;
}

function commandSpecs(topics: TelemetryTopics, limits: CommandLimits): EntitySpec[] {
  return [
    {
      component: 'select',
      objectId: 'mode',
      name: 'Mode',
      path: ['mode'],
      stateTopic: topics.control,
      extra: { command_topic: topics.setMode, options: ['auto', 'self-consumption', 'hold', 'off'], icon: 'mdi:home-battery' },
    },
    {
      component: 'number',
      objectId: 'battery_reserve',
      name: 'Battery reserve',
      path: ['reservePercent'],
      stateTopic: topics.control,
      extra: { command_topic: topics.setReserve, min: limits.minReservePercent, max: limits.maxReservePercent, step: 1, mode: 'slider', unit_of_measurement: '%', icon: 'mdi:battery-lock' },
    },
    {
      component: 'button',
      objectId: 'plan_now',
      name: 'Plan now',
      extra: { command_topic: topics.planNow, payload_press: 'PRESS', icon: 'mdi:calendar-refresh' },
    },
  ];
}

const power = (objectId: string, name: string, path: string[], extra: Partial<HaEntityConfig> = {}): EntitySpec => ({
  component: 'sensor',
  objectId,
  name,
  path,
  extra: { device_class: 'power', unit_of_measurement: 'kW', state_class: 'measurement', suggested_display_precision: 2, ...extra },
});

function entitySpecs(topics: TelemetryTopics): EntitySpec[] {
  return [
    {
      component: 'sensor',
      objectId: 'soc',
      name: 'Battery SoC',
      path: ['socPercent'],
      extra: { device_class: 'battery', unit_of_measurement: '%', state_class: 'measurement', suggested_display_precision: 0 },
    },
    {
      component: 'sensor',
      objectId: 'battery_energy',
      name: 'Battery energy',
      path: ['energyKwh'],
      extra: { device_class: 'energy_storage', unit_of_measurement: 'kWh', state_class: 'measurement', suggested_display_precision: 2 },
    },
    power('battery_power', 'Battery power (+ discharge)', ['batteryKw']),
    power('pv_power', 'PV power', ['pvKw'], { icon: 'mdi:solar-power' }),
    power('grid_power', 'Grid power (+ import)', ['gridKw'], { icon: 'mdi:transmission-tower' }),
    power('net_load', 'Net load', ['netLoadKw'], { icon: 'mdi:home-lightning-bolt' }),
    power('planned_grid_power', 'Planned grid power now', ['planNow', 'gridKw'], { icon: 'mdi:calendar-clock' }),
    {
      component: 'sensor',
      objectId: 'planned_battery_energy',
      // The plan is in kWh stored, so "planned SoC" is compared against the Battery energy sensor.
      name: 'Planned battery energy now',
      path: ['planNow', 'energyKwh'],
      extra: { device_class: 'energy_storage', unit_of_measurement: 'kWh', state_class: 'measurement', suggested_display_precision: 2, icon: 'mdi:calendar-clock' },
    },
    // The whole plan (per-step grid, battery, energy, β) rides along as attributes.
    power('next_hour_grid_power', 'Next-hour planned grid power', ['nextHour', 'gridKw'], { icon: 'mdi:calendar-arrow-right', json_attributes_topic: topics.plan }),
    {
      component: 'sensor',
      objectId: 'trades_today',
      name: 'P2P trades today',
      path: ['tradesToday', 'count'],
      extra: { state_class: 'measurement', icon: 'mdi:swap-horizontal' },
    },
    {
      component: 'sensor',
      objectId: 'traded_energy_today',
      name: 'P2P traded energy today',
      path: ['tradesToday', 'energyKwh'],
      // Resets at midnight UTC: total_increasing reads the drop as a new cycle.
      extra: { device_class: 'energy', unit_of_measurement: 'kWh', state_class: 'total_increasing', suggested_display_precision: 2 },
    },
    energyTotal(topics, 'grid_import_energy', 'Grid import', 'gridImportKwh', 'mdi:transmission-tower-import'),
    energyTotal(topics, 'grid_export_energy', 'Grid export', 'gridExportKwh', 'mdi:transmission-tower-export'),
    energyTotal(topics, 'pv_energy', 'PV production', 'pvKwh', 'mdi:solar-power'),
    energyTotal(topics, 'battery_charge_energy', 'Battery charged', 'batteryChargeKwh', 'mdi:battery-arrow-up'),
    energyTotal(topics, 'battery_discharge_energy', 'Battery discharged', 'batteryDischargeKwh', 'mdi:battery-arrow-down'),
    {
      component: 'binary_sensor',
      objectId: 'safe_mode',
      name: 'Safe mode',
      path: ['mode'],
      extra: { device_class: 'problem', payload_on: 'safe', payload_off: 'plan' },
    },
    {
      component: 'sensor',
      objectId: 'last_safety_reason',
      name: 'Last safety reason',
      path: ['lastSafety', 'reason'],
      extra: { icon: 'mdi:shield-alert' },
    },
  ];
}

/** The retained discovery configs of one gateway, in publishing order; the command entities only with `commands`, the settlement's sensors only with `settlement`. */
export function discoveryMessages(options: { gatewayId: string; topicPrefix: string; discoveryPrefix: string; commands?: CommandLimits; settlement?: boolean }): DiscoveryMessage[] {
  const topics = telemetryTopics(options.topicPrefix, options.gatewayId);
  const slug = `prosumer_edge_${options.gatewayId.replace(/-/g, '_')}`;
  const device: HaEntityConfig['device'] = {
    identifiers: [`prosumer-edge-${options.gatewayId}`],
    name: `Prosumer gateway ${options.gatewayId}`,
    manufacturer: 'prosumer-edge',
    model: 'home energy gateway',
    sw_version: SOFTWARE_VERSION,
  };
  const specs = [...entitySpecs(topics), ...(options.settlement ? settlementSpecs(topics) : []), ...(options.commands ? commandSpecs(topics, options.commands) : [])];
  return specs.map((spec) => ({
    topic: `${options.discoveryPrefix}/${spec.component}/${options.gatewayId}/${spec.objectId}/config`,
    component: spec.component,
    objectId: spec.objectId,
    config: {
      name: spec.name,
      unique_id: `${slug}_${spec.objectId}`,
      default_entity_id: `${spec.component}.${slug}_${spec.objectId}`,
      object_id: `${slug}_${spec.objectId}`,
      ...(spec.path ? { state_topic: spec.stateTopic ?? topics.state, value_template: `{{ value_json.${spec.path.join('.')} }}` } : {}),
      availability_topic: topics.availability,
      payload_available: 'online',
      payload_not_available: 'offline',
      device,
      origin: { name: 'prosumer-edge', sw_version: SOFTWARE_VERSION },
      qos: 1,
      ...spec.extra,
    },
  }));
}
