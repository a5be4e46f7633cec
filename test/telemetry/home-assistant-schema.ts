/**
 * Home Assistant's MQTT discovery schema for the components telemetry uses, written from its
 * documentation (integrations/mqtt "MQTT discovery", sensor.mqtt, binary_sensor.mqtt,
 * select.mqtt, number.mqtt, button.mqtt, and
 * the sensor / binary sensor device-class tables): the documented option names only (full
 * names; no abbreviations), their types, the device and origin mappings, the device classes and
 * the units each numeric device class accepts. Plus what this project requires of itself:
 * unique_id, availability, a device block, and templates of the form `{{ value_json.a.b }}`.
 */
import { Ajv } from 'ajv';

const topicName = { type: 'string', minLength: 1, pattern: '^[^#+]+$' };
const template = { type: 'string', minLength: 1 };

const device = {
  type: 'object',
  additionalProperties: false,
  required: ['identifiers', 'name', 'manufacturer', 'model', 'sw_version'],
  properties: {
    configuration_url: { type: 'string' },
    connections: { type: 'array', items: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 2 } },
    hw_version: { type: 'string' },
    identifiers: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 }] },
    manufacturer: { type: 'string' },
    model: { type: 'string' },
    model_id: { type: 'string' },
    name: { type: 'string' },
    serial_number: { type: 'string' },
    suggested_area: { type: 'string' },
    sw_version: { type: 'string' },
    via_device: { type: 'string' },
  },
};

const origin = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1 }, sw_version: { type: 'string' }, support_url: { type: 'string' } },
};

/** Options every MQTT entity shares (availability, device, naming, JSON attributes). */
const common = {
  availability: { type: 'array' },
  availability_mode: { enum: ['all', 'any', 'latest'] },
  availability_template: template,
  availability_topic: topicName,
  default_entity_id: { type: 'string', pattern: '^[a-z_]+\\.[a-z0-9_]+$' },
  device,
  enabled_by_default: { type: 'boolean' },
  encoding: { type: 'string' },
  entity_category: { enum: ['config', 'diagnostic'] },
  entity_picture: { type: 'string' },
  expire_after: { type: 'integer', minimum: 0 },
  force_update: { type: 'boolean' },
  icon: { type: 'string', pattern: '^mdi:[a-z0-9-]+$' },
  json_attributes_template: template,
  json_attributes_topic: topicName,
  name: { type: ['string', 'null'] },
  object_id: { type: 'string', pattern: '^[a-z0-9_]+$' },
  origin,
  payload_available: { type: 'string' },
  payload_not_available: { type: 'string' },
  platform: { const: 'mqtt' },
  qos: { enum: [0, 1, 2] },
  state_topic: topicName,
  unique_id: { type: 'string', minLength: 1 },
  value_template: template,
};

const SENSOR_DEVICE_CLASSES = [
  'apparent_power', 'aqi', 'area', 'atmospheric_pressure', 'battery', 'blood_glucose_concentration', 'carbon_dioxide',
  'carbon_monoxide', 'current', 'data_rate', 'data_size', 'date', 'distance', 'duration', 'energy', 'energy_distance',
  'energy_storage', 'enum', 'frequency', 'gas', 'humidity', 'illuminance', 'irradiance', 'moisture', 'monetary',
  'nitrogen_dioxide', 'nitrogen_monoxide', 'nitrous_oxide', 'ozone', 'ph', 'pm1', 'pm10', 'pm25', 'power_factor', 'power',
  'precipitation', 'precipitation_intensity', 'pressure', 'reactive_energy', 'reactive_power', 'signal_strength',
  'sound_pressure', 'speed', 'sulphur_dioxide', 'temperature', 'timestamp', 'volatile_organic_compounds',
  'volatile_organic_compounds_parts', 'voltage', 'volume', 'volume_flow_rate', 'volume_storage', 'water', 'weight',
  'wind_direction', 'wind_speed',
];

const BINARY_SENSOR_DEVICE_CLASSES = [
  'battery', 'battery_charging', 'carbon_monoxide', 'cold', 'connectivity', 'door', 'garage_door', 'gas', 'heat', 'light',
  'lock', 'moisture', 'motion', 'moving', 'occupancy', 'opening', 'plug', 'power', 'presence', 'problem', 'running', 'safety',
  'smoke', 'sound', 'tamper', 'update', 'vibration', 'window',
];

const ENERGY_UNITS = ['J', 'kJ', 'MJ', 'GJ', 'mWh', 'Wh', 'kWh', 'MWh', 'GWh', 'TWh', 'cal', 'kcal', 'Mcal', 'Gcal'];
const unitRule = (deviceClass: string, units: string[], stateClasses?: string[]) => ({
  if: { properties: { device_class: { const: deviceClass } }, required: ['device_class'] },
  then: { required: ['unit_of_measurement'], properties: { unit_of_measurement: { enum: units }, ...(stateClasses ? { state_class: { enum: stateClasses } } : {}) } },
});

