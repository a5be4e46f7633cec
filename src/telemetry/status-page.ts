/**
 * The gateway's local status page (docs/telemetry.md): one self-contained HTML page (inline
 * script and SVG, nothing fetched from elsewhere: the gateway may be offline), `/api/state`
 * (JSON) and `/events` (Server-Sent Events, pushed at most every `pushIntervalMs` of wall time
 * so an accelerated runtime does not flood the browser). Binds 127.0.0.1 unless told otherwise.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../time/clock.ts';
import type { StatusSource } from './status-source.ts';

export interface StatusPageOptions {
  /** Default 127.0.0.1: the page is for the local network only when the operator says so. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  source: StatusSource;
  /** Paces the event stream (wall time). Default: the system clock. */
  wallClock?: Clock;
  /** At most one pushed update per client per this many wall ms (default 500). */
  pushIntervalMs?: number;
}

export interface StatusPage {
  url: string;
  close(): Promise<void>;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);

const SCRIPT = readFileSync(new URL('./status-page-client.js', import.meta.url), 'utf8');

const STYLE = `
:root { font-family: system-ui, sans-serif; color: #1d2733; background: #f4f6f8; }
body { margin: 0 auto; max-width: 1280px; padding: 12px 20px; }
header { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
h1 { font-size: 1.4rem; margin: 4px 0; }
h2 { font-size: 1.1rem; margin: 18px 0 6px; }
#clock { color: #52606d; }
.badge { font-size: .8rem; padding: 2px 8px; border-radius: 10px; background: #d9dee3; }
.badge.live { background: #c3f0d0; color: #135c2a; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 10px; margin-top: 10px; }
.card { background: #fff; border-radius: 8px; padding: 10px 12px; box-shadow: 0 1px 2px #0002; }
.card.alert { background: #ffe3e3; }
.label { font-size: .8rem; color: #52606d; text-transform: uppercase; letter-spacing: .04em; }
.value { font-size: 1.5rem; font-weight: 600; margin: 2px 0; overflow-wrap: anywhere; }
.sub { font-size: .8rem; color: #52606d; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 10px; margin-top: 12px; }
figure { margin: 0; background: #fff; border-radius: 8px; padding: 8px 10px; box-shadow: 0 1px 2px #0002; }
figcaption { font-weight: 600; font-size: .95rem; }
.legend { font-weight: 400; font-size: .8rem; color: #52606d; margin-left: 8px; }
.swatch { display: inline-block; width: 14px; height: 3px; vertical-align: middle; margin: 0 4px 0 10px; }
.swatch.plan { background: #1c7ed6; }
.swatch.plan-history { background: #91c4f2; }
.swatch.measured { background: #e8590c; }
.swatch.committed { background: #2f9e44; height: 10px; }
.swatch.pending { background: #b2f2bb; height: 10px; }
svg { width: 100%; height: auto; display: block; }
.grid { stroke: #e4e7eb; stroke-width: 1; }
.axis { stroke: #9aa5b1; stroke-width: 1; }
.tick { font-size: 10px; fill: #52606d; }
.now { stroke: #52606d; stroke-dasharray: 3 3; }
.series { fill: none; stroke-width: 2; stroke-linejoin: round; }
.series.plan { stroke: #1c7ed6; }
.series.plan-history { stroke: #91c4f2; stroke-dasharray: 5 3; }
.series.measured { stroke: #e8590c; stroke-width: 1.5; }
.bar.committed { fill: #2f9e44; }
.bar.pending { fill: #b2f2bb; }
table { border-collapse: collapse; background: #fff; width: 100%; font-size: .9rem; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e4e7eb; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.enter td.reason { color: #c92a2a; font-weight: 600; }
tr.clear td.reason { color: #2b8a3e; }
tr.clip td.reason { color: #e67700; }
`;

const card = (label: string, valueId: string, subId: string): string =>
  `<div class="card" id="${valueId}-card"><div class="label">${label}</div><div class="value" id="${valueId}">–</div><div class="sub" id="${subId}"></div></div>`;

const legend = (...entries: [string, string][]): string =>
  `<span class="legend">${entries.map(([cls, label]) => `<span class="swatch ${cls}"></span>${label}`).join('')}</span>`;

