// `npm run build`: the compiled build in dist/ that `bin`, `npm start` and the systemd unit run.
// tsc compiles src/, drivers/ and sim/ (tsconfig.build.json rewrites the `.ts` import specifiers to
// `.js`); every other file in those folders that the code reads at run time (the status page's
// script, SunSpec model JSON, sim/data, register maps…) is copied beside its compiled module.
// The `.mjs` development bootstraps that register tsx are left out: the build does not use tsx.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const sourceDirs = ['src', 'drivers', 'sim'];

// An installed package has dist/ and no sources: nothing to build (npm may run `prepare` there).
if (!existsSync(join(root, 'tsconfig.build.json'))) process.exit(0);
rmSync(dist, { recursive: true, force: true });
execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

let copied = 0;
for (const dir of sourceDirs) {
  for (const entry of readdirSync(join(root, dir), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || /\.(ts|mjs)$/.test(entry.name)) continue;
    const from = join(entry.parentPath, entry.name);
    cpSync(from, join(dist, relative(root, from)));
    copied++;
  }
}
process.stdout.write(`dist/: compiled ${sourceDirs.join(', ')}; ${copied} asset files copied\n`);
