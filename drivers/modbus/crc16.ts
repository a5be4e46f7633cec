/**
 * Modbus RTU CRC-16 (polynomial 0xA001, initial 0xFFFF), taken from modbus-serial so the
 * client, the simulated slaves and the fuzz tests agree with the library on every frame.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const libraryCrc16 = require('modbus-serial/utils/crc16') as (frame: Uint8Array) => number;

/** Appends the CRC, low byte first as RTU sends it. */
export function withCrc(frame: Uint8Array): Buffer {
  const out = Buffer.alloc(frame.length + 2);
  out.set(frame);
  out.writeUInt16LE(libraryCrc16(frame), frame.length);
  return out;
}

export function hasValidCrc(frame: Uint8Array): boolean {
  if (frame.length < 4) return false;
  const body = frame.subarray(0, frame.length - 2);
  return libraryCrc16(body) === (frame[frame.length - 2]! | (frame[frame.length - 1]! << 8));
}
