/**
 * The household's commands as the gateway checks them: the modes it knows, a reserve inside the
 * battery's limits, the plan-now press; every command recorded as a safety event, and the mode
 * and reserve kept across a restart.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserControl } from '../../src/runtime/user-control.ts';

const battery = { capacityKwh: 10, minEnergyKwh: 1, maxEnergyKwh: 10 };

describe('user control', () => {
  it('takes the four modes and refuses anything else, recording both as safety events', () => {
    const control = new UserControl({ battery, guardBandKwh: 0.2 });
    expect(control.mode()).toBe('auto');
    for (const mode of ['self-consumption', 'hold', 'off', 'auto'] as const) {
      const outcome = control.apply({ command: 'mode', payload: mode }, 1000);
      expect(outcome.accepted).toBe(true);
      expect(outcome.event).toMatchObject({ atMs: 1000, reason: 'user-command', action: 'command' });
      expect(control.mode()).toBe(mode);
    }
    const refused = control.apply({ command: 'mode', payload: 'Auto' }, 2000);
    expect(refused).toEqual({ accepted: false, replan: false, event: { atMs: 2000, reason: 'user-command', action: 'rejected', detail: 'mode "Auto" rejected: the mode must be one of auto, self-consumption, hold, off' } });
    expect(control.mode()).toBe('auto');
  });

  it("bounds the reserve by E^min and by E^max less twice the guard band, and raises the floor only above E^min", () => {
    const control = new UserControl({ battery, guardBandKwh: 0.2 });
    expect(control.state()).toEqual({ mode: 'auto', reservePercent: 10, minReservePercent: 10, maxReservePercent: 96 });
    expect(control.reserveEnergyKwh()).toBe(1);
    for (const payload of ['9', '97', '', 'NaN', '1e3']) expect(control.apply({ command: 'reserve', payload }, 0).accepted, payload).toBe(false);
    const accepted = control.apply({ command: 'reserve', payload: ' 45.5 ' }, 0);
    expect(accepted).toMatchObject({ accepted: true, replan: true, event: { detail: 'battery reserve 45.5 % = 4.55 kWh (was 10 %)' } });
    expect(control.reserveEnergyKwh()).toBeCloseTo(4.55, 12);
    expect(control.apply({ command: 'plan-now', payload: 'PRESS' }, 0)).toMatchObject({ accepted: true, replan: true });
    expect(control.apply({ command: 'plan-now', payload: 'press' }, 0).accepted).toBe(false);
  });

  it('keeps the mode and the reserve across a restart, and ignores a kept value that is out of bounds', () => {
    const stateFile = join(mkdtempSync(join(tmpdir(), 'pe-user-')), 'user-control.json');
    const before = new UserControl({ battery, guardBandKwh: 0.2, stateFile });
    before.apply({ command: 'mode', payload: 'off' }, 0);
    before.apply({ command: 'reserve', payload: '30' }, 0);
    expect(new UserControl({ battery, guardBandKwh: 0.2, stateFile }).state()).toMatchObject({ mode: 'off', reservePercent: 30 });
    // A smaller battery (a changed board) makes the kept reserve impossible: the site's floor instead.
    expect(new UserControl({ battery: { capacityKwh: 4, minEnergyKwh: 1, maxEnergyKwh: 1.5 }, guardBandKwh: 0.2, stateFile }).state()).toMatchObject({ mode: 'off', reservePercent: 25 });
    writeFileSync(stateFile, 'not json');
    expect(new UserControl({ battery, guardBandKwh: 0.2, stateFile }).state()).toMatchObject({ mode: 'auto', reservePercent: 10 });
  });
});
