import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BoardProfileError, loadBoardProfile } from '../../src/config/board.ts';

const simVars = { modbusTcpPort: '15020', rs485Pty: '/tmp/x/rs485', bmsPty: '/tmp/x/bms', firmataPty: '/tmp/x/firmata' };

describe('shipped board profiles', () => {
  it('the Raspberry Pi 4 profile loads: RS-485 Modbus units, the BMS on its own line, relays on BCM 26/20/21', () => {
    const pi = loadBoardProfile('boards/raspberry-pi-4.yaml');
    expect(pi.buses['rs485']).toEqual({ type: 'modbus-rtu', path: '/dev/ttyAMA0', baudRate: 9600, parity: 'none', timeoutMs: 1000 });
    expect(pi.buses['gpio']).toEqual({ type: 'gpio', ioPlugin: 'raspi-io' });
    expect(Object.values(pi.devices).filter((d) => d.kind !== 'relay' && d.kind !== 'bms').map((d) => 'unitId' in d && d.unitId)).toEqual([1, 2, 3]);
    expect(Object.values(pi.devices).flatMap((d) => (d.kind === 'relay' && 'pin' in d ? [d.pin] : []))).toEqual(['GPIO26', 'GPIO20', 'GPIO21']);
    expect(pi.devices['bms']).toEqual({ kind: 'bms', bus: 'bms-line', address: 2 });
    expect(pi.devices['pv-inverter']).toMatchObject({ ratedPowerKw: 8 });
    expect(pi.devices['battery']).toMatchObject({ capacityKwh: 9.6 });
  });

  it('the simulator profile loads with its run-time endpoints filled in, ports as numbers', () => {
    const sim = loadBoardProfile('boards/sim.yaml', simVars);
    expect(sim.buses['lan']).toMatchObject({ type: 'modbus-tcp', host: '127.0.0.1', port: 15020 });
    expect(sim.buses['bms-line']).toMatchObject({ path: '/tmp/x/bms' });
    const relays = Object.values(sim.devices).filter((d) => d.kind === 'relay');
    expect(relays.map((r) => [r.channel, r.ratedPowerKw])).toEqual([[0, 2], [1, 2.2], [2, 3], [3, 3.7]]);
  });
});

