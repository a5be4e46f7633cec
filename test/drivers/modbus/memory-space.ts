/** A register space with known contents for the transport tests: registers hold 1000 + address unless written. */
import { SlaveException, type RegisterSpace } from '../../../sim/modbus/register-space.ts';
import { ModbusExceptionCode } from '../../../drivers/modbus/bus.ts';

export class MemorySpace implements RegisterSpace {
  readonly holding: Uint16Array;
  readonly coils: boolean[];

  constructor(size = 1000, first = 1000) {
    this.holding = Uint16Array.from({ length: size }, (_, i) => first + i);
    this.coils = Array.from({ length: 64 }, (_, i) => i % 3 === 0);
  }

  readHolding(address: number, count: number): Uint16Array {
    this.check(address, count, this.holding.length);
    return this.holding.slice(address, address + count);
  }

  writeHolding(address: number, values: Uint16Array): void {
    this.check(address, values.length, this.holding.length);
    this.holding.set(values, address);
  }

  readCoils(address: number, count: number): boolean[] {
    this.check(address, count, this.coils.length);
    return this.coils.slice(address, address + count);
  }

  writeCoil(address: number, on: boolean): void {
    this.check(address, 1, this.coils.length);
    this.coils[address] = on;
  }

  private check(address: number, count: number, size: number): void {
    if (address + count > size) throw new SlaveException(ModbusExceptionCode.IllegalDataAddress);
  }
}
