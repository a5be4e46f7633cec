/**
 * Where the package's own files are. The same modules run as TypeScript from the source tree
 * (development, tests, through tsx) and compiled in `dist/` (what `bin`, `npm start` and the
 * systemd unit run): a compiled module sits one folder deeper, so a path into the package root
 * written relative to a module's own file would land inside `dist/`. Files beside a module
 * (the status page's script, the SunSpec models, sim/data) are copied beside the compiled module
 * by the build (deploy/build.mjs) and stay relative to it.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);

/** True when this process runs the compiled build. */
export const compiled = !here.endsWith('.ts');

/** The folder holding package.json: the checkout, or the installed package. */
export const packageRoot = findRoot(dirname(here));

/** The command-line entry of this build, for commands that start gateways as child processes. */
export const cliEntry = compiled ? fileURLToPath(new URL('../cli/bin.js', import.meta.url)) : join(packageRoot, 'src', 'cli', 'prosumer-edge.mjs');

/** A file of the package, by its path from the package root. */
export const packageFile = (...segments: string[]): string => join(packageRoot, ...segments);

function findRoot(dir: string): string {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json'))) return d;
    if (dirname(d) === d) throw new Error(`prosumer-edge: no package.json above ${dir}`);
  }
}
