import { afterEach, describe, expect, it } from 'vitest';
import { SunSpecClient } from '../../../drivers/sunspec/client.ts';
import { isDeviceError } from '../../../src/devices/errors.ts';
import { ManualClock } from '../../../src/time/clock.ts';
import { simHybridInverter } from '../../../sim/sunspec/hybrid-inverter.ts';
import { batteryModels, simBattery } from '../../../sim/sunspec/battery.ts';
import { pvInverterModels } from '../../../sim/sunspec/pv-inverter.ts';
import { serveOverTcp, type TcpRig } from '../../drivers/sunspec/tcp-rig.ts';
import { TestPlant } from '../../fixtures/test-plant.ts';

let rig: TcpRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

async function setup() {
  const plant = new TestPlant();
  const clock = new ManualClock(0);
  const device = simHybridInverter(plant, clock, { common: { serial: 'HYB-42' } });
  rig = await serveOverTcp(new Map([[1, device]]), clock);
  const client = new SunSpecClient({ bus: rig.bus, unitId: 1, device: 'hybrid' });
  const addressOf = async (model: number, point: string): Promise<number> => {
    const m = (await client.sunspecMap()).models.find((x) => x.id === model)!;
    return m.address + device.block(model).point(point).offset;
  };
  return { plant, clock, device, bus: rig.bus, client, addressOf };
}

async function exceptionCode(p: Promise<unknown>): Promise<number | undefined> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  return isDeviceError(e) && e.kind === 'exception' ? e.detail.code : undefined;
}

describe('simulated SunSpec device map', () => {
  it('serves the common model strings and ends the chain with 0xFFFF, 0', async () => {
    const { client, bus } = await setup();
    const common = await client.readModel(1);
    expect([common.text('Mn'), common.text('Md'), common.text('SN')]).toEqual(['prosumer-edge sim', 'HYBRID-3P', 'HYB-42']);
    const map = await client.sunspecMap();
    const last = map.models.at(-1)!;
    expect(Array.from(await bus.readHoldingRegisters(1, last.address + 2 + last.length, 2))).toEqual([0xffff, 0]);
  });

  it('answers exception 2 for addresses outside the map', async () => {
    const { bus } = await setup();
    expect(await exceptionCode(bus.readHoldingRegisters(1, 39990, 12))).toBe(2);
    expect(await exceptionCode(bus.readHoldingRegisters(1, 0, 2))).toBe(2);
    expect(await exceptionCode(bus.writeRegisters(1, 40000, [1]))).toBe(2);
  });

  it('refuses writes to read-only points and to half of a 32-bit point with exception 2', async () => {
    const { bus, addressOf } = await setup();
    expect(await exceptionCode(bus.writeRegisters(1, await addressOf(103, 'W'), [1000]))).toBe(2);
    expect(await exceptionCode(bus.writeRegisters(1, await addressOf(1, 'SN'), [0x4141]))).toBe(2);
  });

  it('refuses out-of-range values with exception 3 and keeps the old value', async () => {
    const { bus, addressOf, device, plant } = await setup();
    // WMaxLimPct at sf −1: 1010 = 101 %.
    expect(await exceptionCode(bus.writeRegisters(1, await addressOf(123, 'WMaxLimPct'), [1010]))).toBe(3);
    expect(device.block(123).value('WMaxLimPct')).toBe(100);
    // WMaxLim_Ena knows DISABLED=0 and ENABLED=1 only.
    expect(await exceptionCode(bus.writeRegisters(1, await addressOf(123, 'WMaxLim_Ena'), [7]))).toBe(3);
    // OutWRte at sf −2: 12000 = 120 %.
    expect(await exceptionCode(bus.writeRegisters(1, await addressOf(124, 'OutWRte'), [12000]))).toBe(3);
    // StorCtl_Mod has bits CHARGE and DISCHARGE only.
    expect(await exceptionCode(bus.writeRegisters(1, await addressOf(124, 'StorCtl_Mod'), [4]))).toBe(3);
    expect(await exceptionCode(bus.writeRegisters(1, await addressOf(1, 'DA'), [0]))).toBe(3);
    expect(plant.pvLimit).toBeNull();
  });

  it('reverts a storage setpoint that is not refreshed within InOutWRte_RvrtTms, even when nobody reads', async () => {
    const { bus, addressOf, plant, clock } = await setup();
    // A raw gateway: 10 s timeout, discharge window pinned at 40 % of 5 kW, both limits active.
    await bus.writeRegisters(1, await addressOf(124, 'InOutWRte_RvrtTms'), [10]);
    await bus.writeRegisters(1, await addressOf(124, 'OutWRte'), [4000, (-4000) & 0xffff]);
    await bus.writeRegisters(1, await addressOf(124, 'StorCtl_Mod'), [3]);
    expect(plant.batterySetpoint).toBe(2);
    clock.advance(9_999);
    expect(plant.batterySetpoint).toBe(2);
    clock.advance(1);
    await expect.poll(() => plant.batterySetpoint).toBe(0);
  });

  it('a refresh within the revert time restarts the countdown', async () => {
    const { bus, addressOf, plant, clock } = await setup();
    const limit = await addressOf(123, 'WMaxLimPct');
    await bus.writeRegisters(1, await addressOf(123, 'WMaxLimPct_RvrtTms'), [10]);
    await bus.writeRegisters(1, limit, [500]);
    await bus.writeRegisters(1, await addressOf(123, 'WMaxLim_Ena'), [1]);
    clock.advance(6_000);
    await bus.writeRegisters(1, limit, [500]);
    clock.advance(6_000);
    await Promise.resolve();
    expect(plant.pvLimit).toBe(0.5);
    clock.advance(4_000);
    await expect.poll(() => plant.pvLimit).toBeNull();
  });

  it('a firmware update that inserts a model moves every address after it', async () => {
    const plant = new TestPlant();
    const clock = new ManualClock(0);
    const device = simBattery(plant, clock);
    rig = await serveOverTcp(new Map([[2, device]]), clock);
    const client = new SunSpecClient({ bus: rig.bus, unitId: 2, device: 'battery' });
    const before = (await client.sunspecMap()).models.find((m) => m.id === 802)!.address;
    device.firmwareUpdate([...pvInverterModels(plant, clock), ...batteryModels(plant, clock)]);
    const error = await client.readModel(802).catch((e: unknown) => e);
    expect(isDeviceError(error) && error.kind).toBe('discovery');
    const after = (await client.sunspecMap()).models.find((m) => m.id === 802)!.address;
    expect(after).toBe(before + 52 + 26);
    expect((await client.readModel(802)).value('SoC')).toBe(60);
  });
});