describe('broken board profiles', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prosumer-edge-boards-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const base = `name: test-board
buses:
  rs485: {type: modbus-rtu, path: /dev/ttyS0, baudRate: 9600}
  gpio: {type: gpio, ioPlugin: raspi-io}
  bms-line: {type: serial, protocol: pylontech, path: /dev/ttyUSB0, baudRate: 9600}
devices:
  meter: {kind: meter, bus: rs485, unitId: 2}
  bms: {kind: bms, bus: bms-line, address: 2}
  boiler: {kind: relay, bus: gpio, pin: 26, channel: 0, ratedPowerKw: 2}
`;
  const load = (name: string, text: string, vars?: Record<string, string>) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, text);
    try {
      loadBoardProfile(file, vars);
    } catch (e) {
      expect(e).toBeInstanceOf(BoardProfileError);
      return { file, message: (e as Error).message };
    }
    throw new Error(`${name} loaded without an error`);
  };

  it('accepts the base profile the broken ones are made from', () => {
    const file = join(dir, 'base.yaml');
    writeFileSync(file, base);
    expect(loadBoardProfile(file).devices['boiler']).toMatchObject({ pin: 26 });
  });

  it('accepts a storage inverter whose vendor scales OutWRte by WChaMax', () => {
    const file = join(dir, 'rate-base.yaml');
    writeFileSync(file, base + '  battery: {kind: battery-storage, bus: rs485, unitId: 3, capacityKwh: 5, dischargeRateBase: WChaMax}\n');
    expect(loadBoardProfile(file).devices['battery']).toMatchObject({ dischargeRateBase: 'WChaMax' });
  });

  it('accepts the latency of the RS-485 line\'s USB adapter', () => {
    const file = join(dir, 'usb-adapter.yaml');
    writeFileSync(file, base.replace('baudRate: 9600}', 'baudRate: 9600, adapterLatencyMs: 16}'));
    expect(loadBoardProfile(file).buses['rs485']).toMatchObject({ type: 'modbus-rtu', adapterLatencyMs: 16 });
  });

  it('accepts several PV inverters (an east and a west roof)', () => {
    const file = join(dir, 'east-west.yaml');
    writeFileSync(file, base + '  pv-east: {kind: pv-inverter, bus: rs485, unitId: 5, ratedPowerKw: 4}\n  pv-west: {kind: pv-inverter, bus: rs485, unitId: 6, ratedPowerKw: 6}\n');
    expect(Object.values(loadBoardProfile(file).devices).filter((d) => d.kind === 'pv-inverter')).toHaveLength(2);
  });

  it('accepts several storage inverters without a BMS (one pool; each inverter reports its own pack)', () => {
    const file = join(dir, 'two-batteries.yaml');
    const withoutBms = base.split('\n').filter((line) => !line.startsWith('  bms:')).join('\n');
    writeFileSync(file, withoutBms + '  battery: {kind: battery-storage, bus: rs485, unitId: 3, capacityKwh: 5}\n  battery-2: {kind: battery-storage, bus: rs485, unitId: 4, capacityKwh: 7.5}\n');
    expect(Object.values(loadBoardProfile(file).devices).filter((d) => d.kind === 'battery-storage')).toHaveLength(2);
  });

  it('accepts a meter that counts export as positive and its plausibility limit', () => {
    const file = join(dir, 'reversed-meter.yaml');
    writeFileSync(file, base.replace('unitId: 2}', 'unitId: 2, exportPositive: true, maxPlausibleKw: 43.5}'));
    expect(loadBoardProfile(file).devices['meter']).toEqual({ kind: 'meter', bus: 'rs485', unitId: 2, exportPositive: true, maxPlausibleKw: 43.5 });
  });

  it.each([
    ['bad-baud', base.replace('baudRate: 9600}', 'baudRate: 9601}'), '/buses/rs485/baudRate: must be one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200'],
    ['unknown-bus-type', base.replace('type: gpio', 'type: can'), '/buses/gpio/type: must be one of modbus-tcp, modbus-rtu, serial, firmata, gpio'],
    ['negative-adapter-latency', base.replace('baudRate: 9600}', 'baudRate: 9600, adapterLatencyMs: -1}'), '/buses/rs485/adapterLatencyMs: must be >= 0'],
    ['missing-path', base.replace('path: /dev/ttyS0, ', ''), '/buses/rs485/path: is required'],
    ['unit-id-range', base.replace('unitId: 2', 'unitId: 300'), '/devices/meter/unitId: must be <= 247'],
    ['unknown-kind', base.replace('kind: meter', 'kind: toaster'), '/devices/meter/kind: must be one of pv-inverter, meter, battery-storage, bms, relay'],
    ['unknown-field', base.replace('unitId: 2}', 'unitId: 2, baud: 9600}'), '/devices/meter/baud: unknown field'],
    ['export-positive-not-boolean', base.replace('unitId: 2}', 'unitId: 2, exportPositive: yes-please}'), '/devices/meter/exportPositive: must be boolean'],
    ['max-plausible-zero', base.replace('unitId: 2}', 'unitId: 2, maxPlausibleKw: 0}'), '/devices/meter/maxPlausibleKw: must be > 0'],
    ['pv-without-rating', base + '  pv-inverter: {kind: pv-inverter, bus: rs485, unitId: 1}\n', '/devices/pv-inverter/ratedPowerKw: is required'],
    ['battery-capacity-zero', base + '  battery: {kind: battery-storage, bus: rs485, unitId: 3, capacityKwh: 0}\n', '/devices/battery/capacityKwh: must be > 0'],
    ['relay-without-power', base.replace(', ratedPowerKw: 2', ''), '/devices/boiler/ratedPowerKw: is required'],
    ['negative-power', base.replace('ratedPowerKw: 2', 'ratedPowerKw: -1'), '/devices/boiler/ratedPowerKw: must be > 0'],
    ['missing-bus', base.replace('bus: rs485, unitId', 'bus: rs232, unitId'), '/devices/meter/bus: must name a bus of this board (rs485, gpio, bms-line), got "rs232"'],
    ['meter-on-gpio', base.replace('bus: rs485, unitId', 'bus: gpio, unitId'), '/devices/meter/bus: a meter cannot sit on gpio bus "gpio"'],
    ['gpio-relay-without-pin', base.replace('pin: 26, ', ''), '/devices/boiler/pin: is required for a relay on gpio bus "gpio"'],
    ['modbus-relay-without-coil', base.replace('bus: gpio, pin: 26', 'bus: rs485, unitId: 9'), '/devices/boiler/coil: is required for a relay on modbus-rtu bus "rs485"'],
    ['same-unit-twice', base + '  pv-inverter: {kind: pv-inverter, bus: rs485, unitId: 2, ratedPowerKw: 5}\n', '/devices/pv-inverter/unitId: unit id 2 on bus "rs485" is already used by /devices/meter'],
    ['same-channel-twice', base + '  pump: {kind: relay, bus: gpio, pin: 20, channel: 0, ratedPowerKw: 1}\n', '/devices/pump/channel: load channel 0 is already used by /devices/boiler'],
    ['bad-device-name', base.replace('  meter:', '  Meter:'), "/devices/Meter: names must be lower-case letters, digits and '-'"],
    ['no-devices', base.slice(0, base.indexOf('devices:')) + 'devices: {}\n', '/devices: must NOT have fewer than 1 properties'],
    ['yaml-syntax', base.replace('  meter: {kind: meter, bus: rs485, unitId: 2}', '  meter: {kind: meter, bus: rs485, unitId: 2'), 'line 8, column'],
    ['unknown-rate-base', base + '  battery: {kind: battery-storage, bus: rs485, unitId: 3, capacityKwh: 5, dischargeRateBase: WMax}\n', '/devices/battery/dischargeRateBase: must be one of WDisChaMax, WChaMax'],
    ['two-meters', base + '  meter-2: {kind: meter, bus: rs485, unitId: 4}\n', '/devices/meter-2/kind: one meter per board (the grid connection point), /devices/meter is one already'],
    ['two-batteries-and-a-bms', base + '  battery: {kind: battery-storage, bus: rs485, unitId: 3, capacityKwh: 5}\n  battery-2: {kind: battery-storage, bus: rs485, unitId: 4, capacityKwh: 5}\n', '/devices/bms/kind: a BMS pairs with the one storage inverter; with several (battery, battery-2) it is not known whose pack it reads: leave the BMS out (each inverter then reports its own pack)'],
    ['two-bmses', base + '  bms-2: {kind: bms, bus: bms-line, address: 3}\n', '/devices/bms-2/kind: one bms per board (it pairs with the one storage inverter), /devices/bms is one already'],
    ['device-without-kind', base.replace('kind: meter, ', ''), '/devices/meter/kind: is required'],
    ['unfilled-placeholder', base.replace('/dev/ttyS0', '"${rs485Pty}"'), '/buses/rs485/path: placeholder ${rs485Pty} has no value'],
  ])('%s: names the file, the field and what was expected', (name, text, expected) => {
    const { file, message } = load(name, text);
    expect(message).toContain(`${file}: ${expected}`);
    // One mistake, one line: no echoes from schema branches that do not apply.
    expect(message.split('\n')).toHaveLength(1);
  });

  it('a missing file is an error naming it', () => {
    expect(() => loadBoardProfile(join(dir, 'nope.yaml'))).toThrow(/nope\.yaml: cannot read the profile/);
  });
});
