/** The community clearing's terms as gateway settings: π^C and the community import chance family (docs/configuration.md, market). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GatewayConfigError, loadGatewayConfig } from '../../src/config/gateway.ts';

const dir = mkdtempSync(join(tmpdir(), 'prosumer-edge-community-terms-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const load = (market: string) => {
  const file = join(dir, `gateway-${files++}.yaml`);
  writeFileSync(file, `gatewayId: home\nboard: {file: ${resolve('boards/raspberry-pi-4.yaml')}}\nstorage: {dir: state}\nmarket: {brokerUrl: "mqtt://192.168.1.10:1883", community: street-7, membersFile: members.json, ${market}}\n`);
  return { file, load: () => loadGatewayConfig(file) };
};
const problemsOf = (market: string) => {
  const { file, load: run } = load(market);
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayConfigError);
    return (e as Error).message.split('\n').map((line) => line.replace(`${file}: `, ''));
  }
  throw new Error('loaded without an error');
};

describe('community terms in the gateway config', () => {
  it('are absent unless set (π^C then 1 EUR/kW·day, the chance family off) and kept as given with community coordination', () => {
    const plain = load('coordination: community').load();
    expect(plain.market?.communityPeakChargeEurPerKwDay).toBeUndefined();
    expect(plain.market?.communityImportChance).toBeUndefined();
    const set = load('coordination: community, communityPeakChargeEurPerKwDay: 0.5, communityImportChance: {epsilon: 0.05, radiusKw: 0.03, samples: 8}').load();
    expect(set.market).toMatchObject({ communityPeakChargeEurPerKwDay: 0.5, communityImportChance: { epsilon: 0.05, radiusKw: 0.03, samples: 8 } });
    expect(load('coordination: community, communityImportChance: {epsilon: 0.1}').load().market?.communityImportChance).toEqual({ epsilon: 0.1 });
  });

  it('out-of-range or unknown values, and terms without community coordination, are errors naming the field', () => {
    expect(problemsOf('coordination: community, communityPeakChargeEurPerKwDay: -1')).toEqual(['/market/communityPeakChargeEurPerKwDay: must be >= 0']);
    expect(problemsOf('coordination: community, communityImportChance: {epsilon: 1}')).toEqual(['/market/communityImportChance/epsilon: must be < 1']);
    expect(problemsOf('coordination: community, communityImportChance: {radiusKw: 0.03}')).toEqual(['/market/communityImportChance/epsilon: is required']);
    expect(problemsOf('coordination: community, communityImportChance: {epsilon: 0.05, samples: 0}')).toEqual(['/market/communityImportChance/samples: must be >= 1']);
    expect(problemsOf('coordination: community, communityImportChance: {epsilon: 0.05, limitKw: 3}')).toEqual(["/market/communityImportChance/limitKw: unknown field"]);
    expect(problemsOf('communityImportChance: {epsilon: 0.05}')).toEqual(['/market/communityImportChance: is a term of the community clearing (coordination: community)']);
    expect(problemsOf('communityPeakChargeEurPerKwDay: 2')).toEqual(['/market/communityPeakChargeEurPerKwDay: is a term of the community clearing (coordination: community)']);
  });
});
