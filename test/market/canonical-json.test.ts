import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, hasDuplicateKeys } from '../../src/market/canonical-json.ts';

describe('canonical JSON for signing', () => {
  it('writes keys in sorted order at every depth, without whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: null, y: 'x' }], c: true } })).toBe('{"a":{"c":true,"d":[3,{"y":"x","z":null}]},"b":1}');
  });

  it('gives the same text for the same value whatever order its keys were built in, and parses back to it', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        const reordered = JSON.parse(JSON.stringify(value, (_k, v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v)));
        expect(canonicalJson(reordered)).toBe(text);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
      }),
    );
  });

  it('refuses values JSON cannot carry instead of signing something else', () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(/NaN/);
    expect(() => canonicalJson({ a: undefined })).toThrow(/undefined/);
  });
});

describe('duplicate keys', () => {
  it('are found at any depth, also when escapes spell the same key differently', () => {
    expect(hasDuplicateKeys('{"a":1,"a":2}')).toBe(true);
    expect(hasDuplicateKeys('{"body":{"maxKw":1,"to":"x","maxKw":9000}}')).toBe(true);
    expect(hasDuplicateKeys('[{"a":1},{"b":[{"c":1,"c":1}]}]')).toBe(true);
    expect(hasDuplicateKeys('{"a":1,"\\u0061":2}')).toBe(true);
    expect(hasDuplicateKeys('{"a":{"a":1},"b":"a,\\"a\\":"}')).toBe(false);
  });

  it('are never reported in what JSON.stringify writes', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => !hasDuplicateKeys(JSON.stringify(value))));
  });
});
