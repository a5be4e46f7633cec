/**
 * SunSpec discovery: find the "SunS" marker at the standard base addresses and walk the
 * model chain (ID, L, …) to the end marker. The result is the device's register map; the
 * client caches it and checks every read against it.
 */
import { ModbusExceptionCode, type ModbusBus } from '../modbus/bus.ts';
import { DeviceError, isDeviceError } from '../../src/devices/errors.ts';

/** Standard SunSpec base addresses (0-based register addresses), in the order they are tried. */
const SUNSPEC_BASE_ADDRESSES = [40000, 50000, 0] as const;
/** "SunS" as two big-endian registers. */
export const SUNS_MARKER = [0x5375, 0x6e53] as const;
export const END_MODEL_ID = 0xffff;
/** Exception codes that say "ask again later" or "no such device", not "no map at this address". */
const NOT_AN_ANSWER_CODES = new Set<number>([
  ModbusExceptionCode.Acknowledge,
  ModbusExceptionCode.ServerDeviceBusy,
  ModbusExceptionCode.GatewayPathUnavailable,
  ModbusExceptionCode.GatewayTargetFailedToRespond,
]);
/** A chain longer than this is a device answering garbage, not a SunSpec map. */
const MAX_MODELS = 256;

export interface DiscoveredModel {
  id: number;
  /** Address of the model's ID register. */
  address: number;
  /** The model's L: registers after ID and L. */
  length: number;
}

export interface SunSpecMap {
  baseAddress: number;
  models: DiscoveredModel[];
}

export async function discoverSunSpec(bus: ModbusBus, unitId: number, device: string): Promise<SunSpecMap> {
  for (const base of SUNSPEC_BASE_ADDRESSES) {
    let marker: Uint16Array;
    try {
      marker = await bus.readHoldingRegisters(unitId, base, 2);
    } catch (e) {
      // An exception answer means "nothing here"; silence, a busy device or an unreachable gateway target is not a discovery result.
      if (isDeviceError(e) && e.kind === 'exception' && !NOT_AN_ANSWER_CODES.has(e.detail.code ?? 0)) continue;
      throw e;
    }
    if (marker[0] === SUNS_MARKER[0] && marker[1] === SUNS_MARKER[1]) return { baseAddress: base, models: await walkChain(bus, unitId, device, base + 2) };
  }
  throw new DeviceError('discovery', device, `no SunSpec "SunS" marker at ${SUNSPEC_BASE_ADDRESSES.join(', ')} (unit ${unitId} on ${bus.endpoint})`);
}

async function walkChain(bus: ModbusBus, unitId: number, device: string, first: number): Promise<DiscoveredModel[]> {
  const models: DiscoveredModel[] = [];
  for (let address = first; ; ) {
    const [id, length] = await bus.readHoldingRegisters(unitId, address, 2);
    if (id === END_MODEL_ID) return models;
    if (id === undefined || length === undefined || models.length >= MAX_MODELS || address + 2 + length > 0xffff) {
      throw new DeviceError('garbage', device, `SunSpec model chain breaks at register ${address} (id ${id}, length ${length})`);
    }
    models.push({ id, address, length });
    address += 2 + length;
  }
}
