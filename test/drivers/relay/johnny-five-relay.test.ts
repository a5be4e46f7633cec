import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openFirmataBoard, openIoPluginBoard, type IoBoard } from '../../../drivers/relay/io-board.ts';
import { createJohnnyFiveRelay } from '../../../drivers/relay/johnny-five-relay.ts';
import { isDeviceError } from '../../../src/devices/errors.ts';
import { ManualClock } from '../../../src/time/clock.ts';
import { startFirmataRelayBoard, type FirmataRelayBoard } from '../../../sim/relay/firmata-board.ts';
import { openPtyPair, type PtyPair } from '../../../sim/serial/pty.ts';
import { plugPtys } from '../bms/plugged-ptys.ts';
import { TestPlant } from '../../fixtures/test-plant.ts';

describe('johnny-five relays on a Firmata board (the simulator\'s virtual board over a real pty)', () => {
  let pty: PtyPair;
  let plant: TestPlant;
  let sim: FirmataRelayBoard;
  let board: IoBoard;
  let clock: ManualClock;

  beforeEach(async () => {
    pty = await openPtyPair('firmata');
    plant = new TestPlant();
    sim = await startFirmataRelayBoard({ path: pty.simPath, plant, relayPins: new Map([[8, 0], [9, 1]]) });
    board = await openFirmataBoard({ path: pty.devicePath, timeoutMs: 10_000 });
    clock = new ManualClock(0);
  });
  afterEach(async () => {
    await board.close();
    await sim.close();
    await pty.close();
  });

  it('switches a load on and off through the handshake, pin modes and digital writes; the plant sees it and the state reads back', async () => {
    const dishwasher = createJohnnyFiveRelay({ id: 'dishwasher', board, pin: 8, ratedPowerKw: 2, clock });
    const washer = createJohnnyFiveRelay({ id: 'washer', board, pin: 9, ratedPowerKw: 2.2, clock });
    expect(dishwasher.ratedPowerKw).toBe(2);

    await dishwasher.switch(true);
    expect(plant.relayOn(0)).toBe(true);
    expect(plant.relayOn(1)).toBe(false);
    expect(await dishwasher.read()).toMatchObject({ ok: true, value: { on: true } });
    expect(await washer.read()).toMatchObject({ ok: true, value: { on: false } });

    await washer.switch(true);
    await dishwasher.switch(false);
    expect([plant.relayOn(0), plant.relayOn(1)]).toEqual([false, true]);
    expect(await dishwasher.read()).toMatchObject({ ok: true, value: { on: false } });
    expect(dishwasher.health()).toMatchObject({ consecutiveFailures: 0, errorCounts: {} });
  });

  it('an active-low relay drives the pin low to switch its load on', async () => {
    const relay = createJohnnyFiveRelay({ id: 'pump', board, pin: 9, activeLow: true, ratedPowerKw: 1, clock });
    await relay.switch(true);
    expect(sim.pinLevel(9)).toBe(0);
    expect(await relay.read()).toMatchObject({ ok: true, value: { on: true } });
    await relay.switch(false);
    expect(sim.pinLevel(9)).toBe(1);
  });

  it('a board that stops answering makes switch fail with a timeout and read report unavailable; it recovers after back-off', async () => {
    const relay = createJohnnyFiveRelay({ id: 'dishwasher', board, pin: 8, ratedPowerKw: 2, timeoutMs: 600, clock });
    sim.setSilent(true);
    const failure = await relay.switch(true).catch((e: unknown) => e);
    expect(isDeviceError(failure) && failure.kind).toBe('timeout');
    expect(plant.relayOn(0)).toBe(false);
    expect(relay.health()).toMatchObject({ consecutiveFailures: 1, errorCounts: { timeout: 1 } });
    const during = await relay.read();
    expect(during.ok ? 'ok' : during.error.kind).toBe('backoff');

    sim.setSilent(false);
    clock.advance(1_000);
    await relay.switch(true);
    expect(plant.relayOn(0)).toBe(true);
    expect(relay.health().consecutiveFailures).toBe(0);
  });

});

describe('johnny-five relays when the Firmata board\'s serial link goes away', () => {
  it('reports disconnected while the link is gone and reopens the board when it is back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'prosumer-edge-firmata-unplug-'));
    const plant = new TestPlant();
    const clock = new ManualClock(0);
    const relayPins = new Map([[8, 0]]);
    let line = await plugPtys(dir);
    let sim = await startFirmataRelayBoard({ path: line.simPath, plant, relayPins });
    const board = await openFirmataBoard({ path: line.devicePath, timeoutMs: 10_000 });
    const relay = createJohnnyFiveRelay({ id: 'dishwasher', board, pin: 8, ratedPowerKw: 2, clock });
    try {
      await relay.switch(true);
      expect(plant.relayOn(0)).toBe(true);

      await sim.close();
      await line.unplug();
      // Until the board has noticed its link is gone, asking for it still hands out the dead one.
      await vi.waitFor(() => expect(board.connection()).rejects.toMatchObject({ kind: 'disconnected' }), { timeout: 10_000 });
      const gone = await relay.read();
      expect(gone.ok ? 'ok' : gone.error.kind).toBe('disconnected');
      expect(gone.ok ? '' : gone.error.device).toBe('dishwasher');

      line = await plugPtys(dir);
      sim = await startFirmataRelayBoard({ path: line.simPath, plant, relayPins }); // a fresh board: relays off after its reset
      plant.setRelay(0, false);
      clock.advance(relay.health().backoffUntilMs! - clock.nowMs());
      await relay.switch(true);
      expect(plant.relayOn(0)).toBe(true);
      expect(await relay.read()).toMatchObject({ ok: true, value: { on: true } });
    } finally {
      await board.close();
      await sim.close();
      await line.unplug();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('GPIO relays through an IO plugin loaded by name', () => {
  it('a plugin that is not installed gives an error saying which and how to install it', async () => {
    const failure = await openIoPluginBoard({ ioPlugin: 'raspi-io' }).catch((e: unknown) => e);
    expect(isDeviceError(failure) && failure.kind).toBe('disconnected');
    expect(String(failure)).toMatch(/IO plugin "raspi-io" is not installed.*npm install raspi-io/);
  });
});
