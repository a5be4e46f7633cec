/**
 * One-way layering (issue 12 item 8): the code a gateway runs never imports the evaluation or the
 * simulator statically. The runtime loads the simulator with a dynamic `import()` when the config
 * has a `simulator` section; `import type` is erased by the compiler and loads nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
/** The evaluation and what drives it (benchmarks, the community run's harness) may use both. */
const notProduction = ['src/eval/', 'src/bench/', 'src/community/'];
const forbidden = ['src/eval/', 'sim/'];

/** Relative specifiers of the static imports and re-exports in `source` that load code at run time. */
function staticValueImports(source: string): string[] {
  const specifiers: string[] = [];
  const statement = /^\s*(import|export)\s+([^'";]*?)\s*from\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]/gm;
  for (const m of source.matchAll(statement)) {
    if (m[4] !== undefined) {
      specifiers.push(m[4]);
      continue;
    }
    const clause = m[2]!.trim();
    if (clause.startsWith('type ')) continue;
    // `import { type A, type B } from …` loads nothing either.
    const names = /^\{([^}]*)\}$/.exec(clause)?.[1];
    if (names !== undefined && names.split(',').map((n) => n.trim()).filter(Boolean).every((n) => n.startsWith('type '))) continue;
    specifiers.push(m[3]!);
  }
  return specifiers.filter((s) => s.startsWith('.'));
}

function productionFiles(): string[] {
  const files: string[] = [];
  for (const dir of ['src', 'drivers']) {
    for (const entry of readdirSync(join(root, dir), { recursive: true, withFileTypes: true })) {
      const path = relative(root, join(entry.parentPath, entry.name));
      if (entry.isFile() && /\.(ts|mjs)$/.test(entry.name) && !notProduction.some((p) => path.startsWith(p))) files.push(path);
    }
  }
  return files;
}

function violations(file: string, source: string): string[] {
  return staticValueImports(source)
    .map((specifier) => relative(root, resolve(root, dirname(file), specifier)))
    .filter((target) => forbidden.some((f) => target.startsWith(f)))
    .map((target) => `${file} imports ${target}`);
}

describe('layering', () => {
  it('no production module imports the evaluation or the simulator statically', () => {
    const files = productionFiles();
    expect(files.length).toBeGreaterThan(50);
    expect(files).toContain('src/runtime/gateway-runtime.ts');
    expect(files.flatMap((file) => violations(file, readFileSync(join(root, file), 'utf8')))).toEqual([]);
  });

  it('the check catches a static import of either, and lets type-only and dynamic imports pass', () => {
    const file = 'src/runtime/example.ts';
    const source = [
      "import { startSimulator } from '../../sim/simulator.ts';",
      "import {\n  defaultOptimizerSettings,\n  optimizerController,\n} from '../eval/controllers/optimizer.ts';",
      "export { toleranceKw } from '../eval/plant.ts';",
      "import '../../sim/side-effect.ts';",
      "import type { Simulator } from '../../sim/simulator.ts';",
      "import { type Plant } from '../eval/plant.ts';",
      "const { startSimulator: start } = await import('../../sim/simulator.ts');",
      "import { createPlanner } from './planner.ts';",
    ].join('\n');
    expect(violations(file, source)).toEqual([
      'src/runtime/example.ts imports sim/simulator.ts',
      'src/runtime/example.ts imports src/eval/controllers/optimizer.ts',
      'src/runtime/example.ts imports src/eval/plant.ts',
      'src/runtime/example.ts imports sim/side-effect.ts',
    ]);
  });
});
