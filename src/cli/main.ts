/**
 * Command dispatch. Each command lives in its own module, loaded only when used, so that
 * `prosumer-edge sim` does not pay for the optimizer and `eval` does not open serial ports.
 */
import { packageFile } from '../package/paths.ts';

type Command = { summary: string; load: () => Promise<{ run(args: string[]): Promise<number> }> };

const commands: Record<string, Command> = {
  run: { summary: 'run a gateway: --config gateway.yaml (real devices, or the simulator when the config says so)', load: () => import('../runtime/command.ts') },
  community: { summary: 'the community run: four real households, each its own gateway process, on an embedded broker', load: () => import('../community/command.ts') },
  sim: { summary: 'run the hardware simulator (Modbus TCP/RTU, serial BMS, relay board)', load: () => import('../../sim/command.ts') },
  eval: { summary: 'closed-loop evaluation of the controllers on the real data', load: () => import('../eval/command.ts') },
  ces: { summary: 'cloud energy storage evaluation: a shared battery renting capacity and selling P2P energy to the households', load: () => import('../eval/ces/command.ts') },
  'ces-agent': { summary: 'the cloud energy storage operator as its own process: its simulated storage, its identity, the rental clearing with the households', load: () => import('../ces/agent-command.ts') },
  bench: { summary: 'benchmarks (--json for JSON lines)', load: () => import('../bench/command.ts') },
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v') {
    const { readFile } = await import('node:fs/promises');
    const pkg = JSON.parse(await readFile(packageFile('package.json'), 'utf8')) as { version: string };
    process.stdout.write(`prosumer-edge ${pkg.version}\n`);
    return 0;
  }
  const asksForHelp = name === undefined || name === '--help' || name === '-h' || name === 'help';
  const command = asksForHelp ? undefined : commands[name];
  if (!command) {
    const list = Object.entries(commands).map(([n, c]) => `  ${n.padEnd(8)} ${c.summary}`).join('\n');
    const usage = `usage: prosumer-edge <command> [options]   (<command> --help for its options; --version)\n${list}\n`;
    if (asksForHelp) {
      process.stdout.write(usage);
      return 0;
    }
    process.stderr.write(`unknown command "${name}"\n${usage}`);
    return 2;
  }
  const module = await command.load();
  return module.run(rest);
}
