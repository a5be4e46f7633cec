/** A relay: a coil of a Modbus relay board, or a pin of a GPIO / Firmata board through johnny-five. */
import type { LoadRelay } from '../../devices/capabilities.ts';
import type { RelayProfile } from '../../config/board.ts';
import { createJohnnyFiveRelay } from '../../../drivers/relay/johnny-five-relay.ts';
import { createModbusRelay } from '../../../drivers/relay/modbus-relay.ts';
import { probeOf, type DeviceDriver } from '../opened-device.ts';

export const relayDriver: DeviceDriver<RelayProfile> = async (id, device, { buses, clock }) => {
  let relay: LoadRelay;
  if ('coil' in device) relay = createModbusRelay({ id, bus: buses.modbus(device.bus), unitId: device.unitId, coil: device.coil, ratedPowerKw: device.ratedPowerKw, clock });
  else {
    const board = await buses.ioBoard(device.bus);
    const timeoutMs = buses.profile(device.bus).timeoutMs;
    relay = createJohnnyFiveRelay({ id, board, pin: device.pin, ratedPowerKw: device.ratedPowerKw, clock, ...(device.activeLow !== undefined ? { activeLow: device.activeLow } : {}), ...(timeoutMs ? { timeoutMs } : {}) });
  }
  const probe = probeOf(await relay.read(), (v) => `${v.on ? 'on' : 'off'}, ${relay.ratedPowerKw} kW on load channel ${device.channel}`);
  return { probe, relay: { channel: device.channel, relay } };
};
