// A worker thread does not inherit the parent's TypeScript loader (Node 20 loader hooks are per
// thread), so the solver worker starts here: register tsx in this thread, then load the worker.
// Works the same under the CLI (tsx) and under vitest.
import { register } from 'tsx/esm/api';

register();
await import('./solver-worker.ts');
