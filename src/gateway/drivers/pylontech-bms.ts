/** The Pylontech BMS on its serial line; it pairs with the storage inverter into one battery (assemble.ts). */
import type { BmsProfile, BusProfile } from '../../config/board.ts';
import { createPylontechBms } from '../../../drivers/bms/pylontech.ts';
import { probeOf, type DeviceDriver } from '../opened-device.ts';

export const pylontechBmsDriver: DeviceDriver<BmsProfile> = async (id, device, { buses, clock }) => {
  const bus = buses.profile(device.bus) as Extract<BusProfile, { type: 'serial' }>;
  const bms = createPylontechBms({ id, path: bus.path, baudRate: bus.baudRate, address: device.address, clock, ...(bus.timeoutMs ? { timeoutMs: bus.timeoutMs } : {}) });
  buses.own(() => bms.close());
  const probe = async () => probeOf(await bms.read(), (v) => `SoC ${(v.socFraction * 100).toFixed(1)} %, ${v.cellVoltagesV.length} cells, pack ${v.packVoltageV.toFixed(1)} V`);
  return { bms, probe: await probe(), reprobe: probe };
};
