/**
 * Hand-written SVG charts (no plotting dependency): a panel with linear axes, tick labels,
 * polylines and labelled points. Enough for the evaluation's two figures.
 */

export interface Series {
  label: string;
  color: string;
  points: [number, number][];
  /** Hourly data drawn as steps (value held over [x, x+1)). */
  step?: boolean;
  dashed?: boolean;
}

export interface LabelledPoint {
  label: string;
  color: string;
  x: number;
  y: number;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series?: Series[];
  points?: LabelledPoint[];
  /** Horizontal reference lines. */
  hLines?: { y: number; label: string; color: string }[];
  xRange?: [number, number];
  yRange?: [number, number];
}

const width = 760;
const panelHeight = 300;
const margin = { left: 70, right: 190, top: 36, bottom: 48 };

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceTicks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo || 1;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function extent(values: number[], fallback: [number, number]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return fallback;
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (lo === hi) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.06;
  return [lo - pad, hi + pad];
}

function fmt(v: number): string {
  return Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(4)));
}

function renderPanel(panel: Panel, offsetY: number): string {
  const plotW = width - margin.left - margin.right;
  const plotH = panelHeight - margin.top - margin.bottom;
  const xs = [...(panel.series ?? []).flatMap((s) => s.points.flatMap((p) => (s.step ? [p[0], p[0] + 1] : [p[0]]))), ...(panel.points ?? []).map((p) => p.x)];
  const ys = [...(panel.series ?? []).flatMap((s) => s.points.map((p) => p[1])), ...(panel.points ?? []).map((p) => p.y), ...(panel.hLines ?? []).map((l) => l.y)];
  const [x0, x1] = panel.xRange ?? extent(xs, [0, 1]);
  const [y0, y1] = panel.yRange ?? extent(ys, [0, 1]);
  const sx = (x: number) => margin.left + ((x - x0) / (x1 - x0)) * plotW;
  const sy = (y: number) => offsetY + margin.top + plotH - ((y - y0) / (y1 - y0)) * plotH;
  const out: string[] = [];
  out.push(`<text x="${margin.left}" y="${offsetY + 22}" font-size="15" font-weight="bold">${escapeXml(panel.title)}</text>`);
  out.push(`<rect x="${margin.left}" y="${offsetY + margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#444"/>`);
  for (const t of niceTicks(x0, x1)) {
    out.push(`<line x1="${sx(t).toFixed(1)}" y1="${offsetY + margin.top + plotH}" x2="${sx(t).toFixed(1)}" y2="${offsetY + margin.top + plotH + 5}" stroke="#444"/>`);
    out.push(`<text x="${sx(t).toFixed(1)}" y="${offsetY + margin.top + plotH + 18}" font-size="11" text-anchor="middle">${fmt(t)}</text>`);
  }
  for (const t of niceTicks(y0, y1)) {
    out.push(`<line x1="${margin.left}" y1="${sy(t).toFixed(1)}" x2="${margin.left + plotW}" y2="${sy(t).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${margin.left - 6}" y="${(sy(t) + 4).toFixed(1)}" font-size="11" text-anchor="end">${fmt(t)}</text>`);
  }
  out.push(`<text x="${margin.left + plotW / 2}" y="${offsetY + panelHeight - 8}" font-size="12" text-anchor="middle">${escapeXml(panel.xLabel)}</text>`);
  out.push(`<text x="16" y="${offsetY + margin.top + plotH / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 16 ${offsetY + margin.top + plotH / 2})">${escapeXml(panel.yLabel)}</text>`);
  let legendY = offsetY + margin.top + 10;
  const legend = (label: string, color: string, dashed = false) => {
    const lx = margin.left + plotW + 12;
    out.push(`<line x1="${lx}" y1="${legendY}" x2="${lx + 22}" y2="${legendY}" stroke="${color}" stroke-width="2"${dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    out.push(`<text x="${lx + 28}" y="${legendY + 4}" font-size="11">${escapeXml(label)}</text>`);
    legendY += 18;
  };
  for (const line of panel.hLines ?? []) {
    out.push(`<line x1="${margin.left}" y1="${sy(line.y).toFixed(1)}" x2="${margin.left + plotW}" y2="${sy(line.y).toFixed(1)}" stroke="${line.color}" stroke-dasharray="6 4"/>`);
    legend(line.label, line.color, true);
  }
  for (const s of panel.series ?? []) {
    const coords: string[] = [];
    for (const [x, y] of s.points) {
      if (s.step) coords.push(`${sx(x).toFixed(1)},${sy(y).toFixed(1)}`, `${sx(x + 1).toFixed(1)},${sy(y).toFixed(1)}`);
      else coords.push(`${sx(x).toFixed(1)},${sy(y).toFixed(1)}`);
    }
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''} points="${coords.join(' ')}"/>`);
    legend(s.label, s.color, s.dashed);
  }
  for (const p of panel.points ?? []) {
    out.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="4.5" fill="${p.color}"/>`);
    out.push(`<text x="${(sx(p.x) + 7).toFixed(1)}" y="${(sy(p.y) - 6).toFixed(1)}" font-size="11" fill="${p.color}">${escapeXml(p.label)}</text>`);
  }
  return out.join('\n');
}

/** One SVG document with the panels stacked vertically. */
export function renderSvg(panels: Panel[], caption: string): string {
  const height = panels.length * panelHeight + 30;
  const body = panels.map((p, i) => renderPanel(p, i * panelHeight)).join('\n');
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    body,
    `<text x="${margin.left}" y="${height - 10}" font-size="11" fill="#555">${escapeXml(caption)}</text>`,
    `</svg>`,
    '',
  ].join('\n');
}
