import { afterEach, describe, expect, it } from 'vitest';
import { SunSpecPvInverter } from '../../../drivers/sunspec/pv-inverter.ts';
import { simPvInverter } from '../../../sim/sunspec/pv-inverter.ts';
import type { SunSpecSpace } from '../../../sim/sunspec/sunspec-space.ts';
import { ManualClock, ScaledClock } from '../../../src/time/clock.ts';
import { isDeviceError } from '../../../src/devices/errors.ts';
import { TestPlant } from '../../fixtures/test-plant.ts';
import { serveOverTcp, type TcpRig } from './tcp-rig.ts';

let rig: TcpRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

async function setup(options: { derModels?: boolean; simClock?: ManualClock | ScaledClock } = {}) {
  const plant = new TestPlant();
  const clock = new ManualClock(1_000_000);
  const device = simPvInverter(plant, options.simClock ?? clock, { derModels: options.derModels });
  rig = await serveOverTcp(new Map([[1, device]]), clock);
  const pv = new SunSpecPvInverter({ id: 'pv', bus: rig.bus, unitId: 1, clock, ratedPowerKw: 10 });
  return { plant, clock, device, pv, rig };
}

describe.each([
  ['classic 103 + 123', false],
  ['DER 701 + 704', true],
])('SunSpec PV inverter (%s) over Modbus TCP', (_name, derModels) => {
  it('reads AC power, lifetime energy and state from the plant', async () => {
    const { pv } = await setup({ derModels });
    const r = await pv.read();
    expect(r.ok && r.value).toEqual({ acPowerKw: 4.2, energyKwh: 12345.6, state: 'producing', activePowerLimitFraction: 1 });
  });

  it('limits active power: writes the revert time, the limit and the enable, reads them back, and the plant throttles', async () => {
    const { pv, plant, device } = await setup({ derModels });
    await pv.setActivePowerLimit(0.3, 90_000);
    expect(plant.pvLimit).toBe(0.3);
    const controls = device.block(derModels ? 704 : 123);
    expect(controls.raw(derModels ? 'WMaxLimPctRvrtTms' : 'WMaxLimPct_RvrtTms')).toBe(90);
    expect(controls.value('WMaxLimPct')).toBe(30);
    const r = await pv.read();
    expect(r.ok && r.value).toMatchObject({ acPowerKw: 3, state: 'throttled', activePowerLimitFraction: 0.3 });
  });

  it('falls back to unlimited when the gateway stops refreshing the limit (fast simulation clock)', async () => {
    const simClock = new ScaledClock(0, 30);
    const { pv, plant } = await setup({ derModels, simClock });
    await pv.setActivePowerLimit(0.2, 60_000);
    expect(plant.pvLimit).toBe(0.2);
    // 60 s of simulated silence is 2 s of wall time at 30×; the firmware timer reverts on its own.
    await expect.poll(() => plant.pvLimit, { timeout: 10_000 }).toBeNull();
    const r = await pv.read();
    expect(r.ok && r.value).toMatchObject({ acPowerKw: 4.2, state: 'producing', activePowerLimitFraction: 1 });
  });
});

describe('SunSpec PV inverter control safety', () => {
  it('refreshes an unchanged limit at most every half revert time, and at once when it changes', async () => {
    const { pv, clock, rig } = await setup();
    await pv.setActivePowerLimit(0.5, 60_000);
    const writesPerCommand = rig.requests.writes;
    expect(writesPerCommand).toBe(3);
    for (const stepMs of [10_000, 10_000, 9_000]) {
      clock.advance(stepMs);
      await pv.setActivePowerLimit(0.5, 60_000);
    }
    expect(rig.requests.writes).toBe(writesPerCommand); // 29 s < 30 s: nothing re-sent
    clock.advance(1_000);
    await pv.setActivePowerLimit(0.5, 60_000);
    expect(rig.requests.writes).toBe(2 * writesPerCommand); // half-time reached: refreshed before the 60 s run out
    await pv.setActivePowerLimit(0.4, 60_000);
    expect(rig.requests.writes).toBe(3 * writesPerCommand);
  });

  it('never sends a revert time of 0 (which would mean "never revert")', async () => {
    const { pv, device } = await setup();
    await pv.setActivePowerLimit(0.5, 200);
    expect(device.block(123).raw('WMaxLimPct_RvrtTms')).toBe(1);
    await expect(pv.setActivePowerLimit(0.5, 0)).rejects.toThrow(RangeError);
    await expect(pv.setActivePowerLimit(1.5, 1000)).rejects.toThrow(/within 0..1/);
  });

  it('re-writes once when a write does not read back, and succeeds if the second write sticks', async () => {
    const { pv, device, plant, rig } = await setup();
    device.faults.ignoreWrites(123, 'WMaxLimPct', 1);
    await pv.setActivePowerLimit(0.6, 60_000);
    // revert time (read back on its own), then limit + enable, then limit + enable once more
    expect(rig.requests.writes).toBe(1 + 2 + 2);
    expect(plant.pvLimit).toBe(0.6);
  });

  it('reports a mismatch when the device keeps ignoring the write, and tries again on the next call', async () => {
    const { pv, device, plant } = await setup();
    device.faults.ignoreWrites(123, 'WMaxLimPct', 2);
    const error = await pv.setActivePowerLimit(0.6, 60_000).catch((e: unknown) => e);
    expect(isDeviceError(error) && error.kind).toBe('mismatch');
    expect(String(error)).toMatch(/WMaxLimPct wrote 600 read 1000/);
    await pv.setActivePowerLimit(0.6, 60_000);
    expect(plant.pvLimit).toBe(0.6);
  });
});

