/**
 * What a simulated Modbus slave serves: one unit's holding registers, input registers and coils. The TCP
 * server and the RTU slave call these for each request; a method throws SlaveException to
 * answer with a Modbus exception code.
 */
export interface RegisterSpace {
  readHolding(address: number, count: number): Uint16Array;
  writeHolding(address: number, values: Uint16Array): void;
  /** Function code 4; a space without input registers answers it with exception 1. */
  readInput?(address: number, count: number): Uint16Array;
  readCoils?(address: number, count: number): boolean[];
  writeCoil?(address: number, on: boolean): void;
}

export class SlaveException extends Error {
  constructor(readonly code: number) {
    super(`Modbus exception ${code}`);
  }
}
