/**
 * INFO payloads of the three Pylontech commands the gateway needs (PYLON RS-485 protocol
 * V3.3): 0x42 analog values, 0x44 alarm info, 0x92 charge/discharge management info.
 * Encoders serve the simulator, decoders the driver; both live here so the two cannot drift.
 * Scaling: voltages in mV, currents in 100 mA (signed, + = charging), temperatures in 0.1 K
 * with 2731 = 0 °C, capacities in mAh.
 */
import { FrameError } from './pylontech-frame.ts';

export const Command = { AnalogValues: 0x42, AlarmInfo: 0x44, ChargeManagement: 0x92 } as const;

/** CID2 of a response (RTN): 0 = normal, others = the device refused the request. */
export const ReturnCode: Record<number, string> = {
  0x01: 'VER error',
  0x02: 'CHKSUM error',
  0x03: 'LCHKSUM error',
  0x04: 'CID2 invalid',
  0x05: 'command format error',
  0x06: 'invalid data',
  0x90: 'ADR error',
  0x91: 'communication error',
};

const KELVIN_OFFSET_DECI = 2731;
/** Capacity fields are 16 bits (≤ 65.535 Ah); "user defined" = 4 adds 24-bit fields for bigger packs. */
const USER_DEFINED_SHORT = 2;
const USER_DEFINED_LONG = 4;

export interface AnalogValues {
  cellVoltagesV: number[];
  temperaturesC: number[];
  /** + charging, − discharging (the protocol's sign). */
  currentA: number;
  voltageV: number;
  remainingAh: number;
  totalAh: number;
  cycles: number;
}

/** Per-point status in 0x44: 0 normal, 1 below lower limit, 2 above upper limit, 0xF0 other fault. */
export type PointStatus = number;
export interface AlarmInfo {
  cells: PointStatus[];
  temperatures: PointStatus[];
  chargeCurrent: PointStatus;
  packVoltage: PointStatus;
  dischargeCurrent: PointStatus;
  /** Status 1..5 bit fields. */
  status: [number, number, number, number, number];
}

export interface ChargeManagement {
  chargeVoltageLimitV: number;
  dischargeVoltageLimitV: number;
  chargeCurrentLimitA: number;
  /** As sent: Pylontech packs report it negative (discharge direction). */
  dischargeCurrentLimitA: number;
  chargeEnabled: boolean;
  dischargeEnabled: boolean;
  chargeImmediately: boolean;
  fullChargeRequest: boolean;
}

/** Status 1 of 0x44, bit by bit (bit 3 is reserved). */
const STATUS1_FLAGS: [number, string][] = [
  [0x80, 'moduleUnderVoltage'],
  [0x40, 'chargeOverTemperature'],
  [0x20, 'dischargeOverTemperature'],
  [0x10, 'dischargeOverCurrent'],
  [0x04, 'chargeOverCurrent'],
  [0x02, 'cellUnderVoltage'],
  [0x01, 'moduleOverVoltage'],
];

export function status1Bit(flag: string): number | undefined {
  return STATUS1_FLAGS.find(([, name]) => name === flag)?.[0];
}

/** Named protections active in an alarm-info answer, each named once. */
export function protectionNames(alarm: AlarmInfo): string[] {
  const names = new Set<string>();
  const point = (status: PointStatus, low: string, high: string) => {
    if (status === 1) names.add(low);
    else if (status === 2) names.add(high);
    else if (status !== 0) names.add(`${low.replace(/Under|Low/, '')}Fault`);
  };
  for (const s of alarm.cells) point(s, 'cellUnderVoltage', 'cellOverVoltage');
  for (const s of alarm.temperatures) point(s, 'temperatureLow', 'temperatureHigh');
  point(alarm.chargeCurrent, 'chargeCurrentLow', 'chargeOverCurrent');
  point(alarm.packVoltage, 'moduleUnderVoltage', 'moduleOverVoltage');
  point(alarm.dischargeCurrent, 'dischargeCurrentLow', 'dischargeOverCurrent');
  for (const [bit, name] of STATUS1_FLAGS) if (alarm.status[0] & bit) names.add(name);
  return [...names].sort();
}

