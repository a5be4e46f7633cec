import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameError, FrameParser, MAX_FRAME_BYTES, encodeFrame, lengthField, type FrameEvent } from '../../../drivers/bms/pylontech-frame.ts';
import { decodeAlarmInfo, decodeAnalogValues, decodeChargeManagement, encodeAnalogValues, protectionNames } from '../../../drivers/bms/pylontech-info.ts';

const ascii = (s: string) => Buffer.from(s, 'ascii');
const onlyFrame = (events: FrameEvent[]) => {
  expect(events).toHaveLength(1);
  const [event] = events;
  if (!event || !('frame' in event)) throw new Error(`expected a frame, got ${JSON.stringify(event)}`);
  return event.frame;
};

describe('Pylontech frame codec, against frames worked out by hand from the protocol document', () => {
  it('encodes the "get analog values" request for pack 1 exactly as the document prints it', () => {
    // VER 20, ADR 01, CID1 46, CID2 42, INFO "01" (2 chars).
    // LENID = 0x002; nibble sum 0+0+2 = 2; LCHKSUM = (16 − 2) mod 16 = 0xE → LENGTH "E002".
    // ASCII sum of "20014642E00201" = 0x32+0x30+0x30+0x31 + 0x34+0x36+0x34+0x32 + 0x45+0x30+0x30+0x32 + 0x30+0x31
    //   = 0xC3 + 0xD0 + 0xD7 + 0x61 = 0x2CB; CHKSUM = 0x10000 − 0x2CB = 0xFD35.
    expect(encodeFrame({ ver: 0x20, adr: 1, cid1: 0x46, cid2: 0x42, info: Uint8Array.of(1) }).toString('ascii')).toBe('~20014642E00201FD35\r');
    expect(lengthField(2)).toBe(0xe002);
  });

  it('decodes the analog-values answer the Pylontech manual prints for a US2000 pack', () => {
    // LENGTH C06E: LENID 0x06E = 110 chars = 55 bytes; 0+6+E = 20, 20 mod 16 = 4, 16 − 4 = 0xC. ✓
    // CHKSUM: the 126 chars between '~' and the checksum sum to 0x1AAD; 0x10000 − 0x1AAD = 0xE553. ✓
    const frame = ascii('~20014600C06E11010F0D450D440D450D440D450D440D3E0D450D4A0D4A0D4B0D4A0D4A0D4A0D4A050BC30BC30BC30BCD0BCD0000C725BF6802C3500002E553\r');
    const decoded = onlyFrame(new FrameParser().push(frame));
    expect(decoded).toMatchObject({ ver: 0x20, adr: 1, cid1: 0x46, cid2: 0 });
    const v = decodeAnalogValues(decoded.info);
    // 15 cells: 0x0D45 = 3397 mV, 0x0D44 = 3396 mV, 0x0D3E = 3390 mV, 0x0D4A = 3402 mV, 0x0D4B = 3403 mV.
    expect(v.cellVoltagesV).toEqual([3.397, 3.396, 3.397, 3.396, 3.397, 3.396, 3.39, 3.397, 3.402, 3.402, 3.403, 3.402, 3.402, 3.402, 3.402]);
    // 5 sensors: 0x0BC3 = 3011 → (3011 − 2731)/10 = 28.0 °C; 0x0BCD = 3021 → 29.0 °C.
    expect(v.temperaturesC).toEqual([28, 28, 28, 29, 29]);
    // Current 0x0000 = 0 A; voltage 0xC725 = 50981 mV; remaining 0xBF68 = 49000 mAh; user-defined 02; total 0xC350 = 50000 mAh; 2 cycles.
    expect(v).toMatchObject({ currentA: 0, voltageV: 50.981, remainingAh: 49, totalAh: 50, cycles: 2 });
  });

  it('decodes a discharging pack over 65 Ah: signed current, sub-zero temperature, 24-bit capacities', () => {
    // INFO 00 02 | 02 cells: 0CE4 = 3300 mV, 0CF0 = 3312 mV | 02 temps: 0B9F = 2975 → 24.4 °C, 0A96 = 2710 → −2.1 °C
    //   | current FF85 = −123 → −12.3 A (discharging) | voltage 19D4 = 6612 mV | remaining FFFF | user-defined 04
    //   | total FFFF | cycles 002A = 42 | remaining 01ADB0 = 110000 mAh | total 030D40 = 200000 mAh.
    // LENID 58 = 0x03A: 0+3+A = 13, 16 − 13 = 3 → "303A". ASCII sum 0xF66 → CHKSUM 0xF09A.
    const v = decodeAnalogValues(onlyFrame(new FrameParser().push(ascii('~20024600303A0002020CE40CF0020B9F0A96FF8519D4FFFF04FFFF002A01ADB0030D40F09A\r'))).info);
    expect(v.cellVoltagesV).toEqual([3.3, 3.312]);
    expect(v.temperaturesC).toEqual([24.4, -2.1]);
    expect(v).toMatchObject({ currentA: -12.3, voltageV: 6.612, remainingAh: 110, totalAh: 200, cycles: 42 });
  });

  it('decodes charge/discharge management info: limits in mV and 100 mA, status bits', () => {
    // INFO 02 | D002 = 53250 mV | AFC8 = 45000 mV | 01F4 = 500 → 50.0 A | FE0C = −500 → −50.0 A | C0 = charge + discharge enabled.
    // LENID 20 = 0x014: 0+1+4 = 5, 16 − 5 = 0xB → "B014". ASCII sum 0x6EB → CHKSUM 0xF915.
    const m = decodeChargeManagement(onlyFrame(new FrameParser().push(ascii('~20024600B01402D002AFC801F4FE0CC0F915\r'))).info);
    expect(m).toEqual({
      chargeVoltageLimitV: 53.25,
      dischargeVoltageLimitV: 45,
      chargeCurrentLimitA: 50,
      dischargeCurrentLimitA: -50,
      chargeEnabled: true,
      dischargeEnabled: true,
      chargeImmediately: false,
      fullChargeRequest: false,
    });
  });

  it('decodes alarm info into named protections', () => {
    // INFO 00 02 | 02 cells: 00, 02 (above upper limit) | 02 temps: 00, 00 | charge current 00 | pack voltage 00
    //   | discharge current 00 | status 1 = 0x40 (charge over-temperature) | status 2..5 = 00.
    // LENID 32 = 0x020: 0+2+0 = 2, 16 − 2 = 0xE → "E020". ASCII sum 0x871 → CHKSUM 0xF78F.
    const alarm = decodeAlarmInfo(onlyFrame(new FrameParser().push(ascii('~20024600E02000020200020200000000004000000000F78F\r'))).info);
    expect(protectionNames(alarm)).toEqual(['cellOverVoltage', 'chargeOverTemperature']);
  });

  it('rejects a wrong CHKSUM, a wrong LCHKSUM and a LENID that disagrees with the INFO as crc / crc / garbage', () => {
    const kinds = (s: string) => new FrameParser().push(ascii(s)).map((e) => ('error' in e ? e.error.kind : 'frame'));
    expect(kinds('~20014642E00201FD36\r')).toEqual(['crc']);
    // LENGTH F002: LCHKSUM should be E; CHKSUM recomputed over the altered chars (sum 0x2CC → 0xFD34).
    expect(kinds('~20014642F00201FD34\r')).toEqual(['crc']);
    // LENGTH D003 (LCHKSUM valid for LENID 3: 16 − 3 = 0xD) but only 2 INFO chars; 'E'→'D' and '2'→'3' cancel, CHKSUM stays 0xFD35.
    expect(kinds('~20014642D00301FD35\r')).toEqual(['garbage']);
  });

  it('resynchronises after line noise and a cut-off frame, then decodes the next good frame', () => {
    const good = encodeFrame({ ver: 0x20, adr: 2, cid1: 0x46, cid2: 0, info: Uint8Array.of(2, 0x10) });
    const parser = new FrameParser();
    const events = parser.push(Buffer.concat([Buffer.from([0x00, 0xff, 0x13, 0x0d]), good.subarray(0, 9), good]));
    expect(events.map((e) => ('error' in e ? e.error.kind : 'frame'))).toEqual(['garbage', 'garbage', 'frame']);
    // Split across reads byte by byte, a frame still comes out whole.
    const split = [...good].flatMap((b) => parser.push(Uint8Array.of(b)));
    expect(onlyFrame(split).info).toEqual(Uint8Array.of(2, 0x10));
  });
});

