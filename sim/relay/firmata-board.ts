/**
 * A virtual Firmata board (an Arduino running StandardFirmata, as far as the host can tell)
 * on the simulator's end of a pty, with relays on some of its digital pins. It answers the
 * handshake johnny-five/firmata.js performs (REPORT_VERSION, REPORT_FIRMWARE, CAPABILITY and
 * ANALOG_MAPPING queries), pin-mode changes, digital writes (port-wise DIGITAL_MESSAGE and
 * SET_DIGITAL_PIN_VALUE) and PIN_STATE queries; a relay pin driven HIGH switches its load on
 * in the plant. Protocol: Firmata 2.5 (firmata/protocol, protocol.md and pin-state-query.md).
 */
import { SerialPort } from 'serialport';
import type { PlantView } from '../plant/plant-view.ts';

const DIGITAL_MESSAGE = 0x90;
const REPORT_ANALOG = 0xc0;
const REPORT_DIGITAL = 0xd0;
const ANALOG_MESSAGE = 0xe0;
const START_SYSEX = 0xf0;
const SET_PIN_MODE = 0xf4;
const SET_DIGITAL_PIN_VALUE = 0xf5;
const END_SYSEX = 0xf7;
const REPORT_VERSION = 0xf9;
const SYSTEM_RESET = 0xff;
const ANALOG_MAPPING_QUERY = 0x69;
const ANALOG_MAPPING_RESPONSE = 0x6a;
const CAPABILITY_QUERY = 0x6b;
const CAPABILITY_RESPONSE = 0x6c;
const PIN_STATE_QUERY = 0x6d;
const PIN_STATE_RESPONSE = 0x6e;
const REPORT_FIRMWARE = 0x79;

const MODE_INPUT = 0;
const MODE_OUTPUT = 1;
const MODE_ANALOG = 2;
const PROTOCOL_VERSION = [2, 5] as const;
const FIRMWARE_NAME = 'prosumer-edge-sim.ino';

/** An Uno's pin map: 0–1 serial, 2–13 digital, 14–19 analog inputs A0–A5. */
const PIN_COUNT = 20;
const FIRST_ANALOG_PIN = 14;
const isUsable = (pin: number) => pin >= 2 && pin < PIN_COUNT;

/** Length of each host-to-board MIDI-style message by command (upper nibble for channel commands). */
function messageLength(command: number): number | undefined {
  if (command >= 0xf0) return { [REPORT_VERSION]: 1, [SYSTEM_RESET]: 1, [SET_PIN_MODE]: 3, [SET_DIGITAL_PIN_VALUE]: 3 }[command];
  return { [DIGITAL_MESSAGE]: 3, [ANALOG_MESSAGE]: 3, [REPORT_ANALOG]: 2, [REPORT_DIGITAL]: 2 }[command & 0xf0];
}

export interface FirmataRelayBoardOptions {
  path: string;
  plant: PlantView;
  /** Relay pins and the plant load channel each one switches. */
  relayPins: Map<number, number>;
  baudRate?: number;
}

export interface FirmataRelayBoard {
  /** A board that stops answering (hung firmware, brown-out): it ignores everything. */
  setSilent(silent: boolean): void;
  /** The level the board drives on a pin (0/1). */
  pinLevel(pin: number): number;
  close(): Promise<void>;
}

