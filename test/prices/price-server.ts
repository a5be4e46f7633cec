/**
 * A local stand-in for aWATTar's and ENTSO-E's APIs on 127.0.0.1, serving the recorded answers
 * of test/fixtures/prices: `/v1/marketdata` the aWATTar entries of [start, end), `/api` the
 * ENTSO-E A44 time series whose period overlaps [periodStart, periodEnd) (an acknowledgement
 * when there is none, 401 without the right token), as the real APIs select them. It can be told
 * to fail (HTTP 503) to play a feed that is down. Every request is recorded.
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
  .filter((f) => f.startsWith('awattar-'))
  .flatMap((f) => (JSON.parse(readFileSync(fixtures + f, 'utf8')) as { data: Entry[] }).data)
  .sort((a, b) => a.start_timestamp - b.start_timestamp);

/** The recorded ENTSO-E time series and the interval of their period. */
const entsoeSeries: { startMs: number; endMs: number; xml: string }[] = readdirSync(fixtures)
  .filter((f) => f.startsWith('entsoe-a44-'))
  .map((f) => readFileSync(fixtures + f, 'utf8'))
  .map((xml) => {
    const [, start, end] = /<Period>\s*<timeInterval>\s*<start>([^<]+)<\/start>\s*<end>([^<]+)<\/end>/.exec(xml)!;
    return { startMs: Date.parse(start!), endMs: Date.parse(end!), xml: /<TimeSeries>[\s\S]*<\/TimeSeries>/.exec(xml)![0] };
  });

/** The token the stand-in accepts. */
export const ENTSOE_TOKEN = 'a1b2c3d4-0000-4e5f-9a8b-7c6d5e4f3a2b';
export const ENTSOE_ZONE = '10Y1001A1001A63L';

/** `yyyyMMddHHmm` (UTC) → ms. */
const periodMs = (text: string | null) => (text && /^\d{12}$/.test(text) ? Date.UTC(+text.slice(0, 4), +text.slice(4, 6) - 1, +text.slice(6, 8), +text.slice(8, 10), +text.slice(10, 12)) : NaN);

function entsoeAnswer(query: URLSearchParams): { status: number; body: string } {
  const acknowledgement = (status: number, text: string) => ({ status, body: recordedAnswer('entsoe-acknowledgement-no-data.xml').replace(/<text>[^<]*<\/text>/, `<text>${text}</text>`) });
  if (query.get('securityToken') !== ENTSOE_TOKEN) return acknowledgement(401, 'Unauthorized. Missing or invalid security token');
  const startMs = periodMs(query.get('periodStart'));
  const endMs = periodMs(query.get('periodEnd'));
  if (query.get('documentType') !== 'A44' || query.get('in_Domain') !== ENTSOE_ZONE || query.get('out_Domain') !== ENTSOE_ZONE || Number.isNaN(startMs) || Number.isNaN(endMs)) return acknowledgement(400, 'Bad request');
  const series = entsoeSeries.filter((s) => s.startMs < endMs && startMs < s.endMs).sort((a, b) => a.startMs - b.startMs);
  if (series.length === 0) return { status: 200, body: recordedAnswer('entsoe-acknowledgement-no-data.xml') };
  const recorded = recordedAnswer('entsoe-a44-2016-10-30.xml');
  return { status: 200, body: recorded.replace(/<TimeSeries>[\s\S]*<\/TimeSeries>/, series.map((s, i) => s.xml.replace(/<mRID>1<\/mRID>/, `<mRID>${i + 1}</mRID>`)).join('\n\t')) };
}

export function recordedAnswer(name: string): string {
  return readFileSync(fixtures + name, 'utf8');
}

export interface PriceServer {
  url: string;
  /** aWATTar's query; ENTSO-E's periodStart/periodEnd. */
  requests: { startMs: number; endMs: number }[];
  /** The ENTSO-E stand-in. */
  entsoeUrl: string;
  /** 'up': answers; 'down': 503; 'garbage': 200 with a body that is not the API's. */
  mode: 'up' | 'down' | 'garbage';
  close(): Promise<void>;
}

export async function startPriceServer(): Promise<PriceServer> {
  const state: Omit<PriceServer, 'url' | 'entsoeUrl' | 'close'> = { requests: [], mode: 'up' };
  const server: Server = createServer((request, response) => {
    const query = new URL(request.url ?? '/', 'http://localhost');
    const entsoe = query.pathname === '/api';
    const startMs = entsoe ? periodMs(query.searchParams.get('periodStart')) : Number(query.searchParams.get('start'));
    const endMs = entsoe ? periodMs(query.searchParams.get('periodEnd')) : Number(query.searchParams.get('end'));
    state.requests.push({ startMs, endMs });
    if (state.mode === 'down') {
      response.writeHead(503, { 'content-type': 'text/plain' }).end('Service Unavailable');
      return;
    }
    if (state.mode === 'garbage') {
      response.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>');
      return;
    }
    if (entsoe) {
      const { status, body } = entsoeAnswer(query.searchParams);
      response.writeHead(status, { 'content-type': 'text/xml' }).end(body);
      return;
    }
    const data = recordedEntries.filter((e) => e.start_timestamp >= startMs && e.start_timestamp < endMs);
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data, url: '/de/v1/marketdata' }));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/v1/marketdata`,
    entsoeUrl: `http://127.0.0.1:${port}/api`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  });
}