describe('Pylontech parser under malformed input (property)', () => {
  const validFrame = fc
    .record({ adr: fc.integer({ min: 0, max: 255 }), cid2: fc.integer({ min: 0, max: 255 }), info: fc.uint8Array({ maxLength: 80 }) })
    .map(({ adr, cid2, info }) => encodeFrame({ ver: 0x20, adr, cid1: 0x46, cid2, info }));
  // Malformations a line produces: flipped bytes, dropped bytes, cut-offs, inserted noise, random hex.
  const malformed = fc.oneof(
    fc.tuple(validFrame, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([f, i, x]) => {
      const out = Buffer.from(f);
      out[i % out.length] = out[i % out.length]! ^ x;
      return out;
    }),
    fc.tuple(validFrame, fc.nat()).map(([f, i]) => Buffer.concat([f.subarray(0, i % f.length), f.subarray((i % f.length) + 1)])),
    fc.tuple(validFrame, fc.nat()).map(([f, i]) => f.subarray(0, i % f.length)),
    fc.tuple(validFrame, fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.nat()).map(([f, noise, i]) => Buffer.concat([f.subarray(0, i % f.length), noise, f.subarray(i % f.length)])),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
    fc.stringMatching(/^~[0-9A-F]{0,60}\r$/).map(ascii),
  );

  it('feeds 10,000 malformed frames: nothing throws, every event is a frame or a typed error, and a good frame after them still decodes', () => {
    let seen = 0;
    fc.assert(
      fc.property(fc.array(malformed, { minLength: 1, maxLength: 5 }), (chunks) => {
        const parser = new FrameParser();
        for (const chunk of chunks) {
          seen++;
          for (const event of parser.push(chunk)) {
            if ('error' in event) {
              expect(event.error).toBeInstanceOf(FrameError);
              expect(['crc', 'garbage']).toContain(event.error.kind);
            } else {
              // Whatever decoded passed both checksums; its INFO decoders fail only with typed errors.
              for (const decode of [decodeAnalogValues, decodeAlarmInfo, decodeChargeManagement]) {
                try {
                  decode(event.frame.info);
                } catch (e) {
                  expect(e).toBeInstanceOf(FrameError);
                }
              }
            }
          }
          expect(parser.pendingBytes).toBeLessThanOrEqual(MAX_FRAME_BYTES);
        }
        const good = encodeFrame({ ver: 0x20, adr: 2, cid1: 0x46, cid2: 0, info: encodeAnalogValues(2, { cellVoltagesV: [3.3], temperaturesC: [20], currentA: 1, voltageV: 3.3, remainingAh: 1, totalAh: 2, cycles: 0 }) });
        const events = parser.push(good);
        const last = events.at(-1);
        expect(last && 'frame' in last && decodeAnalogValues(last.frame.info).totalAh).toBe(2);
      }),
      { numRuns: 4_000, seed: 20261121 },
    );
    expect(seen).toBeGreaterThanOrEqual(10_000);
  });

  it('decodes random well-formed INFO bytes to values or typed errors, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (info) => {
        for (const decode of [decodeAnalogValues, decodeAlarmInfo, decodeChargeManagement]) {
          try {
            decode(info);
          } catch (e) {
            expect(e).toBeInstanceOf(FrameError);
          }
        }
      }),
      { numRuns: 2_000, seed: 7 },
    );
  });
});
