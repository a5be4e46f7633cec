import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodePoint, encodePoint, type PointShape, type RawValue } from '../../../drivers/sunspec/point-codec.ts';
import { layoutFromRegisters, layoutModel, ModelBlock } from '../../../drivers/sunspec/model-block.ts';
import { requireModelDefinition } from '../../../drivers/sunspec/models.ts';
import { isDeviceError } from '../../../src/devices/errors.ts';

interface Case {
  shape: PointShape;
  value: RawValue;
  regs: number[];
  /** What the device sends for "not implemented"; undefined = the type has no sentinel. */
  sentinel?: number[];
}

// Register images written out by hand from the SunSpec encoding rules (big-endian words, two's complement).
const CASES: Case[] = [
  { shape: { type: 'int16', size: 1 }, value: -2, regs: [0xfffe], sentinel: [0x8000] },
  { shape: { type: 'uint16', size: 1 }, value: 65534, regs: [0xfffe], sentinel: [0xffff] },
  { shape: { type: 'count', size: 1 }, value: 3, regs: [3], sentinel: [0xffff] },
  { shape: { type: 'acc16', size: 1 }, value: 513, regs: [0x0201], sentinel: [0] },
  { shape: { type: 'raw16', size: 1 }, value: 0xffff, regs: [0xffff] },
  { shape: { type: 'sunssf', size: 1 }, value: -3, regs: [0xfffd], sentinel: [0x8000] },
  { shape: { type: 'enum16', size: 1 }, value: 4, regs: [4], sentinel: [0xffff] },
  { shape: { type: 'bitfield16', size: 1 }, value: 0x8001, regs: [0x8001], sentinel: [0xffff] },
  { shape: { type: 'int32', size: 2 }, value: -100000, regs: [0xfffe, 0x7960], sentinel: [0x8000, 0] },
  { shape: { type: 'uint32', size: 2 }, value: 0x12345678, regs: [0x1234, 0x5678], sentinel: [0xffff, 0xffff] },
  { shape: { type: 'acc32', size: 2 }, value: 4_000_000_000, regs: [0xee6b, 0x2800], sentinel: [0, 0] },
  { shape: { type: 'enum32', size: 2 }, value: 70000, regs: [0x0001, 0x1170], sentinel: [0xffff, 0xffff] },
  { shape: { type: 'bitfield32', size: 2 }, value: 0x80000001, regs: [0x8000, 0x0001], sentinel: [0xffff, 0xffff] },
  { shape: { type: 'int64', size: 4 }, value: -2n, regs: [0xffff, 0xffff, 0xffff, 0xfffe], sentinel: [0x8000, 0, 0, 0] },
  { shape: { type: 'uint64', size: 4 }, value: 0x0123456789abcdefn, regs: [0x0123, 0x4567, 0x89ab, 0xcdef], sentinel: [0xffff, 0xffff, 0xffff, 0xffff] },
  { shape: { type: 'acc64', size: 4 }, value: 2n ** 60n, regs: [0x1000, 0, 0, 0], sentinel: [0, 0, 0, 0] },
  { shape: { type: 'bitfield64', size: 4 }, value: 5n, regs: [0, 0, 0, 5], sentinel: [0xffff, 0xffff, 0xffff, 0xffff] },
  { shape: { type: 'float32', size: 2 }, value: 1.5, regs: [0x3fc0, 0x0000], sentinel: [0x7fc0, 0x0000] },
  { shape: { type: 'float64', size: 4 }, value: -2.25, regs: [0xc002, 0x0000, 0, 0], sentinel: [0x7ff8, 0, 0, 0] },
  { shape: { type: 'string', size: 4 }, value: 'SunS!', regs: [0x5375, 0x6e53, 0x2100, 0], sentinel: [0, 0, 0, 0] },
  { shape: { type: 'ipaddr', size: 2 }, value: '192.168.1.20', regs: [0xc0a8, 0x0114], sentinel: [0, 0] },
  { shape: { type: 'ipv6addr', size: 8 }, value: 'fe80:0:0:0:0:0:0:1', regs: [0xfe80, 0, 0, 0, 0, 0, 0, 1], sentinel: [0, 0, 0, 0, 0, 0, 0, 0] },
  { shape: { type: 'eui48', size: 4 }, value: '00:1A:2B:3C:4D:5E', regs: [0, 0x001a, 0x2b3c, 0x4d5e], sentinel: [0, 0xffff, 0xffff, 0xffff] },
];

