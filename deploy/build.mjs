// `npm run build`: the compiled build in dist/ that `bin`, `npm start` and the systemd unit run.
// tsc compiles src/, drivers/ and sim/ (tsconfig.build.json rewrites the `.ts` import specifiers to
// `.js`); every other file in those folders that the code reads at run time (the status page's
// script, SunSpec model JSON, sim/data, register maps…) is copied beside its compiled module.
// The `.mjs` development bootstraps that register tsx are left out: the build does not use tsx.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// `--out-dir DIR` builds elsewhere (the build's own test does, so it never pulls dist/ from under a
// running process); the layout inside is the same.
const outDirArg = process.argv.indexOf('--out-dir');
const dist = outDirArg > 0 ? resolve(root, process.argv[outDirArg + 1]) : join(root, 'dist');
const sourceDirs = ['src', 'drivers', 'sim'];

// An installed package has dist/ and no sources: nothing to build (npm may run `prepare` there).
if (!existsSync(join(root, 'tsconfig.build.json'))) process.exit(0);
rmSync(dist, { recursive: true, force: true });
// tsc writes the JavaScript even when it reports type errors; the assets are copied all the same,
// so dist/ is never left half made, and the build still fails (exit status 1) on the errors.
let typeErrors = false;
try {
  execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(root, 'tsconfig.build.json'), '--outDir', dist], { stdio: 'inherit' });
} catch {
  typeErrors = true;
}

let copied = 0;
for (const dir of sourceDirs) {
  for (const entry of readdirSync(join(root, dir), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || /\.(ts|mjs)$/.test(entry.name)) continue;
    const from = join(entry.parentPath, entry.name);
    cpSync(from, join(dist, relative(root, from)));
    copied++;
  }
}

// The config files' validators as code generated now (ajv's standalone code), so the installed
// gateway neither loads ajv's compiler nor compiles schemas at start-up (src/config/schema-validator.ts
// loads these; it compiles the schemas itself only when they are missing).
const { Ajv } = await import('ajv');
const { default: standaloneCode } = await import('ajv/dist/standalone/index.js');
const distModule = (path) => import(pathToFileURL(join(dist, path)).href);
const { validatorOptions } = await distModule('src/config/schema-validator.js');
const schemas = {
  gateway: (await distModule('src/config/gateway-schema.js')).gatewaySchema,
  board: (await distModule('src/config/board-schema.js')).boardSchema,
  'register-map': (await distModule('drivers/register-map/map.js')).mapSchema,
};
mkdirSync(join(dist, 'validators'), { recursive: true });
for (const [name, schema] of Object.entries(schemas)) {
  const ajv = new Ajv({ ...validatorOptions[name], code: { source: true } });
  writeFileSync(join(dist, 'validators', `${name}.cjs`), standaloneCode(ajv, ajv.compile(schema)));
}
process.stdout.write(`${relative(root, dist)}/: compiled ${sourceDirs.join(', ')}; ${copied} asset files copied; ${Object.keys(schemas).length} schema validators generated\n`);
if (typeErrors) {
  process.stderr.write('build: tsc reported type errors (above)\n');
  process.exit(1);
}
