import { afterEach, describe, expect, it } from 'vitest';
import { discoverSunSpec } from '../../../drivers/sunspec/discovery.ts';
import { SunSpecPvInverter } from '../../../drivers/sunspec/pv-inverter.ts';
import { SunSpecClient } from '../../../drivers/sunspec/client.ts';
import { hybridInverterModels, simHybridInverter } from '../../../sim/sunspec/hybrid-inverter.ts';
import { SlaveException } from '../../../sim/modbus/register-space.ts';
import { ManualClock } from '../../../src/time/clock.ts';
import { isDeviceError } from '../../../src/devices/errors.ts';
import { TestPlant } from '../../fixtures/test-plant.ts';
import { serveOverTcp, type TcpRig } from './tcp-rig.ts';

let rig: TcpRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('SunSpec discovery over Modbus TCP', () => {
  it.each([40000, 50000, 0])('finds "SunS" at base %i and walks the chain to the end marker', async (baseAddress) => {
    const clock = new ManualClock(0);
    rig = await serveOverTcp(new Map([[3, simHybridInverter(new TestPlant(), clock, { baseAddress })]]));
    const map = await discoverSunSpec(rig.bus, 3, 'hybrid');
    expect(map.baseAddress).toBe(baseAddress);
    expect(map.models.map((m) => m.id)).toEqual([1, 103, 123, 124, 802]);
    // Published lengths: common 66, inverter 50, controls 24, storage 24.
    expect(map.models.slice(0, 4).map((m) => m.length)).toEqual([66, 50, 24, 24]);
    expect(map.models[0]!.address).toBe(baseAddress + 2);
    for (let i = 1; i < map.models.length; i++) expect(map.models[i]!.address).toBe(map.models[i - 1]!.address + 2 + map.models[i - 1]!.length);
  });

  it('reports a device without a SunSpec map as a discovery error', async () => {
    const notSunSpec = {
      readHolding: (): Uint16Array => {
        throw new SlaveException(2);
      },
      writeHolding: (): void => {
        throw new SlaveException(2);
      },
    };
    rig = await serveOverTcp(new Map([[1, notSunSpec]]));
    const error = await discoverSunSpec(rig.bus, 1, 'mystery').catch((e: unknown) => e);
    expect(isDeviceError(error) && error.kind).toBe('discovery');
    expect(String(error)).toMatch(/no SunSpec "SunS" marker at 40000, 50000, 0/);
  });

  it('does not mistake a busy device or an unreachable gateway target for "no SunSpec map"', async () => {
    rig = await serveOverTcp(new Map([[1, simHybridInverter(new TestPlant(), new ManualClock(0))]]));
    for (const code of [6, 11]) {
      rig.faults.set(1, { exceptionCode: code });
      const error = await discoverSunSpec(rig.bus, 1, 'hybrid').catch((e: unknown) => e);
      expect(isDeviceError(error) && [error.kind, error.detail.code]).toEqual(['exception', code]);
    }
    rig.faults.clear(1);
    expect((await discoverSunSpec(rig.bus, 1, 'hybrid')).baseAddress).toBe(40000);
  });

  it('reads several adjacent models in one request', async () => {
    rig = await serveOverTcp(new Map([[1, simHybridInverter(new TestPlant(), new ManualClock(0))]]));
    const client = new SunSpecClient({ bus: rig.bus, unitId: 1, device: 'hybrid' });
    await client.sunspecMap();
    rig.requests.reads = 0;
    const blocks = await client.readModels([103, 123]);
    expect([...blocks.keys()]).toEqual([103, 123]);
    expect(rig.requests.reads).toBe(1);
  });

  it('splits a long model into ≤125-register reads and fills the last one with the next model (701 + 704 = 222 registers → 2 reads)', async () => {
    rig = await serveOverTcp(new Map([[1, simHybridInverter(new TestPlant(), new ManualClock(0), { derModels: true })]]));
    const client = new SunSpecClient({ bus: rig.bus, unitId: 1, device: 'hybrid' });
    await client.sunspecMap();
    rig.requests.reads = 0;
    const blocks = await client.readModels([701, 704]);
    expect(rig.requests.reads).toBe(2);
    expect(blocks.get(701)!.value('W')).toBe(4200);
    expect(blocks.get(704)!.value('WMaxLimPct')).toBe(100);
  });

  it('notices a chain that changed after a firmware update, says so, and serves the next read from the new map', async () => {
    const plant = new TestPlant();
    const clock = new ManualClock(0);
    const device = simHybridInverter(plant, clock);
    rig = await serveOverTcp(new Map([[1, device]]), clock);
    const pv = new SunSpecPvInverter({ id: 'pv', bus: rig.bus, unitId: 1, clock, ratedPowerKw: 10 });
    const before = await pv.read();
    expect(before.ok && before.value.acPowerKw).toBe(4.2);

    // The update replaces 103/123 with the DER models 701/704: every address after the common model moves.
    device.firmwareUpdate(hybridInverterModels(plant, clock, { derModels: true }));
    plant.pvKw = 3.1;
    const detected = await pv.read();
    expect(detected.ok).toBe(false);
    expect(!detected.ok && detected.error.kind).toBe('discovery');
    expect(!detected.ok && detected.error.message).toMatch(/model chain changed/);

    const after = await pv.read();
    expect(after.ok && after.value).toMatchObject({ acPowerKw: 3.1, state: 'producing', energyKwh: 12345.6 });
    await pv.setActivePowerLimit(0.5, 60_000);
    expect(plant.pvLimit).toBe(0.5);
    expect(device.block(704).raw('WMaxLimPctRvrtTms')).toBe(60);
  });
});
