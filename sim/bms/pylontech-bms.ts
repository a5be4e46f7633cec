/**
 * A simulated Pylontech-protocol BMS on the simulator's end of a serial port. It answers
 * 0x42 / 0x44 / 0x92 from the plant (cells, temperatures, current from battery power and
 * pack voltage, live limits from the plant's charge/discharge limits) and can be told to
 * misbehave the ways real RS-485 lines do.
 */
import { SerialPort } from 'serialport';
import { CID1_BATTERY, FrameParser, encodeFrame, type PylonFrame } from '../../drivers/bms/pylontech-frame.ts';
import { Command, encodeAlarmInfo, encodeAnalogValues, encodeChargeManagement, status1Bit, type AlarmInfo } from '../../drivers/bms/pylontech-info.ts';
import type { PlantView } from '../plant/plant-view.ts';

/**
 * silent: no answer. bad-checksum: the answer's CHKSUM is off by one. garbage: line noise
 * instead of the answer. line-noise: line noise, then the correct answer. truncated: the
 * answer cut off before its end.
 */
export type BmsFault = 'none' | 'silent' | 'bad-checksum' | 'garbage' | 'line-noise' | 'truncated';

/** Protections the simulator can raise besides Status 1's bits: per-point alarms. */
const POINT_PROTECTIONS = ['cellOverVoltage', 'cellUnderVoltage', 'temperatureHigh', 'temperatureLow'] as const;

export interface PylontechBmsSimOptions {
  path: string;
  plant: PlantView;
  baudRate?: number;
  address?: number;
  /** Cell nominal voltage, to express the plant's kWh capacity in Ah (LFP: 3.2 V). */
  nominalCellVoltageV?: number;
}

export interface PylontechBmsSim {
  setFault(fault: BmsFault): void;
  /** Raises protection flags by the names the driver reports (e.g. "cellOverVoltage", "chargeOverTemperature"). */
  setProtections(names: string[]): void;
  readonly requestsAnswered: number;
  close(): Promise<void>;
}

/** LFP per-cell voltage window the BMS advertises in 0x92. */
const CELL_CHARGE_LIMIT_V = 3.55;
const CELL_DISCHARGE_LIMIT_V = 2.9;
/** Below this SoC the BMS asks for charging (0x92 status bit "charge immediately"). */
const CHARGE_IMMEDIATELY_BELOW_SOC = 0.09;

/** Bytes that can never start a frame: noise a real line produces (no '~'). */
const NOISE = Buffer.from([0x00, 0xff, 0x55, 0x0d, 0xaa, 0x31, 0x0d, 0x80, 0x46, 0x13]);

