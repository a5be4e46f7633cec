/**
 * A declarative Modbus register map (`drivers/register-map/maps/*.yaml`): the point list of one
 * device model — table, address, type, word order, scale, unit, read/write — and what the
 * device is to the core: a `meter`, a `pv-inverter`, a `battery-storage` (or several, for a
 * hybrid inverter), each role field naming the point that feeds it. The gateway's drivers and
 * the simulator both work from the loaded map; the core never sees a register number.
 * Every problem is reported with the map file and the field path (docs/register-maps.md).
 */
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { schemaValidator } from '../../src/config/schema-validator.ts';
import { ConfigFileError, describeSchemaErrors, readYamlFile } from '../../src/config/config-file.ts';

export type RegisterTable = 'holding' | 'input';
export type RegisterType = 'u16' | 's16' | 'u32' | 's32' | 'f32';
/** 32-bit values: which register holds the high word. Bytes within a register are always big-endian (Modbus). */
export type WordOrder = 'high-first' | 'low-first';
/** `code`: a number without a physical unit (a mode, a command, a bit field, a scale-factor exponent). */
export type PointUnit = 'W' | 'kW' | 'Wh' | 'kWh' | '%' | 's' | 'min' | 'V' | 'A' | 'Hz' | 'code';

export interface MapPoint {
  name: string;
  table: RegisterTable;
  /** Protocol (0-based) address: reference 30053 of a manual is input register 52. */
  address: number;
  type: RegisterType;
  wordOrder: WordOrder;
  /** The value in `unit` is raw × scale × 10^(scale-factor point), the last only with `scaleFactor`. */
  scale: number;
  scaleFactor?: string;
  unit: PointUnit;
  writable: boolean;
}

/** A role field fed by a point: `negate` flips the device's sign to the core's; `negativeWhen` takes the sign from a status bit (devices that report a magnitude). */
export interface Binding {
  point: string;
  negate: boolean;
  negativeWhen?: { point: string; bit: number };
}

export interface PointValue {
  point: string;
  value: number;
}

/**
 * How a battery power command is written. `power` takes the power (signed, + discharge, unless
 * there is a `direction` command, then its magnitude); `enable` puts the device under external
 * control, `revert` gives control back. `timeout`: the device's own watchdog, written and read
 * back before anything is enabled; without one the driver reverts on its own (docs/register-maps.md).
 */
export interface SetpointSpec {
  power: Binding;
  direction?: { point: string; charge: number; discharge: number; idle: number };
  enable: PointValue[];
  revert: PointValue[];
  timeout?: { point: string };
}

export interface MeterRole {
  netImportKw: Binding;
  importedEnergyKwh?: Binding;
  exportedEnergyKwh?: Binding;
}
export interface PvRole {
  acPowerKw: Binding;
  energyKwh?: Binding;
}
export interface BatteryRole {
  socFraction: Binding;
  powerKw: Binding;
  maxChargeKw?: Binding;
  maxDischargeKw?: Binding;
  setpoint: SetpointSpec;
}

export interface RegisterMap {
  file: string;
  name: string;
  description: string;
  points: Record<string, MapPoint>;
  meter?: MeterRole;
  'pv-inverter'?: PvRole;
  'battery-storage'?: BatteryRole;
}

export type MapRole = 'meter' | 'pv-inverter' | 'battery-storage';
export const MAP_ROLES: readonly MapRole[] = ['meter', 'pv-inverter', 'battery-storage'];

export class RegisterMapError extends ConfigFileError {
  override name = 'RegisterMapError';
}

export const shippedMapsDir = fileURLToPath(new URL('./maps/', import.meta.url));

/** A map named in a board profile: a shipped map's name, or a path to a YAML file (relative to the profile). */
export function registerMapFile(reference: string, boardFile: string): string {
  if (/^[a-z0-9][a-z0-9-]*$/.test(reference)) return join(shippedMapsDir, `${reference}.yaml`);
  return isAbsolute(reference) ? reference : resolve(dirname(boardFile), reference);
}

const name = { type: 'string', pattern: '^[a-z][a-z0-9-]*$' } as const;
const binding = {
  type: 'object',
  required: ['point'],
  additionalProperties: false,
  properties: {
    point: name,
    negate: { type: 'boolean' },
    negativeWhen: { type: 'object', required: ['point', 'bit'], additionalProperties: false, properties: { point: name, bit: { type: 'integer', minimum: 0, maximum: 31 } } },
  },
} as const;
const pointValues = {
  type: 'array',
  items: { type: 'object', required: ['point', 'value'], additionalProperties: false, properties: { point: name, value: { type: 'number' } } },
} as const;
const role = (required: string[], bindings: string[], more: Record<string, unknown> = {}) => ({
  type: 'object',
  required,
  additionalProperties: false,
  properties: { ...Object.fromEntries(bindings.map((b) => [b, binding])), ...more },
});

