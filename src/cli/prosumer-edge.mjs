#!/usr/bin/env node
// Development entry: runs the TypeScript sources through the tsx loader (a devDependency). The
// installed command is the compiled src/cli/bin.ts in dist/ (npm run build).
import { register } from 'tsx/esm/api';

register();
await import('./bin.ts');