class Reader {
  private offset = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
  ) {}
  private take(n: number): Uint8Array {
    if (this.offset + n > this.bytes.length) throw new FrameError('garbage', `${this.what}: INFO ends after ${this.bytes.length} bytes, expected more`);
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
  u8(): number {
    return this.take(1)[0]!;
  }
  u16(): number {
    const b = this.take(2);
    return (b[0]! << 8) | b[1]!;
  }
  i16(): number {
    const v = this.u16();
    return v >= 0x8000 ? v - 0x10000 : v;
  }
  u24(): number {
    const b = this.take(3);
    return (b[0]! << 16) | (b[1]! << 8) | b[2]!;
  }
  array<T>(count: number, item: () => T): T[] {
    return Array.from({ length: count }, item);
  }
  end(): void {
    if (this.offset !== this.bytes.length) throw new FrameError('garbage', `${this.what}: ${this.bytes.length - this.offset} unexpected bytes after the last field`);
  }
}

class Writer {
  readonly bytes: number[] = [];
  u8(v: number): this {
    this.bytes.push(clampInt(v, 0, 0xff));
    return this;
  }
  u16(v: number): this {
    const x = clampInt(v, 0, 0xffff);
    this.bytes.push(x >> 8, x & 0xff);
    return this;
  }
  i16(v: number): this {
    return this.u16(clampInt(v, -0x8000, 0x7fff) & 0xffff);
  }
  u24(v: number): this {
    const x = clampInt(v, 0, 0xffffff);
    this.bytes.push(x >> 16, (x >> 8) & 0xff, x & 0xff);
    return this;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

function clampInt(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Math.round(v)));
}

const toC = (deciKelvin: number) => (deciKelvin - KELVIN_OFFSET_DECI) / 10;
const fromC = (c: number) => c * 10 + KELVIN_OFFSET_DECI;

/** 0x42 response INFO: INFOFLAG, pack address, cells, temperatures, current, voltage, capacities, cycles. */
export function decodeAnalogValues(info: Uint8Array): AnalogValues {
  const r = new Reader(info, 'analog values (0x42)');
  r.u8(); // INFOFLAG
  r.u8(); // pack address (command value)
  const cellVoltagesV = r.array(r.u8(), () => r.u16() / 1000);
  const temperaturesC = r.array(r.u8(), () => toC(r.i16()));
  const currentA = r.i16() / 10;
  const voltageV = r.u16() / 1000;
  let remainingAh = r.u16() / 1000;
  const userDefined = r.u8();
  let totalAh = r.u16() / 1000;
  const cycles = r.u16();
  if (userDefined === USER_DEFINED_LONG) {
    remainingAh = r.u24() / 1000;
    totalAh = r.u24() / 1000;
  } else if (userDefined !== USER_DEFINED_SHORT) {
    throw new FrameError('garbage', `analog values (0x42): user-defined count ${userDefined}, expected 2 or 4`);
  }
  r.end();
  return { cellVoltagesV, temperaturesC, currentA, voltageV, remainingAh, totalAh, cycles };
}

export function encodeAnalogValues(address: number, v: AnalogValues): Uint8Array {
  const w = new Writer().u8(0x00).u8(address).u8(v.cellVoltagesV.length);
  for (const cell of v.cellVoltagesV) w.u16(cell * 1000);
  w.u8(v.temperaturesC.length);
  for (const t of v.temperaturesC) w.i16(fromC(t));
  w.i16(v.currentA * 10).u16(v.voltageV * 1000);
  const long = v.totalAh * 1000 > 0xffff;
  // Packs over 65 Ah send 0xFFFF in the 16-bit fields and the real values in the 24-bit ones.
  w.u16(long ? 0xffff : v.remainingAh * 1000).u8(long ? USER_DEFINED_LONG : USER_DEFINED_SHORT).u16(long ? 0xffff : v.totalAh * 1000).u16(v.cycles);
  if (long) w.u24(v.remainingAh * 1000).u24(v.totalAh * 1000);
  return w.done();
}