const figure = (id: string, title: string, legendHtml: string): string =>
  `<figure><figcaption>${title}${legendHtml}</figcaption><svg id="${id}" viewBox="0 0 600 220" role="img" aria-label="${title}"></svg></figure>`;

const planLegend = legend(['plan', 'plan'], ['plan-history', 'plan in force'], ['measured', 'measured']);

function page(gatewayId: string): string {
  const title = escapeHtml(`prosumer-edge · ${gatewayId}`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title><link rel="icon" href="data:,"><style>${STYLE}</style></head>
<body>
<header><h1>prosumer-edge <span id="gateway">${escapeHtml(gatewayId)}</span></h1><span id="clock"></span><span id="connection" class="badge">connecting…</span></header>
<section class="cards">
${card('Mode', 'mode', 'reasons')}
${card('State of charge', 'soc', 'energy')}
${card('PV', 'pv', 'pv-sub')}
${card('Grid (+ import)', 'grid', 'grid-plan')}
${card('Battery (+ discharge)', 'battery', 'setpoint')}
${card('Net load', 'net-load', 'relays')}
${card('P2P market broker', 'broker', 'trades-today')}
${card('Last solve', 'solve', 'solve-detail')}
</section>
<section class="charts">
${figure('chart-grid', 'Grid power, kW (+ import)', planLegend)}
${figure('chart-battery', 'Battery power, kW (+ discharge)', planLegend)}
${figure('chart-energy', 'Stored energy, kWh (SoC)', legend(['plan', 'plan'], ['measured', 'measured']))}
${figure('chart-trades', 'P2P trades per slot, kW (+ buy)', legend(['committed', 'committed'], ['pending', 'in doubt'], ['plan', 'plan']))}
</section>
<h2>Safety events</h2>
<p id="no-safety">None yet.</p>
<table><thead><tr><th>time</th><th>reason</th><th>action</th><th>detail</th></tr></thead><tbody id="safety-rows"></tbody></table>
<h2>Recent hours</h2>
<table><thead><tr><th>hour</th><th>import kWh</th><th>export kWh</th><th>PV kWh</th><th>discharge kWh</th><th>charge kWh</th><th>P2P kWh</th><th>safe/total iterations</th></tr></thead><tbody id="hour-rows"></tbody></table>
<script>${SCRIPT}</script>
</body></html>`;
}

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
// Only the page's own script and style run, and it talks only to this server.
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export async function startStatusPage(options: StatusPageOptions): Promise<StatusPage> {
  const host = options.host ?? '127.0.0.1';
  const wallClock = options.wallClock ?? systemClock;
  const pushIntervalMs = options.pushIntervalMs ?? 500;
  const stop = new AbortController();
  const streams = new Set<ServerResponse>();

  const stream = (response: ServerResponse): void => {
    response.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    streams.add(response);
    let sentSeq = 0;
    let first = true;
    let armed = false;
    let lastPushWallMs = -Infinity;
    const push = (): void => {
      const update = options.source.since(sentSeq);
      if (!first && update.seq === sentSeq) return;
      sentSeq = update.seq;
      lastPushWallMs = wallClock.nowMs();
      response.write(`data: ${JSON.stringify({ full: first, ...update })}\n\n`);
      first = false;
    };
    const schedule = (): void => {
      if (armed) return;
      const waitMs = lastPushWallMs + pushIntervalMs - wallClock.nowMs();
      if (waitMs <= 0) return push();
      armed = true;
      void wallClock.sleep(waitMs, stop.signal).then((elapsed) => {
        armed = false;
        if (elapsed && streams.has(response)) push();
      });
    };
    const unsubscribe = options.source.onChange(schedule);
    response.on('close', () => {
      unsubscribe();
      streams.delete(response);
    });
    response.write('retry: 2000\n\n');
    push();
  };

  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/') {
      const gatewayId = options.source.since(0).current?.state.gatewayId ?? '';
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': CONTENT_SECURITY_POLICY, 'Cache-Control': 'no-store' });
      response.end(page(gatewayId));
    } else if (path === '/api/state') {
      response.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
      response.end(JSON.stringify(options.source.since(0)));
    } else if (path === '/events') {
      stream(response);
    } else {
      response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}/`,
    close: async () => {
      stop.abort();
      for (const response of streams) response.end();
      streams.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
