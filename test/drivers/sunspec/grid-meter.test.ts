import { afterEach, describe, expect, it } from 'vitest';
import { SunSpecGridMeter } from '../../../drivers/sunspec/grid-meter.ts';
import { simMeter } from '../../../sim/sunspec/meter.ts';
import { ManualClock } from '../../../src/time/clock.ts';
import { TestPlant } from '../../fixtures/test-plant.ts';
import { serveOverTcp, type TcpRig } from './tcp-rig.ts';

let rig: TcpRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

async function setup(options: { phases?: 1 | 3; exportPositive?: boolean } = {}) {
  const plant = new TestPlant();
  const clock = new ManualClock(0);
  const device = simMeter(plant, { phases: options.phases });
  rig = await serveOverTcp(new Map([[240, device]]), clock);
  const meter = new SunSpecGridMeter({ id: 'meter', bus: rig.bus, unitId: 240, clock, exportPositive: options.exportPositive });
  return { plant, device, meter, rig };
}

describe('SunSpec grid meter over Modbus TCP', () => {
  it.each([3, 1] as const)('reads net import (+ import, − export) and both energy counters from a %i-phase meter', async (phases) => {
    const { meter, plant } = await setup({ phases });
    const exporting = await meter.read();
    expect(exporting.ok && exporting.value).toEqual({ netImportKw: -1.5, importedEnergyKwh: 2000, exportedEnergyKwh: 3000 });
    plant.netImportKw = 2.25;
    const importing = await meter.read();
    expect(importing.ok && importing.value.netImportKw).toBe(2.25);
  });

  it('reads the whole meter model in one request', async () => {
    const { meter, rig } = await setup();
    await meter.read();
    rig.requests.reads = 0;
    await meter.read();
    expect(rig.requests.reads).toBe(1);
  });

  it('turns the sign and the counters round for a meter that counts export as positive', async () => {
    const { meter } = await setup({ exportPositive: true });
    const r = await meter.read();
    expect(r.ok && r.value).toEqual({ netImportKw: 1.5, importedEnergyKwh: 3000, exportedEnergyKwh: 2000 });
  });

  it('leaves out energy counters the meter does not implement, and keeps the power', async () => {
    const { meter, device } = await setup();
    device.faults.notImplemented(203, 'TotWhImp');
    device.faults.notImplemented(203, 'TotWh_SF');
    const r = await meter.read();
    expect(r.ok && r.value).toEqual({ netImportKw: -1.5 });
  });

  it('an absurd power (e.g. a wrong scale factor: 1.5 MW at a house) is garbage, and the meter recovers when it is fixed', async () => {
    const { meter, device } = await setup();
    device.faults.garbage(203, 'W_SF', 3);
    const r = await meter.read();
    expect(!r.ok && r.error.kind).toBe('garbage');
    expect(!r.ok && r.error.message).toMatch(/net import \(kW\) = -1500 is outside ±100/);
    device.faults.clear();
    expect((await meter.read()).ok).toBe(true);
  });

  it('a meter answering a Modbus exception reads as unavailable, with the code', async () => {
    const { meter, rig } = await setup();
    await meter.read();
    rig.faults.set(240, { exceptionCode: 4 });
    const r = await meter.read();
    expect(!r.ok && r.error.kind).toBe('exception');
    expect(!r.ok && r.error.detail.code).toBe(4);
    rig.faults.clear(240);
    expect((await meter.read()).ok).toBe(true);
  });
});
