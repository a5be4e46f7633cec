import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { defaultDataDir, householdIds, loadHousehold, loadPrices } from '../../src/data/households.ts';
import { communityDataDir } from '../../sim/plant/household.ts';

const sliceFrom = '2016-01-01T00:00:00Z';
const files = [...householdIds.map((id) => join('buildings', `${id}_hourly.csv`)), join('prices', 'day_ahead_DE_2015-2016.csv')];
const shared = existsSync(defaultDataDir);
if (!shared) console.log(`skipping the comparison with the shared data: ${defaultDataDir} is absent (a clone without ../shared)`);

describe('the shipped community data (data/community)', () => {
  it('holds the four households and the prices from 2016-01-01 through 2016-12-31, in the shared data layout, a few MB in all', async () => {
    const [prices, ...series] = await Promise.all([loadPrices(communityDataDir), ...householdIds.map((id) => loadHousehold(communityDataDir, id))]);
    for (const s of [prices!, ...series]) expect(s.startMs).toBe(Date.parse(sliceFrom));
    for (const s of series) expect(s.loadKw.length).toBe(366 * 24);
    expect(prices!.dayAheadEurPerMwh.length).toBe(366 * 24);
    const bytes = files.reduce((sum, f) => sum + statSync(join(communityDataDir, f)).size, 0);
    expect(bytes).toBeLessThan(3_000_000);
    expect(readdirSync(communityDataDir).sort()).toEqual(['README.md', 'buildings', 'prices']);
    expect(readFileSync(join(communityDataDir, 'README.md'), 'utf8')).toMatch(/CC-BY-4\.0/);
  });

  it.skipIf(!shared)('is byte for byte the header and the rows from 2016-01-01 on of the files in ../shared/data', () => {
    for (const file of files) {
      const original = readFileSync(join(defaultDataDir, file), 'utf8');
      const [header, ...rows] = original.split('\n');
      const expected = [header, ...rows.filter((r) => r >= sliceFrom)].join('\n');
      expect(readFileSync(join(communityDataDir, file), 'utf8'), file).toBe(expected.endsWith('\n') ? expected : `${expected}\n`);
    }
  });
});
