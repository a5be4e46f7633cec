import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ModbusBus } from '../../../drivers/modbus/bus.ts';
import { createModbusRtuBus } from '../../../drivers/modbus/rtu.ts';
import { createModbusRelay } from '../../../drivers/relay/modbus-relay.ts';
import { isDeviceError } from '../../../src/devices/errors.ts';
import { ManualClock } from '../../../src/time/clock.ts';
import { ModbusFaults } from '../../../sim/modbus/faults.ts';
import { startModbusRtuSlave } from '../../../sim/modbus/rtu-slave.ts';
import { createRelayBoardSpace } from '../../../sim/relay/modbus-relay-board.ts';
import { openPtyPair, type PtyPair } from '../../../sim/serial/pty.ts';
import { TestPlant } from '../../fixtures/test-plant.ts';

const UNIT = 10;

describe('Modbus RTU relay board (simulated board over a real pty, FC 1 / FC 5)', () => {
  let pty: PtyPair;
  let plant: TestPlant;
  let faults: ModbusFaults;
  let slave: { close(): Promise<void> };
  let bus: ModbusBus;
  let clock: ManualClock;

  beforeEach(async () => {
    pty = await openPtyPair('relay-rtu');
    plant = new TestPlant();
    faults = new ModbusFaults();
    // Board coils 0 and 1 switch plant loads 2 and 3.
    slave = await startModbusRtuSlave({ path: pty.simPath, baudRate: 9600, units: new Map([[UNIT, createRelayBoardSpace(plant, [2, 3])]]), faults });
    clock = new ManualClock(0);
    bus = createModbusRtuBus({ path: pty.devicePath, baudRate: 9600, timeoutMs: 1_000, clock });
  });
  afterEach(async () => {
    await bus.close();
    await slave.close();
    await pty.close();
  });

  it('switches a channel, reads it back, and the plant sees the load', async () => {
    const boiler = createModbusRelay({ id: 'boiler', bus, unitId: UNIT, coil: 1, ratedPowerKw: 3, clock });
    const ev = createModbusRelay({ id: 'ev', bus, unitId: UNIT, coil: 0, ratedPowerKw: 3.7, clock });
    await boiler.switch(true);
    expect([plant.relayOn(2), plant.relayOn(3)]).toEqual([false, true]);
    expect(await boiler.read()).toMatchObject({ ok: true, value: { on: true } });
    expect(await ev.read()).toMatchObject({ ok: true, value: { on: false } });

    // Switched by someone else (the board's own buttons): the driver reads what the board says.
    plant.setRelay(2, true);
    expect(await ev.read()).toMatchObject({ ok: true, value: { on: true } });
    await boiler.switch(false);
    expect(plant.relayOn(3)).toBe(false);
  });

  it('a channel the board does not have is a Modbus exception naming the relay', async () => {
    const ghost = createModbusRelay({ id: 'ghost', bus, unitId: UNIT, coil: 7, ratedPowerKw: 1, clock });
    const r = await ghost.read();
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.kind).toBe('exception');
      expect(r.error.device).toBe('ghost');
    }
  });

  it('a board that stops answering: switch rejects with a timeout, read reports unavailable, nothing crashes; it recovers', async () => {
    const boiler = createModbusRelay({ id: 'boiler', bus, unitId: UNIT, coil: 1, ratedPowerKw: 3, clock });
    faults.set(UNIT, { silent: true });
    const failure = await boiler.switch(true).catch((e: unknown) => e);
    expect(isDeviceError(failure) && failure.kind).toBe('timeout');
    expect(plant.relayOn(3)).toBe(false);
    const during = await boiler.read();
    expect(during.ok).toBe(false);
    expect(boiler.health().consecutiveFailures).toBeGreaterThan(0);

    faults.clear(UNIT);
    clock.advance(120_000); // past any back-off window
    await boiler.switch(true);
    expect(plant.relayOn(3)).toBe(true);
    expect(boiler.health().consecutiveFailures).toBe(0);
  });
});
