/**
 * What a simulated slave answers to one request PDU (function code + data), shared by the TCP
 * server and the RTU slave, which only differ in framing. Function codes 1, 3, 4, 5, 6 and 16;
 * anything else is exception 1, a SlaveException from the register space becomes its code and
 * any other failure of the space becomes exception 4 (server device failure).
 */
import { SlaveException, type RegisterSpace } from './register-space.ts';
import { ModbusExceptionCode } from '../../drivers/modbus/bus.ts';
import type { ModbusFaults } from './faults.ts';

class RequestException extends Error {
  constructor(readonly code: number) {
    super(`exception ${code}`);
  }
}

export function exceptionPdu(functionCode: number, code: number): Buffer {
  return Buffer.from([(functionCode | 0x80) & 0xff, code]);
}

function answerPdu(space: RegisterSpace, request: Buffer): Buffer {
  const functionCode = request[0] ?? 0;
  try {
    return answer(space, request);
  } catch (e) {
    const code = e instanceof RequestException || e instanceof SlaveException ? e.code : ModbusExceptionCode.ServerDeviceFailure;
    return exceptionPdu(functionCode, code);
  }
}

function answer(space: RegisterSpace, request: Buffer): Buffer {
  const functionCode = request[0];
  const field = (offset: number) => {
    if (request.length < offset + 2) throw new RequestException(ModbusExceptionCode.IllegalDataValue);
    return request.readUInt16BE(offset);
  };
  switch (functionCode) {
    case 1: {
      if (!space.readCoils) throw new RequestException(ModbusExceptionCode.IllegalFunction);
      const address = field(1);
      const count = quantity(field(3), 2000, address);
      const coils = space.readCoils(address, count);
      const bytes = Buffer.alloc(Math.ceil(count / 8));
      coils.slice(0, count).forEach((on, i) => {
        if (on) bytes[i >> 3]! |= 1 << (i & 7);
      });
      return Buffer.concat([Buffer.from([1, bytes.length]), bytes]);
    }
    case 3:
    case 4: {
      const read = functionCode === 3 ? space.readHolding.bind(space) : space.readInput?.bind(space);
      if (!read) throw new RequestException(ModbusExceptionCode.IllegalFunction);
      const address = field(1);
      const count = quantity(field(3), 125, address);
      const words = read(address, count);
      if (words.length !== count) throw new RequestException(ModbusExceptionCode.ServerDeviceFailure);
      const out = Buffer.alloc(2 + 2 * count);
      out[0] = functionCode;
      out[1] = 2 * count;
      words.forEach((w, i) => out.writeUInt16BE(w, 2 + 2 * i));
      return out;
    }
    case 5: {
      if (!space.writeCoil) throw new RequestException(ModbusExceptionCode.IllegalFunction);
      const value = field(3);
      if (value !== 0xff00 && value !== 0) throw new RequestException(ModbusExceptionCode.IllegalDataValue);
      space.writeCoil(field(1), value === 0xff00);
      return Buffer.from(request.subarray(0, 5));
    }
    case 6:
      space.writeHolding(field(1), Uint16Array.of(field(3)));
      return Buffer.from(request.subarray(0, 5));
    case 16: {
      const address = field(1);
      const count = quantity(field(3), 123, address);
      if (request[5] !== 2 * count || request.length !== 6 + 2 * count) throw new RequestException(ModbusExceptionCode.IllegalDataValue);
      space.writeHolding(address, Uint16Array.from({ length: count }, (_, i) => request.readUInt16BE(6 + 2 * i)));
      return Buffer.from(request.subarray(0, 5));
    }
    default:
      throw new RequestException(ModbusExceptionCode.IllegalFunction);
  }
}

function quantity(count: number, max: number, address: number): number {
  if (count < 1 || count > max) throw new RequestException(ModbusExceptionCode.IllegalDataValue);
  if (address + count > 0x10000) throw new RequestException(ModbusExceptionCode.IllegalDataAddress);
  return count;
}

/** Well-framed nonsense for the `garbage` fault: the function code or the byte count is wrong. */
function garblePdu(pdu: Buffer, faults: ModbusFaults): Buffer {
  const functionCode = pdu[0]!;
  if (faults.random() < 0.5) return Buffer.concat([Buffer.from([functionCode === 0x7f ? 1 : functionCode + 1]), pdu.subarray(1)]);
  if (functionCode === 1 || functionCode === 3 || functionCode === 4) {
    // Claims (and carries) two bytes more than were asked for.
    return Buffer.concat([Buffer.from([functionCode, pdu[1]! + 2]), pdu.subarray(2), faults.randomBytes(2)]);
  }
  return Buffer.from(pdu.subarray(0, Math.max(1, pdu.length - 2)));
}

/** The faulted answer for a unit, or undefined to stay silent. Framing-level faults are the server's. */
export function faultedAnswer(space: RegisterSpace, request: Buffer, faults: ModbusFaults, unitId: number): Buffer | undefined {
  const f = faults.get(unitId);
  if (f.silent) return undefined;
  if (f.exceptionCode !== undefined) return exceptionPdu(request[0] ?? 0, f.exceptionCode);
  const pdu = answerPdu(space, request);
  return f.garbage ? garblePdu(pdu, faults) : pdu;
}
