import { createServer, type Server } from 'node:net';

/**
 * TCP ports on 127.0.0.1 that nothing listened on a moment ago (the OS's picks): held open together
 * so that they differ, then released for whoever starts next.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<Server>((ok, fail) => {
      const server = createServer();
      server.once('error', fail);
      server.listen(0, '127.0.0.1', () => ok(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
  return ports;
}

/** One such port. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}