export async function startPylontechBmsSim(options: PylontechBmsSimOptions): Promise<PylontechBmsSim> {
  const { plant } = options;
  const address = options.address ?? 2;
  const nominalCellV = options.nominalCellVoltageV ?? 3.2;
  let fault: BmsFault = 'none';
  let protections = new Set<string>();
  let answered = 0;

  const port = new SerialPort({ path: options.path, baudRate: options.baudRate ?? 9600, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  // A simulated device that loses its line stays quiet; the gateway side reports it.
  port.on('error', () => undefined);

  const analogValues = () => {
    const voltageV = plant.batteryPackVoltageV();
    const cells = plant.batteryCellVoltagesV();
    const totalAh = (plant.batteryCapacityKwh() * 1000) / (cells.length * nominalCellV);
    return {
      cellVoltagesV: cells,
      temperaturesC: plant.batteryTemperaturesC(),
      // + discharge at the gateway, + charge on the wire.
      currentA: voltageV > 0 ? -(plant.batteryPowerKw() * 1000) / voltageV : 0,
      voltageV,
      remainingAh: plant.batterySocFraction() * totalAh,
      totalAh,
      cycles: 0,
    };
  };

  const alarmInfo = (): AlarmInfo => {
    const cells = plant.batteryCellVoltagesV().map(() => 0);
    const temperatures = plant.batteryTemperaturesC().map(() => 0);
    const mark = (points: number[], status: number) => points.fill(status, 0, 1);
    if (protections.has('cellUnderVoltage')) mark(cells, 1);
    if (protections.has('cellOverVoltage')) mark(cells, 2);
    if (protections.has('temperatureLow')) mark(temperatures, 1);
    if (protections.has('temperatureHigh')) mark(temperatures, 2);
    let status1 = 0;
    for (const name of protections) status1 |= status1Bit(name) ?? 0;
    return { cells, temperatures, chargeCurrent: 0, packVoltage: 0, dischargeCurrent: 0, status: [status1, 0, 0, 0, 0] };
  };

  const chargeManagement = () => {
    const voltageV = plant.batteryPackVoltageV();
    const cellCount = plant.batteryCellVoltagesV().length;
    const chargeA = voltageV > 0 ? (plant.batteryMaxChargeKw() * 1000) / voltageV : 0;
    const dischargeA = voltageV > 0 ? (plant.batteryMaxDischargeKw() * 1000) / voltageV : 0;
    return {
      chargeVoltageLimitV: cellCount * CELL_CHARGE_LIMIT_V,
      dischargeVoltageLimitV: cellCount * CELL_DISCHARGE_LIMIT_V,
      chargeCurrentLimitA: chargeA,
      dischargeCurrentLimitA: -dischargeA,
      chargeEnabled: chargeA > 0,
      dischargeEnabled: dischargeA > 0,
      chargeImmediately: plant.batterySocFraction() < CHARGE_IMMEDIATELY_BELOW_SOC,
      fullChargeRequest: false,
    };
  };

  const answer = (request: PylonFrame): Buffer => {
    const respond = (cid2: number, info: Uint8Array) => encodeFrame({ ver: request.ver, adr: address, cid1: CID1_BATTERY, cid2, info });
    switch (request.cid2) {
      case Command.AnalogValues:
        return respond(0, encodeAnalogValues(address, analogValues()));
      case Command.AlarmInfo:
        return respond(0, encodeAlarmInfo(address, alarmInfo()));
      case Command.ChargeManagement:
        return respond(0, encodeChargeManagement(address, chargeManagement()));
      default:
        return respond(0x04, new Uint8Array()); // RTN: CID2 invalid
    }
  };

  const misbehave = (frame: Buffer): Buffer | undefined => {
    switch (fault) {
      case 'none':
        return frame;
      case 'silent':
        return undefined;
      case 'bad-checksum': {
        const out = Buffer.from(frame);
        const last = out.length - 2; // last CHKSUM char, before EOI
        out[last] = out[last] === 0x30 ? 0x31 : 0x30;
        return out;
      }
      case 'garbage':
        return NOISE;
      case 'line-noise':
        return Buffer.concat([NOISE, frame]);
      case 'truncated':
        return frame.subarray(0, Math.floor(frame.length / 2));
    }
  };

  const parser = new FrameParser();
  port.on('data', (chunk: Buffer) => {
    for (const event of parser.push(chunk)) {
      // Requests that fail their checksum go unanswered, as on a real bus.
      if (!('frame' in event) || event.frame.adr !== address || event.frame.cid1 !== CID1_BATTERY) continue;
      const out = misbehave(answer(event.frame));
      if (out) {
        answered++;
        port.write(out);
      }
    }
  });

  return {
    setFault(f) {
      fault = f;
    },
    setProtections(names) {
      for (const name of names) {
        if (status1Bit(name) === undefined && !(POINT_PROTECTIONS as readonly string[]).includes(name)) {
          throw new RangeError(`unknown protection "${name}"; known: ${[...POINT_PROTECTIONS].join(', ')} and the Status 1 flags`);
        }
      }
      protections = new Set(names);
    },
    get requestsAnswered() {
      return answered;
    },
    close: () => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())),
  };
}
