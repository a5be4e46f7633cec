/**
 * ENTSO-E's Transparency Platform (https://web-api.tp.entsoe.eu/api), day-ahead prices: document
 * type A44 for a bidding zone (`in_Domain` = `out_Domain` = its EIC code), `periodStart` /
 * `periodEnd` as `yyyyMMddHHmm` UTC, a personal `securityToken`. The answer is a
 * `Publication_MarketDocument` of `TimeSeries`, each with `Period`s: a `timeInterval` (`start`,
 * `end`), a `resolution` (`PT60M`, `PT15M`, `PT30M`) and `Point`s (`position` from 1,
 * `price.amount` in EUR/MWh). A series of curve type A03 ("variable sized blocks") leaves out a
 * point whose price equals the one before: the price holds until the next point or the period's
 * end. No data in the window is an `Acknowledgement_MarketDocument` with a `Reason`.
 */
import type { PriceInterval } from './hourly-prices.ts';
import { childrenNamed, childText, readXml, type XmlElement } from './xml-elements.ts';
import { PriceFeedFormatError } from './source.ts';

const RESOLUTION_MS: Record<string, number> = { PT15M: 15 * 60_000, PT30M: 30 * 60_000, PT60M: 60 * 60_000 };

/** The prices of one answer; where series overlap (a zone publishing hourly and quarter-hourly), the finest wins. */
export function parseEntsoe(text: string, where: string): PriceInterval[] {
  const document = readXml(text, where);
  if (document.name === 'Acknowledgement_MarketDocument') {
    const reason = childrenNamed(document, 'Reason')[0];
    throw new PriceFeedFormatError(`${where}: no prices: ${reason ? `${childText(reason, 'text', where)} (code ${childText(reason, 'code', where)})` : 'an acknowledgement without a reason'}`);
  }
  if (document.name !== 'Publication_MarketDocument') throw new PriceFeedFormatError(`${where}: expected a Publication_MarketDocument, got <${document.name}>`);
  const intervals = childrenNamed(document, 'TimeSeries').flatMap((series, s) => seriesIntervals(series, `${where} TimeSeries[${s}]`));
  // Finest first; an interval that overlaps one already kept is a coarser copy of the same time.
  const kept: PriceInterval[] = [];
  for (const interval of [...intervals].sort((a, b) => a.endMs - a.startMs - (b.endMs - b.startMs) || a.startMs - b.startMs)) {
    if (!kept.some((k) => k.startMs < interval.endMs && interval.startMs < k.endMs)) kept.push(interval);
  }
  return kept.sort((a, b) => a.startMs - b.startMs);
}

function seriesIntervals(series: XmlElement, where: string): PriceInterval[] {
  const variableBlocks = series.children.find((c) => c.name === 'curveType')?.text === 'A03';
  return childrenNamed(series, 'Period').flatMap((period, p) => {
    const at = `${where} Period[${p}]`;
    const interval = childrenNamed(period, 'timeInterval')[0];
    if (!interval) throw new PriceFeedFormatError(`${at}: no timeInterval`);
    const startMs = instant(childText(interval, 'start', at), `${at} timeInterval.start`);
    const endMs = instant(childText(interval, 'end', at), `${at} timeInterval.end`);
    const resolution = childText(period, 'resolution', at);
    const stepMs = RESOLUTION_MS[resolution];
    if (stepMs === undefined) throw new PriceFeedFormatError(`${at}: resolution must be one of ${Object.keys(RESOLUTION_MS).join(', ')}, got ${JSON.stringify(resolution)}`);
    const slots = (endMs - startMs) / stepMs;
    if (!(Number.isInteger(slots) && slots > 0)) throw new PriceFeedFormatError(`${at}: timeInterval ${new Date(startMs).toISOString()} – ${new Date(endMs).toISOString()} is not a whole number of ${resolution}`);
    const points = childrenNamed(period, 'Point').map((point, i) => {
      const position = Number(childText(point, 'position', `${at} Point[${i}]`));
      const eurPerMwh = Number(childText(point, 'price.amount', `${at} Point[${i}]`));
      if (!Number.isInteger(position) || position < 1 || position > slots) throw new PriceFeedFormatError(`${at} Point[${i}]: position must be 1..${slots}, got ${position}`);
      if (!Number.isFinite(eurPerMwh)) throw new PriceFeedFormatError(`${at} Point[${i}]: price.amount must be a number`);
      return { position, eurPerMwh };
    });
    points.sort((a, b) => a.position - b.position);
    return points.map(({ position, eurPerMwh }, i) => {
      // A03: the block lasts until the next point (or the period's end); otherwise one slot.
      const lastPosition = variableBlocks ? (points[i + 1]?.position ?? slots + 1) - 1 : position;
      return { startMs: startMs + (position - 1) * stepMs, endMs: startMs + lastPosition * stepMs, eurPerMwh };
    });
  });
}

function instant(text: string, where: string): number {
  // ENTSO-E writes minutes without seconds: 2016-10-29T22:00Z.
  const ms = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?Z$/.test(text) || Number.isNaN(ms)) throw new PriceFeedFormatError(`${where}: must be a UTC instant like 2016-10-29T22:00Z, got ${JSON.stringify(text)}`);
  return ms;
}

/** `yyyyMMddHHmm` in UTC, as the API's periodStart/periodEnd. */
function period(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace(/[-T:]/g, '');
}

export interface EntsoeQuery {
  url: string;
  /** EIC code of the bidding zone, e.g. 10Y1001A1001A82H (DE-LU). */
  biddingZone: string;
  securityToken: string;
}

/** The prices of [fromMs, toMs); rejects on a network error, a non-2xx status, a timeout or an answer without prices. The token never appears in an error. */
export async function fetchEntsoe(query: EntsoeQuery, fromMs: number, toMs: number, timeoutMs: number): Promise<PriceInterval[]> {
  const url = new URL(query.url);
  url.searchParams.set('documentType', 'A44');
  url.searchParams.set('in_Domain', query.biddingZone);
  url.searchParams.set('out_Domain', query.biddingZone);
  url.searchParams.set('periodStart', period(fromMs));
  url.searchParams.set('periodEnd', period(toMs));
  url.searchParams.set('securityToken', query.securityToken);
  const where = `${url.origin}${url.pathname}`;
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/xml' } });
  const text = await response.text();
  // A refused request still answers with an acknowledgement that says why.
  if (!response.ok) {
    let why = `${response.status} ${response.statusText}`;
    try {
      parseEntsoe(text, where);
    } catch (error) {
      if (error instanceof PriceFeedFormatError && /no prices: /.test(error.message)) why += `: ${error.message.split('no prices: ')[1]}`;
    }
    throw new Error(`${where} answered ${why}`);
  }
  return parseEntsoe(text, where);
}
