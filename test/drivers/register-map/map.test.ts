/**
 * Register maps are installer-written YAML: every mistake is an error naming the map file and
 * the field, before any device is touched; a board profile naming a bad map says both files.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRegisterMap, mapRoles, registerMapFile, RegisterMapError } from '../../../drivers/register-map/map.ts';
import { loadBoardProfile } from '../../../src/config/board.ts';

const dir = mkdtempSync(join(tmpdir(), 'register-map-'));
const write = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};

const meterMap = `name: my-meter
defaults: { table: input, type: f32 }
points:
  power:  { address: 52, unit: W }
  import: { address: 72, unit: kWh }
meter:
  netImportKw: { point: power }
  importedEnergyKwh: { point: import }
`;

function problems(file: string): string[] {
  try {
    loadRegisterMap(file);
  } catch (e) {
    expect(e).toBeInstanceOf(RegisterMapError);
    return (e as Error).message.split('\n');
  }
  throw new Error(`${file} loaded without error`);
}

describe('the shipped maps', () => {
  it('load, and say what their device is to the core', () => {
    expect(mapRoles(loadRegisterMap(registerMapFile('eastron-sdm630', 'boards/any.yaml')))).toEqual(['meter']);
    expect(mapRoles(loadRegisterMap(registerMapFile('sungrow-sh-rt', 'boards/any.yaml')))).toEqual(['pv-inverter', 'battery-storage']);
  });
});

describe("the installer's guide (docs/register-maps.md)", () => {
  it('its SDM630 map, written from the manual, loads and is the shipped one point for point', () => {
    const guide = readFileSync(new URL('../../../docs/register-maps.md', import.meta.url), 'utf8');
    const yaml = /\*\*2\. Write the map\*\*[\s\S]*?```yaml\n([\s\S]*?)```/.exec(guide)?.[1];
    expect(yaml).toBeDefined();
    const mine = loadRegisterMap(write('my-sdm630.yaml', yaml!));
    const shipped = loadRegisterMap(registerMapFile('eastron-sdm630', 'boards/any.yaml'));
    const layout = (m: typeof mine) => Object.values(m.points).map(({ name: _, ...p }) => p);
    expect(layout(mine)).toEqual(layout(shipped));
    expect(mine.meter).toEqual(shipped.meter);
  });
});

describe('a map with a mistake', () => {
  it.each([
    ['unknown-type', meterMap.replace('type: f32', 'type: float'), '/defaults/type: must be one of u16, s16, u32, s32, f32'],
    ['missing-point', meterMap.replace('{ point: power }', '{ point: pwr }'), '/meter/netImportKw/point: names no point of this map (power, import)'],
    ['wrong-unit', meterMap.replace('{ point: power }', '{ point: import }'), '/meter/netImportKw/point: point import is in kWh, this field needs W or kW'],
    ['overlap', meterMap.replace('address: 72', 'address: 53'), '/points/import/address: input register 53 is already part of point power'],
    ['input-written', meterMap.replace('unit: W }', 'unit: W, access: read-write }'), '/points/power/access: input registers are read-only'],
    ['unknown-field', meterMap.replace('unit: W }', 'unit: W, signed: true }'), '/points/power/signed: unknown field'],
    ['no-role', meterMap.split('meter:')[0]!, '/: says nothing of what the device is: give a meter, pv-inverter, battery-storage section'],
    ['no-table', meterMap.replace('table: input, ', ''), '/points/power/table: is required (holding or input), or give defaults.table'],
    ['bad-name', meterMap.replace('  power:', '  Power:'), '/points/Power: names must be lower-case letters'],
  ])('%s: names the file and the field', (name, text, expected) => {
    const file = write(`${name}.yaml`, text);
    expect(problems(file).some((line) => line.startsWith(`${file}: ${expected}`))).toBe(true);
  });

  it('a battery setpoint on a read-only point, or a timeout in watts', () => {
    const file = write('battery.yaml', `name: my-battery
points:
  soc:     { table: holding, address: 0, type: u16, unit: "%" }
  power:   { table: holding, address: 1, type: s16, unit: W }
  mode:    { table: holding, address: 2, type: u16, unit: code, access: read-write }
  timeout: { table: holding, address: 3, type: u16, unit: W, access: read-write }
battery-storage:
  socFraction: { point: soc }
  powerKw: { point: power }
  setpoint:
    power: { point: power }
    enable: [{ point: mode, value: 1 }]
    revert: [{ point: mode, value: 0 }]
    timeout: { point: timeout }
`);
    expect(problems(file)).toEqual([
      `${file}: /battery-storage/setpoint/timeout/point: point timeout is in W, this field needs s or min`,
      `${file}: /battery-storage/setpoint/power/point: point power is written, so it needs access: read-write`,
    ]);
  });

  it('a YAML syntax error, with its line', () => {
    const file = write('syntax.yaml', 'name: x\npoints:\n  power: { address: 52\n');
    expect(problems(file)[0]).toMatch(new RegExp(`^${file}: line \\d+, column \\d+: YAML syntax error`));
  });
});

describe('a board profile with register-map devices', () => {
  const board = (devices: string) =>
    write(
      `board-${Math.random().toString(36).slice(2)}.yaml`,
      `name: b\nbuses:\n  lan: { type: modbus-tcp, host: 127.0.0.1, port: 502 }\ndevices:\n${devices}`,
    );

  it('loads the map with the profile', () => {
    const file = board('  meter: { kind: register-map, map: eastron-sdm630, bus: lan, unitId: 2 }\n');
    const device = loadBoardProfile(file).devices['meter'];
    expect(device?.kind === 'register-map' && device.registerMap.name).toBe('eastron-sdm630');
  });

  it('a map file with a mistake: the board field and the map file and field', () => {
    const map = write('bad-meter.yaml', meterMap.replace('address: 52', 'address: -1'));
    const file = board('  meter: { kind: register-map, map: ./bad-meter.yaml, bus: lan, unitId: 2 }\n');
    expect(() => loadBoardProfile(file)).toThrow(`${file}: /devices/meter/map: ${map}: /points/power/address: must be >= 0`);
  });

  it('a map that does not exist', () => {
    const file = board('  meter: { kind: register-map, map: eastron-sdm999, bus: lan, unitId: 2 }\n');
    expect(() => loadBoardProfile(file)).toThrow(/\/devices\/meter\/map: .*eastron-sdm999\.yaml: cannot read the register map/);
  });

  it('the ratings the map needs', () => {
    const file = board('  inverter: { kind: register-map, map: sungrow-sh-rt, bus: lan, unitId: 1, ratedPowerKw: 10 }\n');
    expect(() => loadBoardProfile(file)).toThrow(`${file}: /devices/inverter/capacityKwh: is required (map sungrow-sh-rt has a battery-storage)`);
  });

  it('a second meter, whichever kind each is', () => {
    const file = board('  meter: { kind: meter, bus: lan, unitId: 2 }\n  sdm630: { kind: register-map, map: eastron-sdm630, bus: lan, unitId: 3 }\n');
    expect(() => loadBoardProfile(file)).toThrow(`${file}: /devices/sdm630/kind: one meter per board (the grid connection point), /devices/meter is one already`);
  });

  it('two devices on one unit id', () => {
    const file = board('  meter: { kind: register-map, map: eastron-sdm630, bus: lan, unitId: 2 }\n  inverter: { kind: register-map, map: sungrow-sh-rt, bus: lan, unitId: 2, ratedPowerKw: 10, capacityKwh: 9.6 }\n');
    expect(() => loadBoardProfile(file)).toThrow(`${file}: /devices/inverter/unitId: unit id 2 on bus "lan" is already used by /devices/meter`);
  });
});