describe('SunSpec point codec', () => {
  it('covers every point type the schema allows', () => {
    const schema = JSON.parse(readFileSync(new URL('../../../drivers/sunspec/models/schema.json', import.meta.url), 'utf8')) as {
      definitions: { point: { properties: { type: { enum: string[] } } } };
    };
    const covered = new Set([...CASES.map((c) => c.shape.type), 'pad']);
    expect(schema.definitions.point.properties.type.enum.filter((t) => !covered.has(t as never))).toEqual([]);
  });

  it.each(CASES.map((c) => [c.shape.type, c] as const))('%s decodes, encodes and round-trips', (_type, c) => {
    expect(decodePoint(c.shape, c.regs)).toEqual(c.value);
    expect(Array.from(encodePoint(c.shape, c.value))).toEqual(c.regs);
    expect(decodePoint(c.shape, encodePoint(c.shape, c.value))).toEqual(c.value);
  });

  it.each(CASES.filter((c) => c.sentinel).map((c) => [c.shape.type, c] as const))('%s "not implemented" sentinel reads as no value and encodes back', (_type, c) => {
    expect(decodePoint(c.shape, c.sentinel!)).toBeUndefined();
    expect(Array.from(encodePoint(c.shape, undefined))).toEqual(c.sentinel);
  });

  it('treats any NaN as "not implemented" and pad as never holding a value', () => {
    expect(decodePoint({ type: 'float32', size: 2 }, [0x7f80, 0x0001])).toBeUndefined();
    expect(decodePoint({ type: 'pad', size: 1 }, [0x8000])).toBeUndefined();
    expect(Array.from(encodePoint({ type: 'pad', size: 1 }, undefined))).toEqual([0x8000]);
  });

  it('refuses values the type cannot hold instead of wrapping them', () => {
    expect(() => encodePoint({ type: 'int16', size: 1 }, 40000)).toThrow(RangeError);
    expect(() => encodePoint({ type: 'uint16', size: 1 }, -1)).toThrow(RangeError);
    expect(() => encodePoint({ type: 'string', size: 2 }, 'too long')).toThrow(RangeError);
    expect(() => encodePoint({ type: 'raw16', size: 1 }, undefined)).toThrow(RangeError);
  });
});

function blockOf(modelId: number, fill: (b: ModelBlock) => void, repeats: Record<string, number> = {}): ModelBlock {
  const layout = layoutModel(requireModelDefinition(modelId), (_g, path) => repeats[path.replace(/\[\d+\]/g, '')] ?? 1);
  const b = new ModelBlock(layout, new Uint16Array(layout.totalRegisters), 'test');
  b.setRaw('ID', modelId);
  b.setRaw('L', layout.totalRegisters - 2);
  fill(b);
  return b;
}

