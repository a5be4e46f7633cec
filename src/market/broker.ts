import { createServer, type Socket } from 'node:net';
import { Aedes } from 'aedes';

export interface EmbeddedBroker {
  url: string;
  port: number;
  /**
   * aedes 1.2.0 refuses MQTT 5 connections (CONNACK "unacceptable protocol version"), so
   * clients speak MQTT 3.1.1 to it and the protocol's application-level safeguards carry the
   * features MQTT 5 would add (docs/market.md, "What relies on the broker").
   */
  mqttVersion: 4;
  /** Disconnects every client (without their wills: the broker is going away) and frees the port. */
  close(): Promise<void>;
}

/** The default broker of a single-community deployment: aedes in this process, memory-only. */
export async function startEmbeddedBroker(options: { port?: number; host?: string } = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  const broker = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('embedded broker: no TCP address');
  const port = address.port;
  return {
    url: `mqtt://${host}:${port}`,
    port,
    mqttVersion: 4,
    close: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