/** This project's own rules on top of Home Assistant's. */
const required = ['name', 'unique_id', 'default_entity_id', 'state_topic', 'value_template', 'availability_topic', 'device', 'origin'];
const plainTemplate = { value_template: { type: 'string', pattern: '^\\{\\{ value_json(\\.[A-Za-z_][A-Za-z0-9_]*)+ \\}\\}$' } };

export const SENSOR_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required,
  properties: {
    ...common,
    device_class: { enum: SENSOR_DEVICE_CLASSES },
    last_reset_value_template: template,
    options: { type: 'array', items: { type: 'string' } },
    state_class: { enum: ['measurement', 'measurement_angle', 'total', 'total_increasing'] },
    suggested_display_precision: { type: 'integer', minimum: 0 },
    unit_of_measurement: { type: ['string', 'null'] },
  },
  allOf: [
    { properties: plainTemplate },
    unitRule('battery', ['%']),
    unitRule('power', ['mW', 'W', 'kW', 'MW', 'GW', 'TW', 'BTU/h']),
    // A counter of energy is never a "measurement" in Home Assistant's statistics.
    unitRule('energy', ENERGY_UNITS, ['total', 'total_increasing']),
    unitRule('energy_storage', ENERGY_UNITS),
  ],
};

export const BINARY_SENSOR_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: [...required, 'payload_on', 'payload_off'],
  properties: {
    ...common,
    device_class: { enum: BINARY_SENSOR_DEVICE_CLASSES },
    off_delay: { type: 'integer', minimum: 0 },
    payload_off: { type: 'string' },
    payload_on: { type: 'string' },
  },
  allOf: [{ properties: plainTemplate }],
};

/** Options of the command entities (select.mqtt, number.mqtt, button.mqtt). */
const commandOptions = { command_template: template, command_topic: topicName, optimistic: { type: 'boolean' }, retain: { type: 'boolean' } };

export const SELECT_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: [...required, 'command_topic', 'options'],
  properties: { ...common, ...commandOptions, options: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 } },
  allOf: [{ properties: plainTemplate }],
};

export const NUMBER_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: [...required, 'command_topic'],
  properties: {
    ...common,
    ...commandOptions,
    device_class: { enum: SENSOR_DEVICE_CLASSES.filter((c) => !['date', 'enum', 'timestamp'].includes(c)) },
    max: { type: 'number' },
    min: { type: 'number' },
    mode: { enum: ['auto', 'box', 'slider'] },
    payload_reset: { type: 'string' },
    step: { type: 'number', minimum: 0.001 },
    unit_of_measurement: { type: ['string', 'null'] },
  },
  allOf: [{ properties: plainTemplate }],
};

/** A button has no state: no state_topic, no value_template. */
export const BUTTON_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: [...required.filter((r) => r !== 'state_topic' && r !== 'value_template'), 'command_topic'],
  properties: {
    ...Object.fromEntries(Object.entries(common).filter(([k]) => k !== 'state_topic' && k !== 'value_template')),
    ...commandOptions,
    device_class: { enum: ['identify', 'restart', 'update'] },
    payload_press: { type: 'string' },
  },
};

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
export const validateDiscovery = {
  sensor: ajv.compile(SENSOR_SCHEMA),
  binary_sensor: ajv.compile(BINARY_SENSOR_SCHEMA),
  select: ajv.compile(SELECT_SCHEMA),
  number: ajv.compile(NUMBER_SCHEMA),
  button: ajv.compile(BUTTON_SCHEMA),
};

/** The discovery topic: `<prefix>/<component>/<node_id>/<object_id>/config`, ids from [a-zA-Z0-9_-]. */
export function parseDiscoveryTopic(topic: string, discoveryPrefix: string): { component: string; nodeId: string; objectId: string } | null {
  if (!topic.startsWith(`${discoveryPrefix}/`)) return null;
  const match = /^([a-z_]+)\/([a-zA-Z0-9_-]+)\/([a-zA-Z0-9_-]+)\/config$/.exec(topic.slice(discoveryPrefix.length + 1));
  return match ? { component: match[1]!, nodeId: match[2]!, objectId: match[3]! } : null;
}

/**
 * Renders `{{ value_json.a.b }}` the way Home Assistant's Jinja does for JSON values: null as
 * "None" (which Home Assistant shows as unknown), booleans as "True"/"False". A missing key or
 * a template of any other form throws: telemetry keeps to this form so it can be checked here.
 */
export function renderValueTemplate(valueTemplate: string, payload: string): string {
  const match = /^\{\{ value_json((?:\.[A-Za-z_][A-Za-z0-9_]*)+) \}\}$/.exec(valueTemplate);
  if (!match) throw new Error(`not a plain value_json template: ${valueTemplate}`);
  let value: unknown = JSON.parse(payload);
  for (const key of match[1]!.slice(1).split('.')) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !(key in value)) throw new Error(`${valueTemplate}: '${key}' is undefined`);
    value = (value as Record<string, unknown>)[key];
  }
  if (value === null) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number' || typeof value === 'string') return String(value);
  throw new Error(`${valueTemplate} renders a ${Array.isArray(value) ? 'list' : 'mapping'}, not a state`);
}
