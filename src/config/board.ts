/**
 * Loads a board profile (`boards/*.yaml`): YAML → `${name}` placeholders filled from `vars` →
 * schema check (ajv) → cross-checks the schema cannot express (a device's bus exists and can
 * carry it; unit ids, channels and pins are not used twice). Every error names the file, the
 * field path and what was expected.
 */
import { schemaValidator } from './schema-validator.ts';
import { parse as parseYamlScalar } from 'yaml';
import { boardSchema, DEVICE_FIELDS, type BAUD_RATES } from './board-schema.ts';
import { ConfigFileError, describeSchemaErrors, readYamlFile } from './config-file.ts';
import { loadRegisterMap, mapRoles, registerMapFile, type RegisterMap } from '../../drivers/register-map/map.ts';

type BaudRate = (typeof BAUD_RATES)[number];

export type BusProfile =
  | { type: 'modbus-tcp'; host: string; port: number; timeoutMs?: number }
  | { type: 'modbus-rtu'; path: string; baudRate: BaudRate; parity?: 'none' | 'even' | 'odd'; adapterLatencyMs?: number; timeoutMs?: number }
  | { type: 'serial'; protocol: 'pylontech'; path: string; baudRate: BaudRate; timeoutMs?: number }
  | { type: 'firmata'; path: string; baudRate?: BaudRate; timeoutMs?: number }
  /** A johnny-five IO plugin loaded by module name (e.g. "raspi-io", "pigpio-io"), with its constructor options. */
  | { type: 'gpio'; ioPlugin: string; ioOptions?: Record<string, unknown>; timeoutMs?: number };

interface SunSpecCommon {
  bus: string;
  unitId: number;
  label?: string;
}
export interface PvInverterProfile extends SunSpecCommon {
  kind: 'pv-inverter';
  /** Rated AC power: the inverter's active-power limits are fractions of it. */
  ratedPowerKw: number;
}
export interface MeterProfile extends SunSpecCommon {
  kind: 'meter';
  /** The meter counts export as positive W (mounted or configured reversed); the driver flips it to import-positive. */
  exportPositive?: boolean;
  /** A reading beyond this is garbage, not a power (default 100 kW: more than a house connection carries). */
  maxPlausibleKw?: number;
}
export interface BatteryStorageProfile extends SunSpecCommon {
  kind: 'battery-storage';
  /** Usable capacity of the battery behind the storage inverter. */
  capacityKwh: number;
  /** What model 124 OutWRte is a percentage of: 'WDisChaMax' as the model text says (default), 'WChaMax' for vendors that scale both rates by it. */
  dischargeRateBase?: 'WDisChaMax' | 'WChaMax';
}
export type ModbusDeviceProfile = PvInverterProfile | MeterProfile | BatteryStorageProfile;
export interface BmsProfile {
  kind: 'bms';
  bus: string;
  /** Pack address (ADR) on the BMS line. */
  address: number;
  label?: string;
}
interface RelayCommon {
  kind: 'relay';
  bus: string;
  /** Which shiftable load this relay switches (the plant's relay channel in the simulator). */
  channel: number;
  ratedPowerKw: number;
  label?: string;
}
/** A relay on a GPIO / Firmata pin; `activeLow` for boards that close on a low level. */
export interface PinRelayProfile extends RelayCommon {
  pin: number | string;
  activeLow?: boolean;
}
/** A channel of a Modbus relay board: coil `coil` of unit `unitId`. */
export interface ModbusRelayProfile extends RelayCommon {
  unitId: number;
  coil: number;
}
export type RelayProfile = PinRelayProfile | ModbusRelayProfile;
/** A Modbus device described by a register map (docs/register-maps.md): what it is comes from the map. */
export interface RegisterMapProfile extends SunSpecCommon {
  kind: 'register-map';
  /** A shipped map's name (drivers/register-map/maps/<name>.yaml) or a path to a map file, relative to the profile. */
  map: string;
  /** Rated power: required when the map has a PV inverter, or a battery without live limits. */
  ratedPowerKw?: number;
  /** Usable capacity: required when the map has a battery. */
  capacityKwh?: number;
  maxPlausibleKw?: number;
  /** The map, loaded and checked with the profile. */
  registerMap: RegisterMap;
}
export type DeviceProfile = ModbusDeviceProfile | BmsProfile | RelayProfile | RegisterMapProfile;
/** What a device is to the gateway; a hybrid inverter's register map makes it two things. */
export type DeviceRole = 'pv-inverter' | 'meter' | 'battery-storage' | 'bms' | 'relay';

export function deviceRoles(device: DeviceProfile): DeviceRole[] {
  return device.kind === 'register-map' ? mapRoles(device.registerMap) : [device.kind];
}