describe.each([
  ['classic 123', false, 123, 'WMaxLimPct_RvrtTms', 'WMaxLim_Ena'],
  ['DER 704', true, 704, 'WMaxLimPctRvrtTms', 'WMaxLimPctEna'],
] as const)('SunSpec PV inverter (%s) whose revert time does not stick', (_name, derModels, model, revertPoint, enablePoint) => {
  it('acknowledges the revert time but keeps 0 ("never revert"): the limit is never enabled and the mismatch is reported', async () => {
    const { pv, device, plant } = await setup({ derModels });
    device.faults.ignoreWrites(model, revertPoint, Infinity);
    const error = await pv.setActivePowerLimit(0.3, 60_000).catch((e: unknown) => e);
    expect(isDeviceError(error) && error.kind).toBe('mismatch');
    expect(String(error)).toMatch(new RegExp(`${revertPoint} wrote 60 read 0`));
    expect(String(error)).toMatch(new RegExp(`switched off \\(${enablePoint} 0\\)`));
    expect(device.block(model).raw(enablePoint)).toBe(0);
    expect(plant.pvLimit).toBeNull();
  });

  it('a limit in force is switched off when a new revert time does not read back', async () => {
    const { pv, device, plant } = await setup({ derModels });
    await pv.setActivePowerLimit(0.3, 60_000);
    expect(plant.pvLimit).toBe(0.3);
    device.faults.ignoreWrites(model, revertPoint, Infinity);
    const error = await pv.setActivePowerLimit(0.3, 120_000).catch((e: unknown) => e);
    expect(isDeviceError(error) && error.kind).toBe('mismatch');
    expect(device.block(model).raw(enablePoint)).toBe(0);
    expect(plant.pvLimit).toBeNull();
  });
});

describe('SunSpec PV inverter faults', () => {
  const cases: [string, (d: SunSpecSpace) => void, string, RegExp][] = [
    ['W answers "not implemented"', (d) => d.faults.notImplemented(103, 'W'), 'not-implemented', /103\.W is not implemented/],
    ['the W scale factor is 50', (d) => d.faults.garbage(103, 'W_SF', 50), 'garbage', /W_SF = 50 is outside/],
    ['W is 32 kW on a 10 kW inverter', (d) => d.faults.garbage(103, 'W', 32000), 'garbage', /AC power \(kW\) = 32/],
  ];
  it.each(cases)('when %s, the reading is a typed error, not a number', async (_what, inject, kind, message) => {
    const { pv, device } = await setup();
    inject(device);
    const r = await pv.read();
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.kind).toBe(kind);
    expect(!r.ok && r.error.message).toMatch(message);
    device.faults.clear();
    expect((await pv.read()).ok).toBe(true);
  });

  it('an energy counter that is not implemented leaves energy out and keeps the power', async () => {
    const { pv, device } = await setup();
    device.faults.notImplemented(103, 'WH');
    const r = await pv.read();
    expect(r.ok && r.value.energyKwh).toBeUndefined();
    expect(r.ok && r.value.acPowerKw).toBe(4.2);
  });

  it('an inverter that stops answering reads as unavailable, shows in health, and recovers', async () => {
    const { pv, rig } = await setup();
    rig.faults.set(1, { silent: true });
    const r = await pv.read();
    expect(!r.ok && r.error.kind).toBe('timeout');
    expect(pv.health().consecutiveFailures).toBeGreaterThan(0);
    rig.faults.clear(1);
    await expect.poll(async () => (await pv.read()).ok, { timeout: 10_000 }).toBe(true);
    expect(pv.health().consecutiveFailures).toBe(0);
  });
});
