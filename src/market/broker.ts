import { createServer, type Socket } from 'node:net';
import { systemClock, type Clock } from '../time/clock.ts';
import { CommunityBrokerRules } from './broker-login.ts';
import { Membership, type CommunityConfig } from './community.ts';

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

export interface EmbeddedBrokerOptions {
  port?: number;
  /** The address to listen on: 127.0.0.1 by default; a LAN address (or 0.0.0.0) to serve a community's gateways. */
  host?: string;
  /**
   * A community broker: only its members log in (`loginToken`), each with its peer id as client
   * id, publishing only on its own topics and reading only the community's (docs/market.md,
   * "Threat model"). Without it the broker is open, for a gateway's own telemetry on 127.0.0.1.
   */
  community?: CommunityConfig;
  clock?: Clock;
}

/** The default broker of a single-community deployment: aedes in this process, memory-only. */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  const clock = options.clock ?? systemClock;
  const rules = options.community === undefined ? undefined : new CommunityBrokerRules(new Membership(options.community));
  // Loaded here: a gateway that talks to an external broker never loads aedes (~12 MiB).
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker(
    rules === undefined
      ? {}
      : {
          authenticate: (client, username, password, done) => {
            const refusal = rules.refuseLogin(client.id, username, password, (client as unknown as { _will?: { topic: string } })._will?.topic, clock.nowMs());
            if (refusal === undefined) return done(null, true);
            done(Object.assign(new Error(refusal), { returnCode: 5 as const }), false);
          },
          authorizePublish: (client, packet, done) => {
            done(client !== null && rules.mayPublish(client.id, packet.topic) ? null : new Error(`${client?.id} may not publish on ${packet.topic}`));
          },
          authorizeSubscribe: (_client, subscription, done) => {
            done(rules.maySubscribe(subscription.topic) ? null : new Error(`no subscription to ${subscription.topic}`), subscription);
          },
        },
  );
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    // Small messages go out at once (see MarketNode's client): a community waits on each round message.
    socket.setNoDelay(true);
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
    url: `mqtt://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    port,
    mqttVersion: 4,
    close: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
