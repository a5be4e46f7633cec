import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPylontechBms } from '../../../drivers/bms/pylontech.ts';
import type { Bms } from '../../../src/devices/bms.ts';
import type { Reading } from '../../../src/devices/capabilities.ts';
import { ManualClock } from '../../../src/time/clock.ts';
import { startPylontechBmsSim, type PylontechBmsSim } from '../../../sim/bms/pylontech-bms.ts';
import { openPtyPair, type PtyPair } from '../../../sim/serial/pty.ts';
import { plugPtys } from './plugged-ptys.ts';
import { sixteenCellPack, TestPlant } from '../../fixtures/test-plant.ts';

const errorKind = <T>(r: Reading<T>) => (r.ok ? 'ok' : r.error.kind);

describe('Pylontech BMS driver against the simulated BMS over a real pseudo-terminal', () => {
  let pty: PtyPair;
  let plant: TestPlant;
  let sim: PylontechBmsSim;
  let bms: Bms;
  let clock: ManualClock;

  beforeEach(async () => {
    pty = await openPtyPair('bms');
    plant = new TestPlant(sixteenCellPack);
    sim = await startPylontechBmsSim({ path: pty.simPath, plant });
    clock = new ManualClock(1_700_000_000_000);
    bms = createPylontechBms({ id: 'bms', path: pty.devicePath, timeoutMs: 800, clock, backoff: { initialMs: 1_000, maxMs: 8_000, factor: 2 } });
  });
  afterEach(async () => {
    await bms.close();
    await sim.close();
    await pty.close();
  });

  it('reads SoC, pack voltage and current, cells, temperatures and live limits as the plant has them', async () => {
    plant.socFraction = 0.62;
    plant.batteryKw = 2; // discharging 2 kW at 16 × 3.3 V = 52.8 V → 37.9 A out of the pack
    plant.maxChargeKw = 3.5;
    plant.maxDischargeKw = 4.2;
    plant.temperaturesC = [31.5, -4.2];
    const r = await bms.read();
    if (!r.ok) throw r.error;
    expect(r.atMs).toBe(clock.nowMs());
    expect(r.value.socFraction).toBeCloseTo(0.62, 3);
    expect(r.value.packVoltageV).toBeCloseTo(52.8, 3);
    expect(r.value.packCurrentA).toBeCloseTo(37.9, 1);
    expect(r.value.cellVoltagesV).toEqual(Array.from({ length: 16 }, () => 3.3));
    expect(r.value.temperaturesC).toEqual([31.5, -4.2]);
    expect(r.value.protections).toEqual([]);
    // Limits travel as 0.1 A steps, so kW = A × V is within 0.1 A × 52.8 V of the plant's.
    expect(Math.abs(r.value.maxChargeKw - 3.5)).toBeLessThan(0.006);
    expect(Math.abs(r.value.maxDischargeKw - 4.2)).toBeLessThan(0.006);
    // 10 kWh over 16 × 3.2 V = 195.3 Ah: past 65 Ah, so the 24-bit capacity fields are used.
    expect(r.value.fullCapacityAh).toBeCloseTo(195.312, 2);
  });

  it('reports a charging pack with negative current and zero charge limit when the BMS forbids charging', async () => {
    plant.batteryKw = -1.056; // charging 1.056 kW at 52.8 V = 20 A into the pack
    plant.maxChargeKw = 0;
    const r = await bms.read();
    if (!r.ok) throw r.error;
    expect(r.value.packCurrentA).toBeCloseTo(-20, 5);
    expect(r.value.maxChargeKw).toBe(0);
    expect(r.value.maxDischargeKw).toBeGreaterThan(4.9);
  });

  it('passes protection flags through by name', async () => {
    sim.setProtections(['cellOverVoltage', 'chargeOverTemperature']);
    const r = await bms.read();
    if (!r.ok) throw r.error;
    expect(r.value.protections).toEqual(['cellOverVoltage', 'chargeOverTemperature']);
  });

  it.each([
    ['silent', 'timeout'],
    ['bad-checksum', 'crc'],
    ['garbage', 'garbage'],
    ['truncated', 'garbage'],
  ] as const)('a BMS that goes %s reads as unavailable (%s), backs off, and recovers when it answers again', async (fault, kind) => {
    sim.setFault(fault);
    const failed = await bms.read();
    expect(errorKind(failed)).toBe(kind);
    // One retry, then back-off: the next read does not touch the line.
    expect(bms.health()).toMatchObject({ consecutiveFailures: 1, errorCounts: { [kind]: 1 }, backoffUntilMs: clock.nowMs() + 1_000 });
    const answeredBefore = sim.requestsAnswered;
    expect(errorKind(await bms.read())).toBe('backoff');
    expect(sim.requestsAnswered).toBe(answeredBefore);

    sim.setFault('none');
    clock.advance(1_000);
    const recovered = await bms.read();
    expect(errorKind(recovered)).toBe('ok');
    expect(bms.health().consecutiveFailures).toBe(0);
    expect(bms.health().backoffUntilMs).toBeUndefined();
  });

  it('backs off exponentially, capped, while the BMS stays silent', async () => {
    sim.setFault('silent');
    const quick = createPylontechBms({ id: 'bms', path: pty.devicePath, timeoutMs: 150, clock, backoff: { initialMs: 1_000, maxMs: 8_000, factor: 2 } });
    const windows: number[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        expect(errorKind(await quick.read())).toBe('timeout');
        const until = quick.health().backoffUntilMs!;
        windows.push(until - clock.nowMs());
        clock.advance(until - clock.nowMs());
      }
    } finally {
      await quick.close();
    }
    expect(windows).toEqual([1_000, 2_000, 4_000, 8_000, 8_000]);
  });

  it('finds the answer behind line noise', async () => {
    sim.setFault('line-noise');
    const r = await bms.read();
    expect(errorKind(r)).toBe('ok');
  });
});

describe('Pylontech BMS driver when the serial port goes away', () => {
  it('reads as disconnected while the port is gone and reconnects by itself when it is back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'prosumer-edge-bms-unplug-'));
    const plant = new TestPlant(sixteenCellPack);
    const clock = new ManualClock(0);
    let line = await plugPtys(dir);
    let sim = await startPylontechBmsSim({ path: line.simPath, plant });
    const bms = createPylontechBms({ id: 'bms', path: line.devicePath, timeoutMs: 1_000, clock, backoff: { initialMs: 1_000, maxMs: 8_000, factor: 2 } });
    try {
      expect(errorKind(await bms.read())).toBe('ok');

      await sim.close();
      await line.unplug(); // the USB adapter is pulled
      const gone = await bms.read();
      expect(errorKind(gone)).toBe('disconnected');
      expect(bms.health().errorCounts.disconnected).toBeGreaterThanOrEqual(1);

      line = await plugPtys(dir); // plugged back in, same device path
      sim = await startPylontechBmsSim({ path: line.simPath, plant });
      clock.advance(bms.health().backoffUntilMs! - clock.nowMs());
      plant.socFraction = 0.8;
      const back = await bms.read();
      if (!back.ok) throw back.error;
      expect(back.value.socFraction).toBeCloseTo(0.8, 3);
    } finally {
      await bms.close();
      await sim.close();
      await line.unplug();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
