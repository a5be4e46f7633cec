/**
 * The fault switchboard of the simulated Modbus slaves: a test or the simulator flips faults
 * per unit id at run time and the TCP server and RTU slave apply them to the next request.
 * `set` replaces the unit's faults; `clear` makes the unit healthy again.
 */
export interface UnitFaults {
  /** Do not answer at all (a dead or unplugged device). */
  silent?: boolean;
  /** Answer every request with this Modbus exception code. */
  exceptionCode?: number;
  /** RTU: send the answer with a wrong CRC. */
  crcError?: boolean;
  /** RTU: random bytes before or inside the answer frame (a noisy line). */
  lineNoise?: boolean;
  /**
   * RTU: the answer arrives in pieces of `bytes` bytes, `gapMs` apart, as a USB–RS485 adapter
   * hands them over when its latency timer (16 ms by default on FTDI chips) runs out.
   */
  chunked?: { bytes: number; gapMs: number };
  /** A well-framed answer that makes no sense: wrong byte count or wrong function code. */
  garbage?: boolean;
  /** TCP: answer with this MBAP protocol id instead of 0 (Modbus): a correct PDU in a frame of another protocol. */
  protocolId?: number;
  /** TCP: close the connection instead of answering. */
  dropConnection?: boolean;
  /** Answer this much later (on top of RTU wire time). */
  delayMs?: number;
}

export class ModbusFaults {
  private readonly byUnit = new Map<number, Readonly<UnitFaults>>();
  private state: number;

  /** `seed` makes line noise and garbage reproducible. */
  constructor(seed = 1) {
    this.state = seed >>> 0;
  }

  set(unitId: number, faults: UnitFaults): void {
    const { exceptionCode, delayMs } = faults;
    if (exceptionCode !== undefined && !(Number.isInteger(exceptionCode) && exceptionCode >= 1 && exceptionCode <= 255)) {
      throw new RangeError(`Modbus exception code must be 1..255, got ${exceptionCode}`);
    }
    if (delayMs !== undefined && !(delayMs >= 0)) throw new RangeError(`delayMs must be >= 0, got ${delayMs}`);
    const { chunked } = faults;
    if (chunked !== undefined && !(Number.isInteger(chunked.bytes) && chunked.bytes >= 1 && chunked.gapMs >= 0)) throw new RangeError(`chunked needs bytes >= 1 and gapMs >= 0, got ${JSON.stringify(chunked)}`);
    const { protocolId } = faults;
    if (protocolId !== undefined && !(Number.isInteger(protocolId) && protocolId >= 0 && protocolId <= 0xffff)) throw new RangeError(`protocolId must be 0..65535, got ${protocolId}`);
    this.byUnit.set(unitId, Object.freeze({ ...faults }));
  }

  clear(unitId: number): void {
    this.byUnit.delete(unitId);
  }

  clearAll(): void {
    this.byUnit.clear();
  }

  get(unitId: number): Readonly<UnitFaults> {
    return this.byUnit.get(unitId) ?? {};
  }

  /** Uniform in [0, 1), from a seeded generator (mulberry32). */
  random(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  randomBytes(count: number): Buffer {
    return Buffer.from(Array.from({ length: count }, () => Math.floor(this.random() * 256)));
  }
}
