import { SerialPort } from 'serialport';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FrameParser, encodeFrame, type FrameEvent } from '../../../drivers/bms/pylontech-frame.ts';
import { startPylontechBmsSim, type PylontechBmsSim } from '../../../sim/bms/pylontech-bms.ts';
import { openPtyPair, type PtyPair } from '../../../sim/serial/pty.ts';
import { sixteenCellPack, TestPlant } from '../../fixtures/test-plant.ts';

describe('simulated Pylontech BMS, spoken to with raw frames', () => {
  let pty: PtyPair;
  let sim: PylontechBmsSim;
  let port: SerialPort;
  const events: FrameEvent[] = [];

  beforeEach(async () => {
    pty = await openPtyPair('bms-sim');
    sim = await startPylontechBmsSim({ path: pty.simPath, plant: new TestPlant(sixteenCellPack), address: 3 });
    port = new SerialPort({ path: pty.devicePath, baudRate: 9600 });
    const parser = new FrameParser();
    events.length = 0;
    port.on('data', (d: Buffer) => events.push(...parser.push(d)));
    await new Promise((r) => port.once('open', r));
  });
  afterEach(async () => {
    await new Promise((r) => port.close(r));
    await sim.close();
    await pty.close();
  });

  const ask = (adr: number, cid2: number) => port.write(encodeFrame({ ver: 0x20, adr, cid1: 0x46, cid2, info: Uint8Array.of(adr) }));

  it('answers an unknown command with RTN 04 (CID2 invalid)', async () => {
    ask(3, 0x4f);
    await vi.waitFor(() => expect(events).toHaveLength(1), { timeout: 5_000 });
    expect(events[0]).toMatchObject({ frame: { adr: 3, cid1: 0x46, cid2: 0x04 } });
  });

  it('stays quiet when another pack address is asked, as on a shared RS-485 line', async () => {
    ask(2, 0x42);
    ask(3, 0x42); // asked right after: once its answer is in, the first request has surely been ignored
    await vi.waitFor(() => expect(events).toHaveLength(1), { timeout: 5_000 });
    expect(events[0]).toMatchObject({ frame: { adr: 3 } });
    expect(sim.requestsAnswered).toBe(1);
  });

  it('refuses to raise a protection it does not know', () => {
    expect(() => sim.setProtections(['cellOverVoltag'])).toThrow(/unknown protection "cellOverVoltag"/);
  });
});
