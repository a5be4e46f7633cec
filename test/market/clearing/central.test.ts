import { execFileSync } from 'node:child_process';
import { describe, expect, it, vi } from 'vitest';
import { solveCentral } from '../../../src/market/clearing/central.ts';
import { Prosumer } from '../../../src/market/clearing/prosumer.ts';
import type { MarketRules, PeerProfile } from '../../../src/market/clearing/types.ts';

const rules: MarketRules = { p2pFeeEurPerKwh: 0.09, maxTradeKw: 11 };

function peer(id: string, netLoadKw: number[], batteryKw: number): PeerProfile {
  return {
    id,
    stepHours: 1,
    netLoadKw,
    buyEurPerKwh: [0.3, 0.35],
    sellEurPerKwh: [0.08, 0.08],
    battery: { minEnergyKwh: 0, maxEnergyKwh: 2, maxChargeKw: batteryKw, maxDischargeKw: batteryKw, chargeEfficiency: 0.9, dischargeEfficiency: 0.9, initialEnergyKwh: 0.5, terminalEurPerKwh: 0.1 },
    grid: { maxImportKw: 11, maxExportKw: 11 },
  };
}

/**
 * The same two-slot community written out independently for scipy's linprog
 * (per peer: import, export, charge, discharge, SoC, bought from / sold to the community).
 */
const linprog = String.raw`
import json, sys
from scipy.optimize import linprog
peers, fee = json.load(sys.stdin)
T = 2; K = 7
n = len(peers); N = K * T * n
col = lambda p, k, t: (p * K + k) * T + t
c = [0.0] * N; bounds = [None] * N; A = []; b = []
for p, d in enumerate(peers):
    bt = d['battery']
    for t in range(T):
        c[col(p, 0, t)] = d['buy'][t]; bounds[col(p, 0, t)] = (0, 11)
        c[col(p, 1, t)] = -d['sell'][t]; bounds[col(p, 1, t)] = (0, 11)
        bounds[col(p, 2, t)] = (0, bt['kw']); bounds[col(p, 3, t)] = (0, bt['kw'])
        bounds[col(p, 4, t)] = (bt['min'], bt['max'])
        c[col(p, 5, t)] = fee; bounds[col(p, 5, t)] = (0, 11)   # bought
        bounds[col(p, 6, t)] = (0, 11)                          # sold
        row = [0.0] * N  # import - export + discharge - charge + bought - sold = net load
        for k, v in ((0, 1), (1, -1), (3, 1), (2, -1), (5, 1), (6, -1)): row[col(p, k, t)] = v
        A.append(row); b.append(d['net'][t])
        row = [0.0] * N  # soc_t = soc_{t-1} + eta_c charge - discharge / eta_d
        row[col(p, 4, t)] = 1; row[col(p, 2, t)] = -bt['eta']; row[col(p, 3, t)] = 1 / bt['eta']
        if t > 0: row[col(p, 4, t - 1)] = -1
        A.append(row); b.append(bt['e0'] if t == 0 else 0)
    c[col(p, 4, T - 1)] -= bt['terminal']
for t in range(T):  # what the community buys it also sells
    row = [0.0] * N
    for p in range(n): row[col(p, 5, t)] = 1; row[col(p, 6, t)] = -1
    A.append(row); b.append(0)
r = linprog(c, A_eq=A, b_eq=b, bounds=bounds, method='highs-ipm')
print(json.dumps({'status': r.status, 'cost': r.fun}))
`;

// Real solves and a real broker on a loaded 2-core machine: generous limits, never timing assertions.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

function scipyCost(peers: PeerProfile[]): number {
  const input = peers.map((p) => ({
    net: p.netLoadKw,
    buy: p.buyEurPerKwh,
    sell: p.sellEurPerKwh,
    battery: { kw: p.battery.maxChargeKw, min: p.battery.minEnergyKwh, max: p.battery.maxEnergyKwh, eta: p.battery.chargeEfficiency, e0: p.battery.initialEnergyKwh, terminal: p.battery.terminalEurPerKwh },
  }));
  const out = JSON.parse(execFileSync('/usr/bin/python3', ['-c', linprog], { input: JSON.stringify([input, rules.p2pFeeEurPerKwh]) }).toString()) as { status: number; cost: number };
  expect(out.status).toBe(0);
  return out.cost;
}

describe('central optimum', () => {
  it('matches an independent scipy linprog on two peers with batteries over two slots', async () => {
    const peers = [peer('a', [-3, 2], 1), peer('b', [2, 1.5], 1)];
    const central = await solveCentral(peers, rules);
    expect(central.communityCostEur).toBeCloseTo(scipyCost(peers), 6);
    for (let t = 0; t < 2; t++) expect(central.netKwh.a![t]! + central.netKwh.b![t]!).toBeCloseTo(0, 9);
  });

  it('without batteries, surplus goes to the neighbour first: the hand-computed community cost', async () => {
    // Slot 0: a has 3 kWh spare, b needs 2: b buys 2 from a (fee 0.09 each), a feeds in 1 at 0.08.
    // Slot 1: both import, 2 + 1.5 kWh at 0.35. Terminal value of the untouched 0.5 kWh: 0.05 each.
    const peers = [peer('a', [-3, 2], 0), peer('b', [2, 1.5], 0)];
    const central = await solveCentral(peers, rules);
    expect(central.communityCostEur).toBeCloseTo(2 * 0.09 - 1 * 0.08 + 3.5 * 0.35 - 2 * 0.05, 9);
    expect(central.netKwh.b![0]).toBeCloseTo(2, 9);
    expect(central.netKwh.a![0]).toBeCloseTo(-2, 9);
    // Trading beats the alternative for both: b would pay 0.30, a would get 0.08.
    const alone = await Promise.all(peers.map((p) => Prosumer.create(p, rules)));
    const aloneCost = alone.reduce((s, p) => s + p.planAlone().costEur, 0);
    expect(aloneCost - central.communityCostEur).toBeCloseTo(2 * (0.3 - 0.09 - 0.08), 9);
    alone.forEach((p) => p.dispose());
  });
});
