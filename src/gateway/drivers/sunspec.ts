/** SunSpec devices (pv-inverter, meter, battery-storage): discovery, then the driver of the kind and one reading. */
import type { ModbusDeviceProfile } from '../../config/board.ts';
import { discoverSunSpec } from '../../../drivers/sunspec/discovery.ts';
import { SunSpecPvInverter } from '../../../drivers/sunspec/pv-inverter.ts';
import { SunSpecGridMeter } from '../../../drivers/sunspec/grid-meter.ts';
import { SunSpecBattery } from '../../../drivers/sunspec/battery.ts';
import { probeOf, type DeviceDriver } from '../opened-device.ts';

export const sunspecDriver: DeviceDriver<ModbusDeviceProfile> = async (id, device, { buses, clock }) => {
  const bus = buses.modbus(device.bus);
  const map = await discoverSunSpec(bus, device.unitId, id);
  const models = `SunSpec models ${map.models.map((m) => m.id).join(', ')} at ${map.baseAddress}`;
  const common = { id, bus, unitId: device.unitId, clock };
  switch (device.kind) {
    case 'pv-inverter': {
      const pv = new SunSpecPvInverter({ ...common, ratedPowerKw: device.ratedPowerKw });
      return { pv, probe: probeOf(await pv.read(), (v) => `${models}; ${v.acPowerKw.toFixed(2)} kW, ${v.state}`) };
    }
    case 'meter': {
      const meter = new SunSpecGridMeter({ ...common, ...(device.exportPositive !== undefined ? { exportPositive: device.exportPositive } : {}), ...(device.maxPlausibleKw !== undefined ? { maxPlausibleKw: device.maxPlausibleKw } : {}) });
      return { meter, probe: probeOf(await meter.read(), (v) => `${models}; net import ${v.netImportKw.toFixed(2)} kW`) };
    }
    case 'battery-storage': {
      const battery = new SunSpecBattery({ ...common, capacityKwh: device.capacityKwh, ...(device.dischargeRateBase ? { dischargeRateBase: device.dischargeRateBase } : {}) });
      return { battery, probe: probeOf(await battery.read(), (v) => `${models}; ${device.capacityKwh} kWh, SoC ${(v.socFraction * 100).toFixed(1)} % (inverter's view)`) };
    }
  }
};