export const mapSchema = {
  type: 'object',
  required: ['name', 'points'],
  additionalProperties: false,
  properties: {
    name,
    description: { type: 'string' },
    defaults: {
      type: 'object',
      additionalProperties: false,
      properties: { table: { enum: ['holding', 'input'] }, type: { enum: ['u16', 's16', 'u32', 's32', 'f32'] }, wordOrder: { enum: ['high-first', 'low-first'] } },
    },
    points: {
      type: 'object',
      minProperties: 1,
      propertyNames: name,
      additionalProperties: {
        type: 'object',
        required: ['address', 'unit'],
        additionalProperties: false,
        properties: {
          table: { enum: ['holding', 'input'] },
          address: { type: 'integer', minimum: 0, maximum: 65535 },
          type: { enum: ['u16', 's16', 'u32', 's32', 'f32'] },
          wordOrder: { enum: ['high-first', 'low-first'] },
          scale: { type: 'number', not: { const: 0 } },
          scaleFactor: name,
          unit: { enum: ['W', 'kW', 'Wh', 'kWh', '%', 's', 'min', 'V', 'A', 'Hz', 'code'] },
          access: { enum: ['read', 'read-write'] },
          description: { type: 'string' },
        },
      },
    },
    meter: role(['netImportKw'], ['netImportKw', 'importedEnergyKwh', 'exportedEnergyKwh']),
    'pv-inverter': role(['acPowerKw'], ['acPowerKw', 'energyKwh']),
    'battery-storage': role(['socFraction', 'powerKw', 'setpoint'], ['socFraction', 'powerKw', 'maxChargeKw', 'maxDischargeKw'], {
      setpoint: {
        type: 'object',
        required: ['power', 'enable', 'revert'],
        additionalProperties: false,
        properties: {
          power: binding,
          direction: {
            type: 'object',
            required: ['point', 'charge', 'discharge', 'idle'],
            additionalProperties: false,
            properties: { point: name, charge: { type: 'integer' }, discharge: { type: 'integer' }, idle: { type: 'integer' } },
          },
          enable: { ...pointValues, minItems: 1 },
          revert: { ...pointValues, minItems: 1 },
          timeout: { type: 'object', required: ['point'], additionalProperties: false, properties: { point: name } },
        },
      },
    }),
  },
} as const;

const validate = await schemaValidator('register-map', mapSchema);
const NAME_PATTERNS = { [name.pattern]: "lower-case letters, digits and '-', starting with a letter" };

/** Which units a role field accepts: the driver converts them to the core's (kW, kWh, fraction, seconds). */
const POWER: PointUnit[] = ['W', 'kW'];
const ENERGY: PointUnit[] = ['Wh', 'kWh'];
const FIELD_UNITS: Record<string, PointUnit[]> = {
  netImportKw: POWER,
  acPowerKw: POWER,
  powerKw: POWER,
  maxChargeKw: POWER,
  maxDischargeKw: POWER,
  importedEnergyKwh: ENERGY,
  exportedEnergyKwh: ENERGY,
  energyKwh: ENERGY,
  socFraction: ['%'],
};

type RawMap = {
  name: string;
  description?: string;
  defaults?: { table?: RegisterTable; type?: RegisterType; wordOrder?: WordOrder };
  points: Record<string, { table?: RegisterTable; address: number; type?: RegisterType; wordOrder?: WordOrder; scale?: number; scaleFactor?: string; unit: PointUnit; access?: 'read' | 'read-write' }>;
  meter?: Record<string, RawBinding>;
  'pv-inverter'?: Record<string, RawBinding>;
  'battery-storage'?: Record<string, unknown> & { setpoint: RawSetpoint };
};
type RawBinding = { point: string; negate?: boolean; negativeWhen?: { point: string; bit: number } };
type RawSetpoint = { power: RawBinding; direction?: SetpointSpec['direction']; enable: PointValue[]; revert: PointValue[]; timeout?: { point: string } };

