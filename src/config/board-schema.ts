/**
 * JSON schema of a board profile (`boards/*.yaml`): which buses the gateway has and which
 * device sits where on them. Register maps are not here: SunSpec drivers discover theirs, and a
 * `register-map` device names its map file; the profile only says "the meter is unit 2 on the
 * RS-485 line".
 */
export const BAUD_RATES = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] as const;
export const DEVICE_KINDS = ['pv-inverter', 'meter', 'battery-storage', 'bms', 'relay', 'register-map'] as const;
const BUS_TYPES = ['modbus-tcp', 'modbus-rtu', 'serial', 'firmata', 'gpio'] as const;
type BusType = (typeof BUS_TYPES)[number];

const name = { type: 'string', pattern: '^[a-z][a-z0-9-]*$' } as const;
const serialPath = { type: 'string', minLength: 1 } as const;
const baudRate = { enum: BAUD_RATES } as const;
const timeoutMs = { type: 'integer', minimum: 1, maximum: 60_000 } as const;
const unitId = { type: 'integer', minimum: 1, maximum: 247 } as const;
const powerKw = { type: 'number', exclusiveMinimum: 0, maximum: 1000 } as const;
const label = { type: 'string' } as const;
const capacityKwh = { type: 'number', exclusiveMinimum: 0, maximum: 1000 } as const;

const bus = {
  type: 'object',
  required: ['type'],
  properties: { type: { enum: BUS_TYPES } },
  allOf: [
    {
      if: { required: ['type'], properties: { type: { const: 'modbus-tcp' } } },
      then: {
        required: ['host', 'port'],
        additionalProperties: false,
        properties: { type: {}, host: { type: 'string', minLength: 1 }, port: { type: 'integer', minimum: 1, maximum: 65535 }, timeoutMs },
      },
    },
    {
      if: { required: ['type'], properties: { type: { const: 'modbus-rtu' } } },
      then: {
        required: ['path', 'baudRate'],
        additionalProperties: false,
        // adapterLatencyMs: how long a USB–RS485 adapter holds received bytes (drivers/modbus/rtu-port.ts).
        properties: { type: {}, path: serialPath, baudRate, parity: { enum: ['none', 'even', 'odd'] }, adapterLatencyMs: { type: 'integer', minimum: 0, maximum: 1000 }, timeoutMs },
      },
    },
    {
      if: { required: ['type'], properties: { type: { const: 'serial' } } },
      then: {
        required: ['path', 'baudRate', 'protocol'],
        additionalProperties: false,
        properties: { type: {}, path: serialPath, baudRate, protocol: { enum: ['pylontech'] }, timeoutMs },
      },
    },
    {
      if: { required: ['type'], properties: { type: { const: 'firmata' } } },
      then: {
        required: ['path'],
        additionalProperties: false,
        properties: { type: {}, path: serialPath, baudRate, timeoutMs },
      },
    },
    {
      if: { required: ['type'], properties: { type: { const: 'gpio' } } },
      then: {
        required: ['ioPlugin'],
        additionalProperties: false,
        properties: { type: {}, ioPlugin: { type: 'string', minLength: 1 }, ioOptions: { type: 'object' }, timeoutMs },
      },
    },
  ],
} as const;

/**
 * Each device kind's own fields (beside `kind` and `bus`), so every entry is checked by its kind,
 * and the bus types it can sit on (src/config/board.ts checks those).
 * The gateway opens each kind through its entry in src/gateway/driver-registry.ts.
 */
const MODBUS: BusType[] = ['modbus-tcp', 'modbus-rtu'];
export const DEVICE_FIELDS: Record<(typeof DEVICE_KINDS)[number], { buses: BusType[]; required: string[]; properties: Record<string, unknown> }> = {
  // SunSpec 123/704 limits are a percentage of it, and the vendored models carry no nameplate model (120/702).
  'pv-inverter': { buses: MODBUS, required: ['unitId', 'ratedPowerKw'], properties: { unitId, ratedPowerKw: powerKw } },
  // exportPositive: meters installed or configured the other way round (docs/sunspec.md, meter sign).
  meter: { buses: MODBUS, required: ['unitId'], properties: { unitId, exportPositive: { type: 'boolean' }, maxPlausibleKw: powerKw } },
  // dischargeRateBase: a vendor quirk, what 124 OutWRte is a percentage of (drivers/sunspec/battery.ts).
  'battery-storage': { buses: MODBUS, required: ['unitId', 'capacityKwh'], properties: { unitId, capacityKwh, dischargeRateBase: { enum: ['WDisChaMax', 'WChaMax'] } } },
  bms: { buses: ['serial'], required: ['address'], properties: { address: { type: 'integer', minimum: 0, maximum: 255 } } },
  relay: {
    buses: [...MODBUS, 'firmata', 'gpio'],
    required: ['channel', 'ratedPowerKw'],
    properties: {
      channel: { type: 'integer', minimum: 0, maximum: 63 },
      ratedPowerKw: { type: 'number', exclusiveMinimum: 0, maximum: 50 },
      pin: { type: ['integer', 'string'], minimum: 0, minLength: 1 },
      activeLow: { type: 'boolean' },
      unitId,
      coil: { type: 'integer', minimum: 0, maximum: 65535 },
    },
  },
  // map: a shipped map's name or a YAML file (drivers/register-map/map.ts); which ratings it needs depends on its roles (board.ts).
  'register-map': { buses: MODBUS, required: ['unitId', 'map'], properties: { unitId, map: { type: 'string', minLength: 1 }, ratedPowerKw: powerKw, capacityKwh, maxPlausibleKw: powerKw } },
};

const device = {
  type: 'object',
  required: ['kind', 'bus'],
  properties: { kind: { enum: DEVICE_KINDS }, bus: name },
  allOf: Object.entries(DEVICE_FIELDS).map(([kind, fields]) => ({
    if: { required: ['kind'], properties: { kind: { const: kind } } },
    then: { required: fields.required, additionalProperties: false, properties: { kind: {}, bus: {}, label, ...fields.properties } },
  })),
} as const;

export const boardSchema = {
  type: 'object',
  required: ['name', 'buses', 'devices'],
  additionalProperties: false,
  properties: {
    name,
    description: { type: 'string' },
    buses: { type: 'object', minProperties: 1, propertyNames: name, additionalProperties: bus },
    devices: { type: 'object', minProperties: 1, propertyNames: name, additionalProperties: device },
  },
} as const;
