import { freePorts } from '../src/bench/free-ports.ts';

/** A TCP port on 127.0.0.1 that nothing listened on a moment ago (the OS's pick). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}
