import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { decodeVector, encodeVector, vectorSchema } from '../../../src/market/clearing/wire-vector.ts';

describe('a clearing vector on the wire', () => {
  it('comes back with the same bits, the extremes of a double included', () => {
    const values = [0, -0, 1, -1, 0.1, 1 / 3, -2.2250738585072014e-308, 5e-324, 1.7976931348623157e308, 123.456, -9999.999999999998];
    const back = decodeVector(encodeVector(values), -Number.MAX_VALUE, Number.MAX_VALUE)!;
    expect(back).toHaveLength(values.length);
    back.forEach((v, k) => expect(Object.is(v, values[k])).toBe(true));
    // Checked independently of the decoder: 8 little-endian bytes a number.
    expect(Buffer.from(encodeVector([1]), 'base64')).toEqual(Buffer.from([0, 0, 0, 0, 0, 0, 0xf0, 0x3f]));
  });

  it('takes 10⅔ characters a number where JSON takes up to 25', () => {
    const values = new Array<number>(504).fill(-1.2345678901234567e-300);
    expect(encodeVector(values).length).toBe(5_376);
    expect(JSON.stringify(values).length).toBeGreaterThan(12_000);
  });

  it('refuses a number out of range, a NaN, a truncated double or an encoding it would not send', () => {
    expect(decodeVector(encodeVector([1, 2, 1e5]), -1e4, 1e4)).toBeNull();
    expect(decodeVector(encodeVector([1, Number.NaN]), -1e4, 1e4)).toBeNull();
    expect(decodeVector(encodeVector([1, Number.POSITIVE_INFINITY]), -Infinity, Infinity)).toBeNull();
    expect(decodeVector(Buffer.alloc(12).toString('base64'), -1e4, 1e4)).toBeNull();
    const text = encodeVector([1, 2]);
    expect(decodeVector(`${text.slice(0, 4)}\n${text.slice(4)}`, -1e4, 1e4)).toBeNull();
    expect(decodeVector(text, -1e4, 1e4)).toEqual([1, 2]);
    expect(decodeVector('', -1e4, 1e4)).toEqual([]);
  });

  it('is bounded by its schema before it is decoded', () => {
    const check = new Ajv().compile(vectorSchema(3));
    expect(check(encodeVector([1, 2, 3]))).toBe(true);
    expect(check(encodeVector([1, 2, 3, 4]))).toBe(false);
    expect(check('not base64!')).toBe(false);
    expect(check([1, 2, 3])).toBe(false);
  });
});