export interface BoardProfile {
  name: string;
  description?: string;
  buses: Record<string, BusProfile>;
  devices: Record<string, DeviceProfile>;
}

export class BoardProfileError extends ConfigFileError {
  override name = 'BoardProfileError';
}

const validate = await schemaValidator('board', boardSchema);

const NAME_PATTERNS = { [boardSchema.properties.name.pattern]: "lower-case letters, digits and '-', starting with a letter" };

export function loadBoardProfile(file: string, vars: Record<string, string> = {}): BoardProfile {
  const problems: string[] = [];
  const data = substitute(readYamlFile(file, 'the profile', BoardProfileError), '', vars, problems);
  if (problems.length > 0) throw new BoardProfileError(file, problems);
  if (!validate(data)) throw new BoardProfileError(file, describeSchemaErrors(validate.errors ?? [], NAME_PATTERNS, boardSchema));
  const profile = data as unknown as BoardProfile;
  loadRegisterMaps(file, profile, problems);
  if (problems.length > 0) throw new BoardProfileError(file, problems);
  crossCheck(profile, problems);
  if (problems.length > 0) throw new BoardProfileError(file, problems);
  return profile;
}

/**
 * The profile's structure before its run-time endpoints exist: every bus endpoint that is a
 * `${name}` placeholder (what a simulator fills in once started) gets a stand-in — port 1,
 * path /dev/null — over `vars`. Nothing is opened.
 */
export function loadBoardLayout(file: string, vars: Record<string, string> = {}): BoardProfile {
  const standIns = Object.fromEntries(Object.values(endpointPlaceholders(file)).map(({ name, field }) => [name, field === 'port' ? '1' : '/dev/null']));
  return loadBoardProfile(file, { ...vars, ...standIns });
}

/** Which `${name}` placeholder each bus's endpoint is (read from the raw YAML, before substitution); none if the file does not parse. */
export function endpointPlaceholders(file: string): Record<string, { name: string; field: 'port' | 'path' }> {
  let raw: { buses?: Record<string, { port?: unknown; path?: unknown } | null> } | null;
  try {
    raw = readYamlFile(file, 'the profile', BoardProfileError) as typeof raw;
  } catch {
    return {}; // loadBoardProfile reports it
  }
  const out: Record<string, { name: string; field: 'port' | 'path' }> = {};
  for (const [busName, bus] of Object.entries(raw?.buses ?? {})) {
    for (const field of ['port', 'path'] as const) {
      const m = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(String(bus?.[field] ?? ''));
      if (m) out[busName] = { name: m[1]!, field };
    }
  }
  return out;
}

/** A value that is exactly `${name}` takes the variable's YAML type (so a port stays a number); inside text it is spliced in. */
function substitute(value: unknown, path: string, vars: Record<string, string>, problems: string[]): unknown {
  if (typeof value === 'string') {
    const lookup = (name: string) => {
      if (Object.hasOwn(vars, name)) return vars[name]!;
      problems.push(`${path || '/'}: placeholder \${${name}} has no value (given: ${Object.keys(vars).join(', ') || 'none'})`);
      return '';
    };
    const whole = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(value);
    if (whole) return parseYamlScalar(lookup(whole[1]!));
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => lookup(name));
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, `${path}/${i}`, vars, problems));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, `${path}/${k}`, vars, problems)]));
  }
  return value;
}

/** Each register-map device gets its map, checked: a bad map is an error of the profile too, naming both files. */
function loadRegisterMaps(file: string, profile: BoardProfile, problems: string[]): void {
  for (const [id, device] of Object.entries(profile.devices)) {
    if (device.kind !== 'register-map') continue;
    try {
      device.registerMap = loadRegisterMap(registerMapFile(device.map, file));
    } catch (e) {
      const lines = e instanceof ConfigFileError ? e.message.split('\n') : [String(e)];
      problems.push(...lines.map((line) => `/devices/${id}/map: ${line}`));
    }
  }
}


/**
 * Kinds the gateway takes one of, and why. Several PV inverters are summed into one PV
 * (src/gateway/combined-pv.ts) and several storage inverters pooled into one battery
 * (src/gateway/battery-pool.ts); a second of these would otherwise be dropped without a word.
 */
const ONE_PER_BOARD: Partial<Record<DeviceRole, string>> = {
  meter: 'the grid connection point',
  bms: 'it pairs with the one storage inverter',
};

