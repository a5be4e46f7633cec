/**
 * A test's child-process script compiled once into one plain ES module, so that each child starts
 * in plain `node` instead of booting the tsx loader and its esbuild service (about half a second
 * per start, most of a kill cycle in the crash tests). esbuild is the compiler tsx uses, so the
 * children run the same code; npm packages stay imports, resolved from the checkout's
 * node_modules (the module is written under node_modules/.cache). For scripts whose modules do
 * not find files relative to their own path (import.meta.url): the compiled module lives elsewhere.
 * The file is named by its content, so test files in parallel and later runs share it.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cacheDir = fileURLToPath(new URL('../node_modules/.cache/prosumer-edge-test-children/', import.meta.url));
const compiled = new Map<string, string>();

export function compiledScript(entry: string): string {
  let file = compiled.get(entry);
  if (file === undefined) {
    // Required here, not imported: a child script may import the module that calls this, and its bundle must not hold esbuild.
    const { buildSync } = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
    const [output] = buildSync({ entryPoints: [entry], bundle: true, packages: 'external', write: false, platform: 'node', format: 'esm', target: `node${process.versions.node}`, logLevel: 'error' }).outputFiles;
    const name = entry.split('/').at(-1)!.replace(/\.ts$/, '');
    file = join(cacheDir, `${name}-${createHash('sha256').update(output!.contents).digest('hex').slice(0, 16)}.mjs`);
    if (!existsSync(file)) {
      mkdirSync(cacheDir, { recursive: true });
      const partial = `${file}.${process.pid}.tmp`;
      writeFileSync(partial, output!.contents);
      renameSync(partial, file);
    }
    compiled.set(entry, file);
  }
  return file;
}
