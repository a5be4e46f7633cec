import { afterEach, describe, expect, it } from 'vitest';
import { SunSpecBattery } from '../../../drivers/sunspec/battery.ts';
import { simHybridInverter } from '../../../sim/sunspec/hybrid-inverter.ts';
import { ManualClock, ScaledClock } from '../../../src/time/clock.ts';
import { isDeviceError } from '../../../src/devices/errors.ts';
import { TestPlant } from '../../fixtures/test-plant.ts';
import { serveOverTcp, type TcpRig } from './tcp-rig.ts';

let rig: TcpRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

async function setup(simClock?: ScaledClock) {
  const plant = new TestPlant();
  const clock = new ManualClock(5_000_000);
  const device = simHybridInverter(plant, simClock ?? clock, { ratedPowerKw: 5 });
  rig = await serveOverTcp(new Map([[1, device]]), clock);
  const battery = new SunSpecBattery({ id: 'battery', bus: rig.bus, unitId: 1, clock, capacityKwh: 10 });
  return { plant, clock, device, battery, rig };
}

describe('SunSpec battery (hybrid inverter models 124 + 802) over Modbus TCP', () => {
  it('reads state of charge, rating, power and the BMS live limits from model 802', async () => {
    const { battery, plant } = await setup();
    plant.batteryKw = -2.5;
    const r = await battery.read();
    expect(r.ok && r.value).toEqual({
      socFraction: 0.6,
      capacityKwh: 10,
      energyKwh: 6,
      powerKw: -2.5,
      maxChargeKw: 4, // live current limit × pack voltage, below the 5 kW rating
      maxDischargeKw: 5,
      alarms: [],
    });
  });

  it('reports BMS alarms by their SunSpec names', async () => {
    const { battery, plant } = await setup();
    plant.temperaturesC = [30, 58];
    const r = await battery.read();
    expect(r.ok && r.value.alarms).toEqual(['OVER_TEMP_ALARM', 'OVER_TEMP_WARNING']);
  });

  it.each([
    [3, 3],
    [-2, -2],
    [0, 0],
    [9, 5], // beyond the inverter rating: the device is asked for its 100 %
  ])('a setpoint of %f kW pins the 124 charge/discharge window and the plant follows (%f kW)', async (askedKw, plantKw) => {
    const { battery, plant, device } = await setup();
    await battery.setPowerSetpoint(askedKw, 30_000);
    expect(plant.batterySetpoint).toBeCloseTo(plantKw, 9);
    const storage = device.block(124);
    expect(storage.raw('InOutWRte_RvrtTms')).toBe(30);
    expect(storage.raw('StorCtl_Mod')).toBe(3);
    expect(storage.value('OutWRte')).toBeCloseTo((plantKw / 5) * 100, 9);
    expect(storage.value('InWRte')).toBeCloseTo((-plantKw / 5) * 100, 9);
  });

  it('follows the model 124 text: OutWRte is a percentage of the maximum discharge rate (802 WDisChaRteMax), InWRte of WChaMax', async () => {
    const { battery, plant, device } = await setup();
    device.block(124).setValue('WChaMax', 4000); // charging capped at 4 kW; the 5 kW discharge rating stays
    await battery.setPowerSetpoint(3, 30_000);
    expect(device.block(124).value('OutWRte')).toBeCloseTo(60, 9); // 3 kW of 5 kW
    expect(device.block(124).value('InWRte')).toBeCloseTo(-75, 9); // 3 kW of 4 kW
    expect(plant.batterySetpoint).toBeCloseTo(3, 9);
    await battery.setPowerSetpoint(-2, 30_000);
    expect(device.block(124).value('OutWRte')).toBeCloseTo(-40, 9);
    expect(device.block(124).value('InWRte')).toBeCloseTo(50, 9);
    expect(plant.batterySetpoint).toBeCloseTo(-2, 9);
    // Beyond what both rates can pin (4 kW), the device is asked for the most it can hold.
    await battery.setPowerSetpoint(4.5, 30_000);
    expect(plant.batterySetpoint).toBeCloseTo(4, 9);
  });

  it('scales both rates by WChaMax for a vendor that does so (dischargeRateBase: WChaMax)', async () => {
    const plant = new TestPlant();
    const clock = new ManualClock(5_000_000);
    const device = simHybridInverter(plant, clock, { ratedPowerKw: 5, dischargeRateBase: 'WChaMax' });
    rig = await serveOverTcp(new Map([[1, device]]), clock);
    const battery = new SunSpecBattery({ id: 'battery', bus: rig.bus, unitId: 1, clock, capacityKwh: 10, dischargeRateBase: 'WChaMax' });
    device.block(124).setValue('WChaMax', 4000);
    await battery.setPowerSetpoint(3, 30_000);
    expect(device.block(124).value('OutWRte')).toBeCloseTo(75, 9);
    expect(plant.batterySetpoint).toBeCloseTo(3, 9);
  });

  it('refreshes an unchanged setpoint at most every half revert time', async () => {
    const { battery, clock, rig } = await setup();
    await battery.setPowerSetpoint(2, 20_000);
    const perCommand = rig.requests.writes;
    clock.advance(9_999);
    await battery.setPowerSetpoint(2, 20_000);
    expect(rig.requests.writes).toBe(perCommand);
    clock.advance(1);
    await battery.setPowerSetpoint(2, 20_000);
    expect(rig.requests.writes).toBe(2 * perCommand);
  });

  it('falls back to 0 kW when the gateway goes silent (fast simulation clock)', async () => {
    const { battery, plant, device } = await setup(new ScaledClock(0, 30));
    await battery.setPowerSetpoint(-3, 60_000);
    expect(plant.batterySetpoint).toBe(-3);
    await expect.poll(() => plant.batterySetpoint, { timeout: 10_000 }).toBe(0);
    expect(device.block(124).raw('StorCtl_Mod')).toBe(0);
  });

  it('re-writes a setpoint that did not read back once, then reports the mismatch', async () => {
    const { battery, device, plant } = await setup();
    device.faults.ignoreWrites(124, 'OutWRte', 1);
    await battery.setPowerSetpoint(1, 30_000);
    expect(plant.batterySetpoint).toBeCloseTo(1, 9);
    device.faults.ignoreWrites(124, 'InWRte', 2);
    const error = await battery.setPowerSetpoint(-1, 30_000).catch((e: unknown) => e);
    expect(isDeviceError(error) && error.kind).toBe('mismatch');
    // A window that is not the one asked for must not stay in force: the storage control is switched off.
    expect(device.block(124).raw('StorCtl_Mod')).toBe(0);
    expect(plant.batterySetpoint).toBe(0);
  });

  it('a device that acknowledges the revert time but keeps 0 ("never revert") never gets a setpoint enabled', async () => {
    const { battery, device, plant } = await setup();
    device.faults.ignoreWrites(124, 'InOutWRte_RvrtTms', Infinity);
    const error = await battery.setPowerSetpoint(3, 30_000).catch((e: unknown) => e);
    expect(isDeviceError(error) && error.kind).toBe('mismatch');
    expect(String(error)).toMatch(/InOutWRte_RvrtTms wrote 30 read 0/);
    expect(String(error)).toMatch(/switched off \(StorCtl_Mod 0\)/);
    const storage = device.block(124);
    expect(storage.raw('StorCtl_Mod')).toBe(0);
    expect(storage.raw('InOutWRte_RvrtTms')).toBe(0);
    expect(plant.batterySetpoint).toBe(0);
  });

  it('a setpoint in force is switched off when a new revert time does not read back', async () => {
    const { battery, device, plant } = await setup();
    await battery.setPowerSetpoint(2, 30_000);
    expect(plant.batterySetpoint).toBeCloseTo(2, 9);
    device.faults.ignoreWrites(124, 'InOutWRte_RvrtTms', Infinity);
    const error = await battery.setPowerSetpoint(2, 120_000).catch((e: unknown) => e);
    expect(isDeviceError(error) && error.kind).toBe('mismatch');
    expect(device.block(124).raw('StorCtl_Mod')).toBe(0);
    expect(plant.batterySetpoint).toBe(0);
  });

  it.each([
    ['SoC answers "not implemented"', 802, 'SoC', undefined, 'not-implemented'],
    ['SoC reads 250 %', 802, 'SoC', 2500, 'garbage'],
    ['the SoC scale factor is −32', 802, 'SoC_SF', -32, 'garbage'],
    ['battery power reads 3 MW', 802, 'W_SF', 3, 'garbage'],
  ] as const)('when %s, the reading is a typed error', async (_what, model, point, raw, kind) => {
    const { battery, device, plant } = await setup();
    plant.batteryKw = 3;
    if (raw === undefined) device.faults.notImplemented(model, point);
    else device.faults.garbage(model, point, raw);
    const r = await battery.read();
    expect(!r.ok && r.error.kind).toBe(kind);
  });

  it('a setpoint cannot be scaled when WChaMax is not implemented: typed error, nothing written', async () => {
    const { battery, device, rig } = await setup();
    device.faults.notImplemented(124, 'WChaMax');
    const error = await battery.setPowerSetpoint(1, 30_000).catch((e: unknown) => e);
    expect(isDeviceError(error) && error.kind).toBe('not-implemented');
    expect(rig.requests.writes).toBe(0);
  });
});