describe('SunSpec model layout', () => {
  it('puts model 103 W at offset 14 and sizes the model 50 + 2, as every SunSpec inverter map does', () => {
    const b = blockOf(103, () => undefined);
    expect(b.point('W').offset).toBe(14);
    expect(b.point('WH').offset).toBe(24);
    expect(b.layout.totalRegisters).toBe(52);
  });

  it('matches the fixed lengths the JSON states for 701 and 704 (704 has type "sync" groups)', () => {
    for (const id of [701, 704]) {
      const def = requireModelDefinition(id);
      const stated = def.group.points!.find((p) => p.name === 'L')!.value;
      expect(blockOf(id, () => undefined).layout.totalRegisters - 2).toBe(stated);
    }
    const b = blockOf(704, () => undefined);
    expect(b.point('PFWInj.PF').offset).toBe(b.point('VarSetPct_SF').offset + 1);
    expect(b.point('PFWAbsRvrt.Ext').offset).toBe(b.layout.totalRegisters - 1);
  });

  it('repeats a count-0 group to fill the model length (160 MPPT modules)', () => {
    const sent = blockOf(160, (b) => {
      b.setRaw('DCW_SF', -1);
      b.setRaw('module[1].DCW', 12345);
      b.setRaw('module[1].IDStr', 'string 2');
    }, { module: 3 });
    const read = new ModelBlock(layoutFromRegisters(requireModelDefinition(160), sent.regs), sent.regs, 'test');
    expect(read.layout.byPath.has('module[2].DCEvt')).toBe(true);
    expect(read.layout.byPath.has('module[3].ID')).toBe(false);
    expect(read.value('module[1].DCW')).toBe(1234.5);
    expect(read.text('module[1].IDStr')).toBe('string 2');
  });

  it('repeats nested groups counted by points (705 NCrv curves of NPt points), with scale factors from the model level', () => {
    const sent = blockOf(705, (b) => {
      b.setRaw('NCrv', 2);
      b.setRaw('NPt', 3);
      b.setRaw('V_SF', -1);
      b.setRaw('DeptRef_SF', -2);
      b.setRaw('Crv[1].Pt[2].V', 2415);
      b.setRaw('Crv[1].Pt[2].Var', -4400);
    }, { Crv: 2, 'Crv.Pt': 3 });
    expect(sent.point('Crv[1].Pt[2].Var').offset).toBe(46);
    const read = new ModelBlock(layoutFromRegisters(requireModelDefinition(705), sent.regs), sent.regs, 'test');
    expect(read.value('Crv[1].Pt[2].V')).toBe(241.5);
    expect(read.value('Crv[1].Pt[2].Var')).toBe(-44);
  });
});

function errorOf(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

describe('SunSpec scale factors', () => {
  const inverter = (sf: number | undefined, w: number | undefined) =>
    blockOf(103, (b) => {
      b.setRaw('W_SF', sf);
      b.setRaw('W', w);
    });

  it.each([
    [0, 4200, 4200],
    [-2, -1234, -12.34],
    [3, 12, 12000],
    [-10, 1, 1e-10],
    [10, 1, 1e10],
  ])('W_SF %i scales %i to %f', (sf, raw, expected) => {
    expect(inverter(sf, raw).value('W')).toBeCloseTo(expected, 12);
  });

  it('a value whose scale factor is not implemented has no value', () => {
    expect(inverter(undefined, 4200).value('W')).toBeUndefined();
    const e = errorOf(() => inverter(undefined, 4200).required('W'));
    expect(isDeviceError(e) && e.kind).toBe('not-implemented');
  });

  it.each([50, -11, 11])('a scale factor of %i (outside −10…10) is garbage, reported as such', (sf) => {
    const e = errorOf(() => inverter(sf, 4200).value('W'));
    expect(isDeviceError(e) && e.kind).toBe('garbage');
    expect(String(e)).toMatch(new RegExp(`W_SF = ${sf} is outside -10..10`));
  });

  it('encodes a scaled value with the block\'s own scale factor', () => {
    const b = inverter(-1, 0);
    b.setValue('W', 123.44);
    expect(b.raw('W')).toBe(1234);
  });

  it('names enum symbols and bitfield bits from the JSON', () => {
    const b = blockOf(103, (x) => {
      x.setSymbol('St', 'THROTTLED');
      x.setSymbol('Evt1', 'GROUND_FAULT', 'OVER_TEMP');
    });
    expect(b.raw('St')).toBe(5);
    expect(b.symbol('St')).toBe('THROTTLED');
    expect(b.flags('Evt1')).toEqual(['GROUND_FAULT', 'OVER_TEMP']);
  });

  it('gives the classic models the lengths published in the SunSpec specification', () => {
    const published: Record<number, number> = { 1: 66, 101: 50, 102: 50, 103: 50, 123: 24, 124: 24, 201: 105, 202: 105, 203: 105, 204: 105 };
    for (const [id, length] of Object.entries(published)) expect(blockOf(Number(id), () => undefined).layout.totalRegisters - 2).toBe(length);
  });
});
