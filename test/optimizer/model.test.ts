/** The model builder's structure: named blocks, a data-independent pattern, a diagonal Hessian. */
import { describe, expect, it } from 'vitest';
import { buildModel } from '../../src/optimizer/model.ts';
import { syntheticInput } from '../../src/optimizer/synthetic.ts';
import type { ProblemInput } from '../../src/optimizer/types.ts';

const ALL_FAMILIES = { import: 0.05, export: 0.05, discharge: 0.05, charge: 0.05, socMin: 0.05, socMax: 0.05 };

describe('the model builder', () => {
  it('gives the same sparsity pattern for two different data sets of the same size and options', () => {
    const options = { stepHours: [0.25, 0.25, 1, 1, 1], samples: 7, peers: 1, epsilon: ALL_FAMILIES, peakEurPerKw: 0.2 };
    const a = buildModel(syntheticInput({ ...options, startHour: 3, seed: 1, radiusKw: 0.1, initialEnergyKwh: 4 }));
    // Different hour (prices, PV, load), samples, radius, a start state out of range and a zero price.
    const other = syntheticInput({ ...options, startHour: 14, seed: 99, radiusKw: 0, initialEnergyKwh: 0.2 });
    other.tariff.realtimeSellEurPerKwh[2] = 0;
    const b = buildModel(other);
    expect(b.numCols).toBe(a.numCols);
    expect(b.numRows).toBe(a.numRows);
    expect(Array.from(b.colStarts)).toEqual(Array.from(a.colStarts));
    expect(Array.from(b.rowIndex)).toEqual(Array.from(a.rowIndex));
    expect(b.hessianDiag.length).toBe(a.hessianDiag.length);
    expect(Array.from(b.values)).not.toEqual(Array.from(a.values));
  });

  it('names every block the Plan and the tests look for, with the documented sizes', () => {
    const T = 4;
    const I = 3;
    const model = buildModel(syntheticInput({ stepHours: new Array<number>(T).fill(1), samples: I, peers: 2, epsilon: ALL_FAMILIES, peakEurPerKw: 0.1 }));
    for (const name of ['gridImport', 'gridExport', 'netGrid', 'charge', 'discharge', 'throughput', 'decisionRule', 'energy', 'shiftable', 'deferred', 'trade:peer1', 'trade:peer2']) {
      expect(model.cols[name]?.length, name).toBe(T);
    }
    expect(model.cols['cumulative']?.length).toBe(T * I);
    expect(model.cols['peakImport']?.length).toBe(1);
    expect(model.rows['balance']?.length).toBe(T);
    for (const family of Object.keys(ALL_FAMILIES)) {
      expect(model.rows[`${family}:samples`]?.length, family).toBe(T * I);
      expect(model.rows[`${family}:budget`]?.length, family).toBe(1);
      expect(model.cvar[family as keyof typeof ALL_FAMILIES]?.sigma.length).toBe(I);
    }
  });

  it('uses one CVaR block per row with ε split evenly under bonferroni', () => {
    const T = 5;
    const model = buildModel(syntheticInput({ stepHours: new Array<number>(T).fill(1), samples: 4, method: 'bonferroni', epsilon: { import: 0.1, socMin: 0.05 } }));
    expect(model.cvar.import?.groups).toBe(T);
    expect(model.cvar.import?.epsilonPerGroup).toBeCloseTo(0.1 / T, 12);
    expect(model.cvar.socMin?.groups).toBe(T);
    expect(model.cvar.socMax).toBeUndefined();
    expect(model.rows['socMin:samples']?.length).toBe(T * 4);
  });

  it('carries (c + d)² and the schedule deviation on single columns, so P is diagonal', () => {
    const input: ProblemInput = { ...syntheticInput({ stepHours: [1, 1, 1], samples: 3 }), committedGridKw: [1, 2, 3] };
    const model = buildModel(input);
    const curved = (name: string): number[] => {
      const block = model.cols[name]!;
      return Array.from(model.hessianDiag.subarray(block.start, block.start + block.length));
    };
    expect(curved('throughput').every((v) => v > 0)).toBe(true);
    expect(curved('netGrid').every((v) => v === 2 * input.weights.scheduleDeviationEurPerKw2)).toBe(true);
    expect(curved('charge').every((v) => v === 0)).toBe(true);
    expect(curved('gridImport').every((v) => v === 0)).toBe(true);
  });

  it('rejects malformed input with a message naming the field', () => {
    const input = syntheticInput({ stepHours: [1, 1, 1], samples: 3 });
    expect(() => buildModel({ ...input, netLoadForecastKw: [1, 2] })).toThrow(/netLoadForecastKw has length 2, expected 3/);
    expect(() => buildModel({ ...input, errorSamplesKw: [[0, Number.NaN, 0]] })).toThrow(/errorSamplesKw\[0\]/);
    expect(() => buildModel({ ...input, chance: { ...input.chance, epsilon: { import: 1.5 } } })).toThrow(/epsilon.import/);
  });
});
