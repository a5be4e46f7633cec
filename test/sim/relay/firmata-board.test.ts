import { SerialPort } from 'serialport';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ModbusExceptionCode } from '../../../drivers/modbus/bus.ts';
import { SlaveException } from '../../../sim/modbus/register-space.ts';
import { startFirmataRelayBoard, type FirmataRelayBoard } from '../../../sim/relay/firmata-board.ts';
import { createRelayBoardSpace } from '../../../sim/relay/modbus-relay-board.ts';
import { openPtyPair, type PtyPair } from '../../../sim/serial/pty.ts';
import { TestPlant } from '../../fixtures/test-plant.ts';

describe('virtual Firmata relay board, spoken to with raw Firmata bytes', () => {
  let pty: PtyPair;
  let plant: TestPlant;
  let sim: FirmataRelayBoard;
  let port: SerialPort;
  let received: number[];

  beforeEach(async () => {
    pty = await openPtyPair('firmata-sim');
    plant = new TestPlant();
    sim = await startFirmataRelayBoard({ path: pty.simPath, plant, relayPins: new Map([[8, 0], [9, 1]]) });
    port = new SerialPort({ path: pty.devicePath, baudRate: 57600 });
    received = [];
    port.on('data', (d: Buffer) => received.push(...d));
    await new Promise((r) => port.once('open', r));
  });
  afterEach(async () => {
    await new Promise((r) => port.close(r));
    await sim.close();
    await pty.close();
  });
  const send = (bytes: number[]) => port.write(Buffer.from(bytes));
  const eventually = (check: () => void) => vi.waitFor(check, { timeout: 5_000 });
  /** The board handles bytes in order, so once it has answered this, everything sent before is done. */
  const settled = async () => {
    const before = received.length;
    send([0xf9]);
    await eventually(() => expect(received.length).toBe(before + 3));
    received.splice(before, 3);
  };

  it('answers REPORT_VERSION with protocol 2.5', async () => {
    send([0xf9]);
    await eventually(() => expect(received).toEqual([0xf9, 2, 5]));
  });

  it('ignores a digital write to a pin still in INPUT mode, and drives it once it is an OUTPUT', async () => {
    send([0x91, 0x01, 0x00]); // port 1 (pins 8–15), bit 0 → pin 8 high
    await settled();
    expect(plant.relayOn(0)).toBe(false);
    send([0xf4, 8, 1, 0x91, 0x01, 0x00]); // SET_PIN_MODE 8 OUTPUT, then the same write
    await eventually(() => expect(plant.relayOn(0)).toBe(true));
    send([0xf0, 0x6d, 8, 0xf7]); // PIN_STATE_QUERY 8
    await eventually(() => expect(received).toEqual([0xf0, 0x6e, 8, 1, 1, 0xf7]));
  });

  it('survives line noise and a cut-off sysex, and SYSTEM_RESET switches every relay off', async () => {
    send([0x13, 0x7f, 0x00, 0xf0, 0x6d, 0xf4, 9, 1, 0xf5, 9, 1]); // noise, a sysex cut by SET_PIN_MODE, SET_DIGITAL_PIN_VALUE 9 high
    await eventually(() => expect(plant.relayOn(1)).toBe(true));
    send([0xff]);
    await eventually(() => expect(plant.relayOn(1)).toBe(false));
    expect(sim.pinLevel(9)).toBe(0);
  });
});

describe('simulated Modbus relay board register space', () => {
  it('maps coil n to its plant load and refuses addresses the board does not have', () => {
    const plant = new TestPlant();
    const board = createRelayBoardSpace(plant, [2, 3]);
    board.writeCoil!(1, true);
    expect(plant.relayOn(3)).toBe(true);
    expect(board.readCoils!(0, 2)).toEqual([false, true]);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e instanceof SlaveException ? e.code : e;
      }
      return 'no exception';
    };
    expect(code(() => board.readCoils!(1, 2))).toBe(ModbusExceptionCode.IllegalDataAddress);
    expect(code(() => board.writeCoil!(2, true))).toBe(ModbusExceptionCode.IllegalDataAddress);
    expect(code(() => board.readHolding(0, 1))).toBe(ModbusExceptionCode.IllegalDataAddress);
  });
});
