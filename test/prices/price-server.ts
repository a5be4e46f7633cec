/**
 * A local stand-in for aWATTar's API on 127.0.0.1: serves the recorded answers of
 * test/fixtures/prices, the entries of [start, end) as the real API selects them, and can be
 * told to fail (HTTP 503) to play a feed that is down. Every request is recorded.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const fixtures = fileURLToPath(new URL('../fixtures/prices/', import.meta.url));

interface Entry {
  start_timestamp: number;
  end_timestamp: number;
  marketprice: number;
  unit: string;
}

/** Every entry of the recorded answers, by start. */
export const recordedEntries: Entry[] = readdirSync(fixtures)
  .filter((f) => f.endsWith('.json'))
  .flatMap((f) => (JSON.parse(readFileSync(fixtures + f, 'utf8')) as { data: Entry[] }).data)
  .sort((a, b) => a.start_timestamp - b.start_timestamp);

export function recordedAnswer(name: string): string {
  return readFileSync(fixtures + name, 'utf8');
}

export interface PriceServer {
  url: string;
  requests: { startMs: number; endMs: number }[];
  /** 'up': answers; 'down': 503; 'garbage': 200 with a body that is not the API's. */
  mode: 'up' | 'down' | 'garbage';
  close(): Promise<void>;
}

export async function startPriceServer(): Promise<PriceServer> {
  const state: Omit<PriceServer, 'url' | 'close'> = { requests: [], mode: 'up' };
  const server: Server = createServer((request, response) => {
    const query = new URL(request.url ?? '/', 'http://localhost');
    const startMs = Number(query.searchParams.get('start'));
    const endMs = Number(query.searchParams.get('end'));
    state.requests.push({ startMs, endMs });
    if (state.mode === 'down') {
      response.writeHead(503, { 'content-type': 'text/plain' }).end('Service Unavailable');
      return;
    }
    if (state.mode === 'garbage') {
      response.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>');
      return;
    }
    const data = recordedEntries.filter((e) => e.start_timestamp >= startMs && e.start_timestamp < endMs);
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data, url: '/de/v1/marketdata' }));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/v1/marketdata`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  });
}