/** 0x44 response INFO: INFOFLAG, pack address, per-cell and per-sensor status, current/voltage status, status 1..5. */
export function decodeAlarmInfo(info: Uint8Array): AlarmInfo {
  const r = new Reader(info, 'alarm info (0x44)');
  r.u8(); // INFOFLAG
  r.u8(); // pack address
  const cells = r.array(r.u8(), () => r.u8());
  const temperatures = r.array(r.u8(), () => r.u8());
  const chargeCurrent = r.u8();
  const packVoltage = r.u8();
  const dischargeCurrent = r.u8();
  const status: AlarmInfo['status'] = [r.u8(), r.u8(), r.u8(), r.u8(), r.u8()];
  r.end();
  return { cells, temperatures, chargeCurrent, packVoltage, dischargeCurrent, status };
}

export function encodeAlarmInfo(address: number, a: AlarmInfo): Uint8Array {
  const w = new Writer().u8(0x00).u8(address).u8(a.cells.length);
  for (const s of a.cells) w.u8(s);
  w.u8(a.temperatures.length);
  for (const s of a.temperatures) w.u8(s);
  w.u8(a.chargeCurrent).u8(a.packVoltage).u8(a.dischargeCurrent);
  for (const s of a.status) w.u8(s);
  return w.done();
}

const STATUS_CHARGE_ENABLE = 0x80;
const STATUS_DISCHARGE_ENABLE = 0x40;
/** Bits 5 and 4: "charge immediately" at SoC 5–9 % and 9–13 %. */
const STATUS_CHARGE_IMMEDIATELY = 0x30;
const STATUS_CHARGE_IMMEDIATELY_LOW_SOC = 0x20;
const STATUS_FULL_CHARGE_REQUEST = 0x08;

/** 0x92 response INFO: pack address, charge/discharge voltage limits, current limits, status. */
export function decodeChargeManagement(info: Uint8Array): ChargeManagement {
  const r = new Reader(info, 'charge/discharge management (0x92)');
  r.u8(); // pack address
  const chargeVoltageLimitV = r.u16() / 1000;
  const dischargeVoltageLimitV = r.u16() / 1000;
  const chargeCurrentLimitA = r.i16() / 10;
  const dischargeCurrentLimitA = r.i16() / 10;
  const s = r.u8();
  r.end();
  return {
    chargeVoltageLimitV,
    dischargeVoltageLimitV,
    chargeCurrentLimitA,
    dischargeCurrentLimitA,
    chargeEnabled: (s & STATUS_CHARGE_ENABLE) !== 0,
    dischargeEnabled: (s & STATUS_DISCHARGE_ENABLE) !== 0,
    chargeImmediately: (s & STATUS_CHARGE_IMMEDIATELY) !== 0,
    fullChargeRequest: (s & STATUS_FULL_CHARGE_REQUEST) !== 0,
  };
}

export function encodeChargeManagement(address: number, m: ChargeManagement): Uint8Array {
  const status =
    (m.chargeEnabled ? STATUS_CHARGE_ENABLE : 0) |
    (m.dischargeEnabled ? STATUS_DISCHARGE_ENABLE : 0) |
    (m.chargeImmediately ? STATUS_CHARGE_IMMEDIATELY_LOW_SOC : 0) |
    (m.fullChargeRequest ? STATUS_FULL_CHARGE_REQUEST : 0);
  return new Writer()
    .u8(address)
    .u16(m.chargeVoltageLimitV * 1000)
    .u16(m.dischargeVoltageLimitV * 1000)
    .i16(m.chargeCurrentLimitA * 10)
    .i16(m.dischargeCurrentLimitA * 10)
    .u8(status)
    .done();
}
