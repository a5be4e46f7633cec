/**
 * The footprint benchmark starts the gateway as the systemd unit does: its node flags and its
 * Environment= variables are read from deploy/prosumer-edge.service, so a flag added to or dropped
 * from the unit is measured without anyone editing the benchmark.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { unitLaunch } from '../../src/bench/footprint.ts';

describe('footprint benchmark: the unit’s launch', () => {
  it('takes the node flags between node and the script, and the Environment= variables', () => {
    const unit = ['[Service]', 'Environment=MALLOC_ARENA_MAX=1', 'Environment=A=b C=d', 'ExecStart=/usr/bin/node --x=1 --y /opt/p/dist/src/cli/bin.js run --config /etc/g.yaml'].join('\n');
    expect(unitLaunch(unit)).toEqual({ nodeFlags: ['--x=1', '--y'], env: { MALLOC_ARENA_MAX: '1', A: 'b', C: 'd' } });
  });

  it('reads the shipped unit', () => {
    const launch = unitLaunch(readFileSync(new URL('../../deploy/prosumer-edge.service', import.meta.url), 'utf8'));
    expect(launch.nodeFlags).toEqual(['--max-semi-space-size=1', '--liftoff-only', '--optimize-for-size']);
    expect(launch.env).toEqual({ MALLOC_ARENA_MAX: '1' });
  });
});
