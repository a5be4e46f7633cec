/** A field typo in a gateway config or a board profile is answered with the field that was meant (issue 13 item 7). */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadGatewayConfig } from '../../src/config/gateway.ts';
import { loadBoardProfile } from '../../src/config/board.ts';

const dir = mkdtempSync(join(tmpdir(), 'config-typo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const minimal = `gatewayId: pi-test
board: {file: ${resolve('boards/raspberry-pi-4.yaml')}}
tariff: {pricesFile: ${resolve('data/community/prices/day_ahead_DE_2015-2016.csv')}}
`;

function problems(load: (file: string) => unknown, text: string): string[] {
  const file = join(dir, `case-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, text);
  try {
    load(file);
  } catch (e) {
    return (e as Error).message.split('\n').map((line) => line.slice(file.length + 2));
  }
  throw new Error('the file loaded without an error');
}

describe('a field typo', () => {
  it.each([
    ['a letter missing', 'control: {fastPeriod: 5}', '/control/fastPeriod: unknown field (did you mean `fastPeriodS`?)'],
    ['two letters swapped', 'control: {solveBugdetMs: 500}', '/control/solveBugdetMs: unknown field (did you mean `solveBudgetMs`?)'],
    ['snake case', 'site: {grid: {max_import_kw: 11}}', '/site/grid/max_import_kw: unknown field (did you mean `maxImportKw`?)'],
    ['wrong case', 'Storage: {dir: /tmp/x}', '/Storage: unknown field (did you mean `storage`?)'],
    ['a section misspelt', 'telemetri: {statusPage: {}}', '/telemetri: unknown field (did you mean `telemetry`?)'],
  ])('in a gateway config (%s) names the field that was meant', (_, extra, expected) => {
    expect(problems(loadGatewayConfig, `${minimal}${extra}\n`)).toContain(expected);
  });

  it('that resembles no field says only that it is unknown', () => {
    expect(problems(loadGatewayConfig, `${minimal}control: {colour: blue}\n`)).toContain('/control/colour: unknown field');
  });

  it('in a board profile names the field that was meant', () => {
    const board = readFileSync('boards/raspberry-pi-4.yaml', 'utf8').replace('    baudRate: 9600\n    parity: none', '    baudrate: 9600\n    parity: none');
    expect(board).toContain('baudrate');
    expect(problems(loadBoardProfile, board)).toContain('/buses/rs485/baudrate: unknown field (did you mean `baudRate`?)');
  });
});
