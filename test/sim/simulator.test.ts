import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScaledClock } from '../../src/time/clock.ts';
import { loadBoardProfile } from '../../src/config/board.ts';
import { createModbusTcpBus } from '../../drivers/modbus/tcp.ts';
import { createModbusRtuBus } from '../../drivers/modbus/rtu.ts';
import { discoverSunSpec } from '../../drivers/sunspec/discovery.ts';
import { simBoardFile, startSimulator, type Simulator } from '../../sim/simulator.ts';

describe('the simulator assembled from boards/sim.yaml', () => {
  let sim: Simulator;
  const clock = new ScaledClock(Date.parse('2016-06-22T12:00:00Z'), 60);

  beforeAll(async () => {
    sim = await startSimulator({ clock });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('fills every placeholder of the profile with a live endpoint', () => {
    expect(Object.keys(sim.vars).sort()).toEqual(['bmsPty', 'firmataPty', 'modbusTcpPort', 'rs485Pty']);
    expect(Number(sim.vars.modbusTcpPort)).toBeGreaterThan(0);
    for (const name of ['bmsPty', 'firmataPty', 'rs485Pty']) expect(existsSync(sim.vars[name]!)).toBe(true);
    expect(() => loadBoardProfile(simBoardFile, sim.vars)).not.toThrow();
  });

  it('serves each SunSpec device of the profile on its unit of the Modbus TCP server', async () => {
    const bus = createModbusTcpBus({ host: '127.0.0.1', port: Number(sim.vars.modbusTcpPort), clock });
    try {
      const models = async (unitId: number) => (await discoverSunSpec(bus, unitId, `unit ${unitId}`)).models.map((m) => m.id);
      expect(await models(1)).toEqual(expect.arrayContaining([1, 103, 123]));
      expect(await models(2)).toEqual(expect.arrayContaining([1, 203]));
      expect(await models(3)).toEqual(expect.arrayContaining([1, 124, 802]));
    } finally {
      await bus.close();
    }
  });

  it('wires the Modbus RTU relay board coils to the plant loads named in the profile', async () => {
    const bus = createModbusRtuBus({ path: sim.vars.rs485Pty!, baudRate: 9600, clock });
    try {
      const before = sim.plant.totals().relayLoadKwh;
      expect(await bus.readCoils(10, 0, 2)).toEqual([false, false]);
      await bus.writeCoil(10, 1, true); // ev-charger: load channel 3, 3.7 kW
      expect(sim.plant.relayOn(3)).toBe(true);
      expect(sim.plant.relayLoadKw(3)).toBe(3.7);
      expect(await bus.readCoils(10, 0, 2)).toEqual([false, true]);
      await bus.writeCoil(10, 1, false);
      expect(sim.plant.relayOn(3)).toBe(false);
      expect(sim.plant.totals().relayLoadKwh).toBeGreaterThan(before);
    } finally {
      await bus.close();
    }
  });

  it('closes every endpoint: the pseudo-terminals disappear and the port refuses connections', async () => {
    const other = await startSimulator({ clock });
    const paths = [other.vars.bmsPty!, other.vars.firmataPty!, other.vars.rs485Pty!];
    await other.close();
    for (const p of paths) expect(existsSync(p)).toBe(false);
    const bus = createModbusTcpBus({ host: '127.0.0.1', port: Number(other.vars.modbusTcpPort), clock, timeoutMs: 500 });
    await expect(bus.readHoldingRegisters(1, 40000, 2)).rejects.toMatchObject({ kind: 'disconnected' });
    await bus.close();
  });

  it('refuses a profile with a bus it cannot simulate, naming the bus', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-board-'));
    const file = join(dir, 'board.yaml');
    writeFileSync(file, readFileSync(simBoardFile, 'utf8').replace('path: ${bmsPty}', 'path: /dev/ttyUSB7'));
    await expect(startSimulator({ clock, boardFile: file })).rejects.toThrow(/bus "bms-line" has a fixed endpoint/);
  });
});
