/**
 * Pylontech RS-485 framing (PYLON LFP battery communication protocol, RS-485, V3.3):
 *
 *   SOI '~' | VER | ADR | CID1 | CID2 | LENGTH | INFO | CHKSUM | EOI '\r'
 *
 * Every field after SOI is sent as ASCII hex: VER, ADR, CID1, CID2 are one byte (two chars),
 * LENGTH is 16 bits (four chars) = LCHKSUM (4 bits) + LENID (12 bits, the number of ASCII
 * chars in INFO), CHKSUM is 16 bits over every char between SOI and CHKSUM.
 */

const SOI = 0x7e; // '~'
export const EOI = 0x0d; // '\r'
/** CID1 of a battery (lithium iron phosphate) device. */
export const CID1_BATTERY = 0x46;
/** VER field the protocol revision puts in every frame. */
export const PROTOCOL_VERSION = 0x20;
/** Header chars between SOI and INFO: VER ADR CID1 CID2 (2 each) + LENGTH (4). */
const HEADER_CHARS = 12;
const CHECKSUM_CHARS = 4;
const MAX_INFO_CHARS = 0xfff;
/** The longest frame the LENGTH field can describe, SOI and EOI included. */
export const MAX_FRAME_BYTES = 1 + HEADER_CHARS + MAX_INFO_CHARS + CHECKSUM_CHARS + 1;

export interface PylonFrame {
  ver: number;
  adr: number;
  cid1: number;
  /** Command code in a request, return code (RTN, 0 = normal) in a response. */
  cid2: number;
  /** INFO decoded from its ASCII hex, one entry per byte. */
  info: Uint8Array;
}

/** LENGTH: LCHKSUM = two's complement (mod 16) of the sum of LENID's three nibbles. */
export function lengthField(infoChars: number): number {
  if (!Number.isInteger(infoChars) || infoChars < 0 || infoChars > MAX_INFO_CHARS) throw new RangeError(`INFO too long: ${infoChars} chars`);
  const nibbleSum = (infoChars & 0xf) + ((infoChars >> 4) & 0xf) + ((infoChars >> 8) & 0xf);
  const lchksum = (16 - (nibbleSum % 16)) % 16;
  return (lchksum << 12) | infoChars;
}

/** CHKSUM: two's complement (mod 65536) of the sum of the ASCII codes. */
function frameChecksum(ascii: Uint8Array): number {
  let sum = 0;
  for (const c of ascii) sum += c;
  return (0x10000 - (sum % 0x10000)) % 0x10000;
}

function hex(value: number, chars: number): string {
  return value.toString(16).toUpperCase().padStart(chars, '0');
}

export function encodeFrame(frame: PylonFrame): Buffer {
  const infoHex = Buffer.from(frame.info).toString('hex').toUpperCase();
  const body = Buffer.from(hex(frame.ver, 2) + hex(frame.adr, 2) + hex(frame.cid1, 2) + hex(frame.cid2, 2) + hex(lengthField(infoHex.length), 4) + infoHex, 'ascii');
  return Buffer.concat([Buffer.of(SOI), body, Buffer.from(hex(frameChecksum(body), 4), 'ascii'), Buffer.of(EOI)]);
}

/** Why bytes on the line were not a frame: `crc` = a checksum failed, `garbage` = not a frame at all. */
export class FrameError extends Error {
  constructor(
    readonly kind: 'crc' | 'garbage',
    message: string,
  ) {
    super(message);
    this.name = 'FrameError';
  }
}

export type FrameEvent = { frame: PylonFrame } | { error: FrameError };

function isHexChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** Decodes the chars between SOI and EOI of one frame. */
function decodeFrameBody(body: Uint8Array): PylonFrame {
  if (body.length < HEADER_CHARS + CHECKSUM_CHARS) throw new FrameError('garbage', `frame too short (${body.length + 2} bytes)`);
  for (const c of body) if (!isHexChar(c)) throw new FrameError('garbage', `non-hex byte 0x${hex(c, 2)} inside a frame`);
  const text = Buffer.from(body).toString('ascii');
  const payload = body.subarray(0, body.length - CHECKSUM_CHARS);
  const sent = parseInt(text.slice(-CHECKSUM_CHARS), 16);
  const computed = frameChecksum(payload);
  if (sent !== computed) throw new FrameError('crc', `CHKSUM ${hex(sent, 4)} but the frame sums to ${hex(computed, 4)}`);
  const length = parseInt(text.slice(8, 12), 16);
  const lenid = length & 0xfff;
  if (lengthField(lenid) !== length) throw new FrameError('crc', `LCHKSUM of LENGTH ${hex(length, 4)} is wrong`);
  const infoChars = payload.length - HEADER_CHARS;
  if (lenid !== infoChars) throw new FrameError('garbage', `LENID says ${lenid} INFO chars, the frame has ${infoChars}`);
  if (lenid % 2 !== 0) throw new FrameError('garbage', `LENID ${lenid} is odd: INFO must be whole bytes`);
  return {
    ver: parseInt(text.slice(0, 2), 16),
    adr: parseInt(text.slice(2, 4), 16),
    cid1: parseInt(text.slice(4, 6), 16),
    cid2: parseInt(text.slice(6, 8), 16),
    info: Uint8Array.from(Buffer.from(text.slice(HEADER_CHARS, HEADER_CHARS + infoChars), 'hex')),
  };
}

/**
 * Splits a byte stream into frames. Bytes before an SOI are line noise and are dropped; a
 * frame cut short (a new SOI before its EOI, or longer than LENGTH allows) is dropped and the
 * parser resynchronises on the next SOI. '~' and '\r' never occur inside a frame (everything
 * else is ASCII hex), which is what makes resynchronising safe. Never throws; memory stays
 * bounded by MAX_FRAME_BYTES whatever arrives.
 */
export class FrameParser {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Uint8Array): FrameEvent[] {
    const events: FrameEvent[] = [];
    let buf = this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
    for (;;) {
      const start = buf.indexOf(SOI);
      if (start < 0) {
        if (buf.length > 0) events.push({ error: new FrameError('garbage', `${buf.length} bytes of line noise outside any frame`) });
        buf = Buffer.alloc(0);
        break;
      }
      if (start > 0) {
        events.push({ error: new FrameError('garbage', `${start} bytes of line noise before a frame`) });
        buf = buf.subarray(start);
      }
      const restart = buf.indexOf(SOI, 1);
      const end = buf.indexOf(EOI, 1);
      if (end >= 0 && (restart < 0 || end < restart)) {
        try {
          events.push({ frame: decodeFrameBody(buf.subarray(1, end)) });
        } catch (e) {
          events.push({ error: e instanceof FrameError ? e : new FrameError('garbage', String(e)) });
        }
        buf = buf.subarray(end + 1);
        continue;
      }
      if (restart > 0) {
        events.push({ error: new FrameError('garbage', `truncated frame (${restart} bytes, no EOI before the next SOI)`) });
        buf = buf.subarray(restart);
        continue;
      }
      if (buf.length > MAX_FRAME_BYTES) {
        events.push({ error: new FrameError('garbage', `no EOI within ${MAX_FRAME_BYTES} bytes`) });
        buf = buf.subarray(1);
        continue;
      }
      break;
    }
    this.pending = Buffer.from(buf);
    return events;
  }

  /** Bytes of a frame begun but not yet ended. */
  get pendingBytes(): number {
    return this.pending.length;
  }

  /** Forgets a partial frame, e.g. before a new request so a late answer cannot be taken for the next one. */
  reset(): void {
    this.pending = Buffer.alloc(0);
  }
}
