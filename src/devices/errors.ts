/**
 * Why a device read or write failed. Every failure the drivers see maps to one of these
 * kinds, so the control loops can react by kind (retry later, fall back, raise an alarm)
 * without knowing the bus.
 */
export type DeviceErrorKind =
  | 'timeout' // no answer within the deadline
  | 'disconnected' // transport closed or could not be opened
  | 'exception' // the device answered with a protocol exception (e.g. a Modbus exception code)
  | 'crc' // a frame failed its checksum
  | 'garbage' // an answer that does not parse, or a value outside what the device can mean
  | 'not-implemented' // the point exists but carries the "no value" sentinel
  | 'mismatch' // a write did not read back as written
  | 'discovery' // the expected device model was not found
  | 'backoff'; // not attempted: the device is in its back-off window after failures

export class DeviceError extends Error {
  constructor(
    readonly kind: DeviceErrorKind,
    readonly device: string,
    message: string,
    readonly detail: { code?: number; cause?: unknown } = {},
  ) {
    super(`${device}: ${message}`);
    this.name = 'DeviceError';
  }
}

export function isDeviceError(e: unknown): e is DeviceError {
  return e instanceof DeviceError;
}