function crossCheck(profile: BoardProfile, problems: string[]): void {
  const role = (device: BoardProfile['devices'][string], r: DeviceRole) => deviceRoles(device).includes(r);
  const storages = Object.keys(profile.devices).filter((id) => role(profile.devices[id]!, 'battery-storage'));
  const taken = new Map<string, string>();
  const firstOfRole = new Map<DeviceRole, string>();
  const claim = (key: string, path: string, what: string) => {
    const owner = taken.get(key);
    if (owner) problems.push(`${path}: ${what} is already used by ${owner}`);
    else taken.set(key, path.split('/').slice(0, 3).join('/'));
  };
  for (const [id, device] of Object.entries(profile.devices)) {
    const at = `/devices/${id}`;
    for (const role of deviceRoles(device)) {
      const onlyOne = ONE_PER_BOARD[role];
      const first = firstOfRole.get(role);
      if (onlyOne && first) problems.push(`${at}/kind: one ${role} per board (${onlyOne}), ${first} is one already`);
      else firstOfRole.set(role, at);
    }
    if (device.kind === 'register-map') requireRatings(at, device, problems);
    if (role(device, 'bms') && storages.length > 1) problems.push(`${at}/kind: a BMS pairs with the one storage inverter; with several (${storages.join(', ')}) it is not known whose pack it reads: leave the BMS out (each inverter then reports its own pack)`);
    const bus = profile.buses[device.bus];
    if (!bus) {
      problems.push(`${at}/bus: must name a bus of this board (${Object.keys(profile.buses).join(', ')}), got "${device.bus}"`);
      continue;
    }
    const buses = DEVICE_FIELDS[device.kind].buses;
    if (!buses.includes(bus.type)) {
      problems.push(`${at}/bus: a ${device.kind} cannot sit on ${bus.type} bus "${device.bus}" (expected a ${bus.type === 'serial' ? 'bms' : 'bus of type ' + buses.join(' or ')})`);
      continue;
    }
    if (device.kind === 'relay') {
      claim(`channel:${device.channel}`, `${at}/channel`, `load channel ${device.channel}`);
      const onPins = bus.type === 'gpio' || bus.type === 'firmata';
      if (onPins) {
        if (!('pin' in device)) problems.push(`${at}/pin: is required for a relay on ${bus.type} bus "${device.bus}"`);
        if ('unitId' in device || 'coil' in device) problems.push(`${at}: unitId/coil are for Modbus relay boards, not ${bus.type} pins`);
        if ('pin' in device) claim(`pin:${device.bus}:${device.pin}`, `${at}/pin`, `pin ${device.pin} of bus "${device.bus}"`);
      } else {
        if (!('unitId' in device)) problems.push(`${at}/unitId: is required for a relay on ${bus.type} bus "${device.bus}"`);
        if (!('coil' in device)) problems.push(`${at}/coil: is required for a relay on ${bus.type} bus "${device.bus}"`);
        if ('pin' in device || 'activeLow' in device) problems.push(`${at}: pin/activeLow are for GPIO/Firmata relays, not ${bus.type} boards`);
        if ('coil' in device && 'unitId' in device) {
          claim(`coil:${device.bus}:${device.unitId}:${device.coil}`, `${at}/coil`, `coil ${device.coil} of unit ${device.unitId}`);
          const other = Object.entries(profile.devices).find(([, d]) => d.kind !== 'relay' && d.bus === device.bus && 'unitId' in d && d.unitId === device.unitId);
          if (other) problems.push(`${at}/unitId: unit id ${device.unitId} on bus "${device.bus}" is already used by /devices/${other[0]}`);
        }
      }
    } else if (device.kind === 'bms') {
      claim(`adr:${device.bus}:${device.address}`, `${at}/address`, `address ${device.address} on bus "${device.bus}"`);
    } else {
      claim(`unit:${device.bus}:${device.unitId}`, `${at}/unitId`, `unit id ${device.unitId} on bus "${device.bus}"`);
    }
  }
}

/** Ratings belong to the installation, not the map; which ones a device needs follows from what its map makes it. */
function requireRatings(at: string, device: RegisterMapProfile, problems: string[]): void {
  const map = device.registerMap;
  const battery = map['battery-storage'];
  const needs = (field: 'ratedPowerKw' | 'capacityKwh', why: string) => {
    if (device[field] === undefined) problems.push(`${at}/${field}: is required (${why})`);
  };
  if (map['pv-inverter']) needs('ratedPowerKw', `map ${map.name} has a pv-inverter`);
  if (battery) needs('capacityKwh', `map ${map.name} has a battery-storage`);
  if (battery && !map['pv-inverter'] && (!battery.maxChargeKw || !battery.maxDischargeKw)) needs('ratedPowerKw', `map ${map.name} has no live battery limits, the rating is used instead`);
}