export async function startFirmataRelayBoard(options: FirmataRelayBoardOptions): Promise<FirmataRelayBoard> {
  const { plant, relayPins } = options;
  for (const pin of relayPins.keys()) if (!isUsable(pin)) throw new RangeError(`relay pin ${pin} is not a usable digital pin (2..${PIN_COUNT - 1})`);
  const modes = new Array<number>(PIN_COUNT).fill(MODE_INPUT);
  const levels = new Array<number>(PIN_COUNT).fill(0);
  let silent = false;

  const port = new SerialPort({ path: options.path, baudRate: options.baudRate ?? 57600, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  port.on('error', () => undefined);

  const send = (bytes: number[]) => port.write(Buffer.from(bytes));
  const drive = (pin: number, level: number) => {
    if (!isUsable(pin) || modes[pin] !== MODE_OUTPUT) return; // Firmata ignores writes to pins not in OUTPUT mode
    levels[pin] = level ? 1 : 0;
    const channel = relayPins.get(pin);
    if (channel !== undefined) plant.setRelay(channel, level !== 0);
  };
  const reset = () => {
    for (let pin = 0; pin < PIN_COUNT; pin++) {
      if (modes[pin] === MODE_OUTPUT) drive(pin, 0);
      modes[pin] = MODE_INPUT;
    }
  };

  const sysex = (data: number[]) => {
    const [command, ...args] = data;
    switch (command) {
      case REPORT_FIRMWARE: {
        const name = [...Buffer.from(FIRMWARE_NAME, 'ascii')].flatMap((c) => [c & 0x7f, c >> 7]);
        send([START_SYSEX, REPORT_FIRMWARE, ...PROTOCOL_VERSION, ...name, END_SYSEX]);
        break;
      }
      case CAPABILITY_QUERY: {
        const pins = Array.from({ length: PIN_COUNT }, (_, pin) => {
          if (!isUsable(pin)) return [0x7f];
          const digital = [MODE_INPUT, 1, MODE_OUTPUT, 1];
          return pin >= FIRST_ANALOG_PIN ? [...digital, MODE_ANALOG, 10, 0x7f] : [...digital, 0x7f];
        });
        send([START_SYSEX, CAPABILITY_RESPONSE, ...pins.flat(), END_SYSEX]);
        break;
      }
      case ANALOG_MAPPING_QUERY:
        send([START_SYSEX, ANALOG_MAPPING_RESPONSE, ...Array.from({ length: PIN_COUNT }, (_, pin) => (pin >= FIRST_ANALOG_PIN ? pin - FIRST_ANALOG_PIN : 0x7f)), END_SYSEX]);
        break;
      case PIN_STATE_QUERY: {
        const pin = args[0];
        if (pin !== undefined && pin < PIN_COUNT) send([START_SYSEX, PIN_STATE_RESPONSE, pin, modes[pin]!, levels[pin]!, END_SYSEX]);
        break;
      }
      default:
        break; // sampling interval, I2C, … : nothing a relay board needs
    }
  };

  const message = (bytes: number[]) => {
    const [command, a = 0, b = 0] = bytes as [number, number?, number?];
    if (command === REPORT_VERSION) send([REPORT_VERSION, ...PROTOCOL_VERSION]);
    else if (command === SYSTEM_RESET) reset();
    else if (command === SET_PIN_MODE) {
      const supported = b === MODE_INPUT || b === MODE_OUTPUT || (b === MODE_ANALOG && a >= FIRST_ANALOG_PIN);
      if (isUsable(a) && supported) modes[a] = b;
    } else if (command === SET_DIGITAL_PIN_VALUE) drive(a, b);
    else if ((command & 0xf0) === DIGITAL_MESSAGE) {
      const portBits = a | (b << 7);
      for (let bit = 0; bit < 8; bit++) drive((command & 0x0f) * 8 + bit, (portBits >> bit) & 1);
    }
    // REPORT_ANALOG / REPORT_DIGITAL / ANALOG_MESSAGE: accepted, nothing to report or drive
  };

  let pending: number[] = [];
  let inSysex = false;
  port.on('data', (chunk: Buffer) => {
    if (silent) return;
    for (const byte of chunk) {
      if (inSysex) {
        if (byte === END_SYSEX) {
          inSysex = false;
          sysex(pending);
          pending = [];
        } else if (byte >= 0x80) {
          inSysex = false; // a command inside a sysex: the sysex was cut short, start over
          pending = [];
        } else pending.push(byte);
        if (inSysex || byte === END_SYSEX) continue;
      }
      if (byte === START_SYSEX) {
        inSysex = true;
        pending = [];
        continue;
      }
      if (byte >= 0x80) pending = [byte];
      else if (pending.length > 0) pending.push(byte);
      else continue; // a data byte with no command: line noise
      const length = messageLength(pending[0]!);
      if (length === undefined) pending = [];
      else if (pending.length === length) {
        message(pending);
        pending = [];
      }
    }
  });

  return {
    setSilent(s) {
      silent = s;
    },
    pinLevel: (pin) => levels[pin] ?? 0,
    close: () => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())),
  };
}
