/**
 * A simulated Modbus RTU relay board as a register space: coil n is relay channel n (FC 1
 * reads, FC 5 writes), each wired to a plant load channel. Like the Waveshare boards it has
 * no holding registers the gateway uses; asking for one is an illegal data address.
 */
import { ModbusExceptionCode } from '../../drivers/modbus/bus.ts';
import { SlaveException, type RegisterSpace } from '../modbus/register-space.ts';
import type { PlantView } from '../plant/plant-view.ts';

/** `loadChannels[n]` is the plant load channel coil n switches. */
export function createRelayBoardSpace(plant: PlantView, loadChannels: number[]): RegisterSpace {
  const inRange = (address: number, count: number) => {
    if (!(count >= 1 && address >= 0 && address + count <= loadChannels.length)) throw new SlaveException(ModbusExceptionCode.IllegalDataAddress);
  };
  return {
    readHolding() {
      throw new SlaveException(ModbusExceptionCode.IllegalDataAddress);
    },
    writeHolding() {
      throw new SlaveException(ModbusExceptionCode.IllegalDataAddress);
    },
    readCoils(address, count) {
      inRange(address, count);
      return loadChannels.slice(address, address + count).map((channel) => plant.relayOn(channel));
    },
    writeCoil(address, on) {
      inRange(address, 1);
      plant.setRelay(loadChannels[address]!, on);
    },
  };
}
