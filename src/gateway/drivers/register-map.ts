/**
 * A device described by a register map: the map says what it is (meter, PV inverter, battery,
 * or PV and battery for a hybrid inverter); each of those is probed with one reading, and the
 * device is found when all of them answer.
 */
import type { RegisterMapProfile } from '../../config/board.ts';
import { RegisterMapMeter } from '../../../drivers/register-map/meter.ts';
import { RegisterMapPvInverter } from '../../../drivers/register-map/pv-inverter.ts';
import { RegisterMapBattery } from '../../../drivers/register-map/battery.ts';
import { mapRoles } from '../../../drivers/register-map/map.ts';
import { probeOf, type DeviceDriver, type OpenedDevice, type Probe } from '../opened-device.ts';

export const registerMapDriver: DeviceDriver<RegisterMapProfile> = async (id, device, { buses, clock }) => {
  const map = device.registerMap;
  const common = { id, bus: buses.modbus(device.bus), unitId: device.unitId, clock, map };
  const opened: Omit<OpenedDevice, 'probe'> = {};
  const probes: Probe[] = [];
  for (const role of mapRoles(map)) {
    switch (role) {
      case 'meter': {
        const meter = new RegisterMapMeter({ ...common, ...(device.maxPlausibleKw !== undefined ? { maxPlausibleKw: device.maxPlausibleKw } : {}) });
        opened.meter = meter;
        probes.push(probeOf(await meter.read(), (v) => `net import ${v.netImportKw.toFixed(2)} kW`));
        break;
      }
      case 'pv-inverter': {
        const pv = new RegisterMapPvInverter({ ...common, ratedPowerKw: device.ratedPowerKw! });
        opened.pv = pv;
        probes.push(probeOf(await pv.read(), (v) => `PV ${v.acPowerKw.toFixed(2)} kW`));
        break;
      }
      case 'battery-storage': {
        const battery = new RegisterMapBattery({ ...common, capacityKwh: device.capacityKwh!, ...(device.ratedPowerKw !== undefined ? { ratedPowerKw: device.ratedPowerKw } : {}) });
        // Closed before the bus: it gives control back to the device (drivers/register-map/battery.ts).
        // Keyed by device: a device opened again after it was missing replaces its closer.
        buses.own(() => battery.close(), `register-map:${id}`);
        opened.battery = battery;
        probes.push(probeOf(await battery.read(), (v) => `${device.capacityKwh} kWh, SoC ${(v.socFraction * 100).toFixed(1)} %, ${v.powerKw.toFixed(2)} kW`));
        break;
      }
    }
  }
  const found = probes.every((p) => p.found);
  return { ...opened, probe: { found, detail: `register map ${map.name}; ${probes.map((p) => p.detail).join('; ')}` } };
};
