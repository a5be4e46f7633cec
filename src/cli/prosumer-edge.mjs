#!/usr/bin/env node
// The published entry point is plain JavaScript so it runs from any working directory;
// it registers the TypeScript loader that ships as a dependency, then hands over.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
