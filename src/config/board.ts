/**
 * Loads a board profile (`boards/*.yaml`): YAML → `${name}` placeholders filled from `vars` →
 * schema check (ajv) → cross-checks the schema cannot express (a device's bus exists and can
 * carry it; unit ids, channels and pins are not used twice). Every error names the file, the
 * field path and what was expected.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { parseDocument, parse as parseYamlScalar } from 'yaml';
import { boardSchema, type BAUD_RATES } from './board-schema.ts';

type BaudRate = (typeof BAUD_RATES)[number];

export type BusProfile =
  | { type: 'modbus-tcp'; host: string; port: number; timeoutMs?: number }
  | { type: 'modbus-rtu'; path: string; baudRate: BaudRate; parity?: 'none' | 'even' | 'odd'; timeoutMs?: number }
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
}
export interface BatteryStorageProfile extends SunSpecCommon {
  kind: 'battery-storage';
  /** Usable capacity of the battery behind the storage inverter. */
  capacityKwh: number;
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
export type DeviceProfile = ModbusDeviceProfile | BmsProfile | RelayProfile;

export interface BoardProfile {
  name: string;
  description?: string;
  buses: Record<string, BusProfile>;
  devices: Record<string, DeviceProfile>;
}

export class BoardProfileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(problems.map((p) => `${file}: ${p}`).join('\n'));
    this.name = 'BoardProfileError';
  }
}

const validate = new Ajv({ allErrors: true, strict: false }).compile(boardSchema);

export function loadBoardProfile(file: string, vars: Record<string, string> = {}): BoardProfile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new BoardProfileError(file, [`cannot read the profile: ${e instanceof Error ? e.message : String(e)}`]);
  }
  return parseBoardProfile(text, file, vars);
}

/** `file` names the source in errors. */
function parseBoardProfile(text: string, file: string, vars: Record<string, string> = {}): BoardProfile {
  const doc = parseDocument(text, { prettyErrors: true });
  const syntax = doc.errors[0];
  // Only the first: the parser's later complaints are mostly echoes of it.
  if (syntax) throw new BoardProfileError(file, [`line ${syntax.linePos?.[0].line ?? '?'}, column ${syntax.linePos?.[0].col ?? '?'}: YAML syntax error: ${syntax.message.split('\n')[0]}`]);
  const problems: string[] = [];
  const data = substitute(doc.toJS(), '', vars, problems);
  if (problems.length > 0) throw new BoardProfileError(file, problems);
  if (!validate(data)) throw new BoardProfileError(file, describeSchemaErrors(validate.errors ?? []));
  const profile = data as unknown as BoardProfile;
  crossCheck(profile, problems);
  if (problems.length > 0) throw new BoardProfileError(file, problems);
  return profile;
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

function describeSchemaErrors(errors: ErrorObject[]): string[] {
  const out = new Set<string>();
  for (const e of errors) {
    const at = e.instancePath || '/';
    switch (e.keyword) {
      case 'if':
        break; // the failing branch's own errors say what is wrong
      case 'required':
        out.add(`${e.instancePath}/${(e.params as { missingProperty: string }).missingProperty}: is required`);
        break;
      case 'additionalProperties':
        out.add(`${e.instancePath}/${(e.params as { additionalProperty: string }).additionalProperty}: unknown field`);
        break;
      case 'enum':
        out.add(`${at}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => String(v)).join(', ')}`);
        break;
      case 'propertyNames':
        out.add(`${at}/${(e.params as { propertyName: string }).propertyName}: names must be lower-case letters, digits and '-', starting with a letter`);
        break;
      case 'pattern':
        if (e.propertyName === undefined) out.add(`${at}: must be lower-case letters, digits and '-', starting with a letter`);
        break;
      default:
        out.add(`${at}: ${e.message ?? 'is invalid'}`);
    }
  }
  return [...out];
}

/** Which device kinds each bus type can carry. */
const CARRIES: Record<BusProfile['type'], DeviceProfile['kind'][]> = {
  'modbus-tcp': ['pv-inverter', 'meter', 'battery-storage', 'relay'],
  'modbus-rtu': ['pv-inverter', 'meter', 'battery-storage', 'relay'],
  serial: ['bms'],
  firmata: ['relay'],
  gpio: ['relay'],
};

function crossCheck(profile: BoardProfile, problems: string[]): void {
  const taken = new Map<string, string>();
  const claim = (key: string, path: string, what: string) => {
    const owner = taken.get(key);
    if (owner) problems.push(`${path}: ${what} is already used by ${owner}`);
    else taken.set(key, path.split('/').slice(0, 3).join('/'));
  };
  for (const [id, device] of Object.entries(profile.devices)) {
    const at = `/devices/${id}`;
    const bus = profile.buses[device.bus];
    if (!bus) {
      problems.push(`${at}/bus: must name a bus of this board (${Object.keys(profile.buses).join(', ')}), got "${device.bus}"`);
      continue;
    }
    if (!CARRIES[bus.type].includes(device.kind)) {
      problems.push(`${at}/bus: a ${device.kind} cannot sit on ${bus.type} bus "${device.bus}" (expected a ${bus.type === 'serial' ? 'bms' : 'bus of type ' + Object.entries(CARRIES).filter(([, kinds]) => kinds.includes(device.kind)).map(([t]) => t).join(' or ')})`);
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
