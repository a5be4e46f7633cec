/**
 * JSON schema of a board profile (`boards/*.yaml`): which buses the gateway has and which
 * device sits where on them. Register maps are not here: drivers know those; the profile
 * only says "the meter is unit 2 on the RS-485 line".
 */
export const BAUD_RATES = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] as const;
const DEVICE_KINDS = ['pv-inverter', 'meter', 'battery-storage', 'bms', 'relay'] as const;
const BUS_TYPES = ['modbus-tcp', 'modbus-rtu', 'serial', 'firmata', 'gpio'] as const;

const name = { type: 'string', pattern: '^[a-z][a-z0-9-]*$' } as const;
const serialPath = { type: 'string', minLength: 1 } as const;
const baudRate = { enum: BAUD_RATES } as const;
const timeoutMs = { type: 'integer', minimum: 1, maximum: 60_000 } as const;
const unitId = { type: 'integer', minimum: 1, maximum: 247 } as const;
const powerKw = { type: 'number', exclusiveMinimum: 0, maximum: 1000 } as const;
const label = { type: 'string' } as const;

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

const device = {
  type: 'object',
  required: ['kind', 'bus'],
  properties: { kind: { enum: DEVICE_KINDS }, bus: name },
  allOf: [
    {
      // SunSpec 123/704 limits are a percentage of it, and the vendored models carry no nameplate model (120/702).
      if: { required: ['kind'], properties: { kind: { const: 'pv-inverter' } } },
      then: { required: ['unitId', 'ratedPowerKw'], additionalProperties: false, properties: { kind: {}, bus: {}, unitId, ratedPowerKw: powerKw, label } },
    },
    {
      if: { required: ['kind'], properties: { kind: { const: 'meter' } } },
      // exportPositive: meters installed or configured the other way round (docs/sunspec.md, meter sign).
      then: { required: ['unitId'], additionalProperties: false, properties: { kind: {}, bus: {}, unitId, exportPositive: { type: 'boolean' }, maxPlausibleKw: powerKw, label } },
    },
    {
      if: { required: ['kind'], properties: { kind: { const: 'battery-storage' } } },
      // dischargeRateBase: a vendor quirk, what 124 OutWRte is a percentage of (drivers/sunspec/battery.ts).
      then: { required: ['unitId', 'capacityKwh'], additionalProperties: false, properties: { kind: {}, bus: {}, unitId, capacityKwh: { type: 'number', exclusiveMinimum: 0, maximum: 1000 }, dischargeRateBase: { enum: ['WDisChaMax', 'WChaMax'] }, label } },
    },
    {
      if: { required: ['kind'], properties: { kind: { const: 'bms' } } },
      then: { required: ['address'], additionalProperties: false, properties: { kind: {}, bus: {}, address: { type: 'integer', minimum: 0, maximum: 255 }, label } },
    },
    {
      if: { required: ['kind'], properties: { kind: { const: 'relay' } } },
      then: {
        required: ['channel', 'ratedPowerKw'],
        additionalProperties: false,
        properties: {
          kind: {},
          bus: {},
          label,
          channel: { type: 'integer', minimum: 0, maximum: 63 },
          ratedPowerKw: { type: 'number', exclusiveMinimum: 0, maximum: 50 },
          pin: { type: ['integer', 'string'], minimum: 0, minLength: 1 },
          activeLow: { type: 'boolean' },
          unitId,
          coil: { type: 'integer', minimum: 0, maximum: 65535 },
        },
      },
    },
  ],
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
