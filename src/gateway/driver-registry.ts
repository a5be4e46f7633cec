/**
 * The driver registry: for each device kind a board profile may name, how the gateway opens it
 * from its board entry and what it then offers (a meter, PV, a battery, a BMS, a relay — a
 * hybrid inverter's register map offers two). The assembly (assemble.ts) only combines what the
 * drivers offer; a new kind is its entry in DEVICE_FIELDS (src/config/board-schema.ts: its
 * fields and the buses it sits on), its profile type (src/config/board.ts) and its driver here,
 * which the type checker insists on.
 */
import type { DeviceProfile } from '../config/board.ts';
import type { DeviceDriver, OpenContext, OpenedDevice } from './opened-device.ts';
import { sunspecDriver } from './drivers/sunspec.ts';
import { registerMapDriver } from './drivers/register-map.ts';
import { pylontechBmsDriver } from './drivers/pylontech-bms.ts';
import { relayDriver } from './drivers/relay.ts';

type Registry = { [K in DeviceProfile['kind']]: DeviceDriver<Extract<DeviceProfile, { kind: K }>> };

const registry: Registry = {
  'pv-inverter': sunspecDriver,
  meter: sunspecDriver,
  'battery-storage': sunspecDriver,
  'register-map': registerMapDriver,
  bms: pylontechBmsDriver,
  relay: relayDriver,
};

export function openDevice(id: string, device: DeviceProfile, ctx: OpenContext): Promise<OpenedDevice> {
  return (registry[device.kind] as DeviceDriver<DeviceProfile>)(id, device, ctx);
}
