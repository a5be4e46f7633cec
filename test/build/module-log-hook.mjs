// Loader hook of module-log.mjs (runs on Node's loader thread).
import { appendFileSync } from 'node:fs';

export async function load(url, context, nextLoad) {
  if (url.startsWith('file:') && process.env.PE_MODULE_LOG) appendFileSync(process.env.PE_MODULE_LOG, `${url}\n`);
  return nextLoad(url, context);
}
