// A worker thread does not inherit the parent's TypeScript loader (Node 20 loader hooks are per
// thread), so from the TypeScript sources the solver worker starts here: register tsx in this
// thread, then load the worker. Works the same under the development CLI (tsx) and under vitest;
// the compiled build (dist/) starts solver-worker.js directly.
import { register } from 'tsx/esm/api';

register();
await import('./solver-worker.ts');
