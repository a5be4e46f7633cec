/**
 * Command dispatch. Each command lives in its own module, loaded only when used, so that
 * `prosumer-edge sim` does not pay for the optimizer and `eval` does not open serial ports.
 */
type Command = { summary: string; load: () => Promise<{ run(args: string[]): Promise<number> }> };

const commands: Record<string, Command> = {
  demo: { summary: 'start the simulator and a gateway on it, print live readings, then a summary', load: () => import('../demo/command.ts') },
  sim: { summary: 'run the hardware simulator (Modbus TCP/RTU, serial BMS, relay board)', load: () => import('../../sim/command.ts') },
  eval: { summary: 'closed-loop evaluation of the controllers on the real data', load: () => import('../eval/command.ts') },
  bench: { summary: 'benchmarks (--json for JSON lines)', load: () => import('../bench/command.ts') },
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name ? commands[name] : undefined;
  if (!command) {
    const list = Object.entries(commands).map(([n, c]) => `  ${n.padEnd(8)} ${c.summary}`).join('\n');
    process.stderr.write(`${name ? `unknown command "${name}"\n` : ''}usage: prosumer-edge <command> [options]\n${list}\n`);
    return name === undefined || name === '--help' || name === '-h' ? 0 : 2;
  }
  const module = await command.load();
  return module.run(rest);
}
