// `node --import ./test/build/module-log.mjs …`: appends the URL of every file module the process
// (and its worker threads) loads to the file named by PE_MODULE_LOG, one a line.
import { register } from 'node:module';

register('./module-log-hook.mjs', import.meta.url);