/** Loads and checks a map file. */
export function loadRegisterMap(file: string): RegisterMap {
  const data = readYamlFile(file, 'the register map', RegisterMapError);
  if (!validate(data)) throw new RegisterMapError(file, describeSchemaErrors(validate.errors ?? [], NAME_PATTERNS));
  const raw = data as unknown as RawMap;
  const problems: string[] = [];
  if (!MAP_ROLES.some((r) => raw[r] !== undefined)) problems.push(`/: says nothing of what the device is: give a ${MAP_ROLES.join(', ')} section`);
  const points: Record<string, MapPoint> = {};
  for (const [pointName, p] of Object.entries(raw.points)) {
    const at = `/points/${pointName}`;
    const table = p.table ?? raw.defaults?.table;
    const type = p.type ?? raw.defaults?.type;
    if (!table) problems.push(`${at}/table: is required (holding or input), or give defaults.table`);
    if (!type) problems.push(`${at}/type: is required (u16, s16, u32, s32 or f32), or give defaults.type`);
    if (!table || !type) continue;
    const writable = p.access === 'read-write';
    if (writable && table === 'input') problems.push(`${at}/access: input registers are read-only`);
    if (p.address + registerCount(type) > 0x10000) problems.push(`${at}/address: a ${type} at ${p.address} runs past register 65535`);
    points[pointName] = {
      name: pointName,
      table,
      address: p.address,
      type,
      wordOrder: p.wordOrder ?? raw.defaults?.wordOrder ?? 'high-first',
      scale: p.scale ?? 1,
      ...(p.scaleFactor ? { scaleFactor: p.scaleFactor } : {}),
      unit: p.unit,
      writable,
    };
  }
  checkOverlaps(points, problems);
  for (const p of Object.values(points)) {
    if (!p.scaleFactor) continue;
    const sf = points[p.scaleFactor];
    if (!sf) problems.push(`/points/${p.name}/scaleFactor: names no point of this map (${Object.keys(points).join(', ')})`);
    else if (sf.type !== 's16' || sf.scaleFactor) problems.push(`/points/${p.name}/scaleFactor: point ${sf.name} must be an s16 without a scale factor of its own (a power-of-ten exponent)`);
  }
  const map: RegisterMap = { file, name: raw.name, description: raw.description ?? '', points };
  const bind = (at: string, b: RawBinding, units?: PointUnit[], write = false): Binding => {
    const p = points[b.point];
    if (!p) problems.push(`${at}/point: names no point of this map (${Object.keys(points).join(', ')})`);
    else {
      if (units && !units.includes(p.unit)) problems.push(`${at}/point: point ${p.name} is in ${p.unit}, this field needs ${units.join(' or ')}`);
      if (write && !p.writable) problems.push(`${at}/point: point ${p.name} is written, so it needs access: read-write`);
    }
    if (b.negativeWhen) {
      const flag = points[b.negativeWhen.point];
      if (!flag) problems.push(`${at}/negativeWhen/point: names no point of this map`);
      else if (flag.type === 'f32' || b.negativeWhen.bit >= 16 * registerCount(flag.type)) problems.push(`${at}/negativeWhen/bit: point ${flag.name} (${flag.type}) has no bit ${b.negativeWhen.bit}`);
      if (b.negate) problems.push(`${at}: negate and negativeWhen together are ambiguous; use one`);
    }
    return { point: b.point, negate: b.negate ?? false, ...(b.negativeWhen ? { negativeWhen: b.negativeWhen } : {}) };
  };
  const fields = (at: string, section: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(section).filter(([k]) => k in FIELD_UNITS).map(([k, b]) => [k, bind(`${at}/${k}`, b as RawBinding, FIELD_UNITS[k])]));
  if (raw.meter) map.meter = fields('/meter', raw.meter) as unknown as MeterRole;
  if (raw['pv-inverter']) map['pv-inverter'] = fields('/pv-inverter', raw['pv-inverter']) as unknown as PvRole;
  const battery = raw['battery-storage'];
  if (battery) {
    const at = '/battery-storage/setpoint';
    const sp = battery.setpoint;
    const written = (where: string, list: PointValue[]) => list.map((pv, i) => (bind(`${at}/${where}/${i}`, { point: pv.point }, undefined, true), pv));
    if (sp.direction) bind(`${at}/direction`, { point: sp.direction.point }, undefined, true);
    if (sp.timeout) bind(`${at}/timeout`, { point: sp.timeout.point }, ['s', 'min'], true);
    if (sp.direction && sp.power.negate) problems.push(`${at}/power/negate: with a direction command the power is written as a magnitude`);
    map['battery-storage'] = {
      ...(fields('/battery-storage', battery) as unknown as Omit<BatteryRole, 'setpoint'>),
      setpoint: {
        power: bind(`${at}/power`, sp.power, POWER, true),
        ...(sp.direction ? { direction: sp.direction } : {}),
        enable: written('enable', sp.enable),
        revert: written('revert', sp.revert),
        ...(sp.timeout ? { timeout: sp.timeout } : {}),
      },
    };
  }
  if (problems.length > 0) throw new RegisterMapError(file, problems);
  return map;
}

export function registerCount(type: RegisterType): 1 | 2 {
  return type === 'u16' || type === 's16' ? 1 : 2;
}

export function mapRoles(map: RegisterMap): MapRole[] {
  return MAP_ROLES.filter((r) => map[r] !== undefined);
}

/** Two points sharing a register of the same table would decode one device value two ways: a typo in an address. */
function checkOverlaps(points: Record<string, MapPoint>, problems: string[]): void {
  const owner = new Map<string, string>();
  for (const p of Object.values(points)) {
    for (let i = 0; i < registerCount(p.type); i++) {
      const key = `${p.table}:${p.address + i}`;
      const other = owner.get(key);
      if (other) problems.push(`/points/${p.name}/address: ${p.table} register ${p.address + i} is already part of point ${other}`);
      else owner.set(key, p.name);
    }
  }
}
