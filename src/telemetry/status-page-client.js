// The status page's script (inlined into the page by status-page.ts; no build step, no
// libraries: the gateway may be offline). Data only ever reaches the DOM through textContent
// and setAttribute, never as markup.
'use strict';
(() => {
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const MS_PER_HOUR = 3600000;
  const WINDOW_MS = 12 * MS_PER_HOUR;
  const W = 600;
  const H = 220;
  const M = { left: 46, right: 10, top: 10, bottom: 24 };
  const model = { state: null, plan: null, trades: [], measurements: [], plannedHistory: [], hours: [], safetyEvents: [] };

  const byId = (id) => document.getElementById(id);
  const setText = (id, text) => {
    byId(id).textContent = text;
  };
  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
  const fmt = (v, digits, unit) => (isNum(v) ? `${v.toFixed(digits)} ${unit}` : '–');
  const utc = (ms) => new Date(ms).toISOString().slice(11, 16);
  const utcFull = (ms) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

  function merge(update) {
    if (update.full) {
      model.measurements = [];
      model.plannedHistory = [];
      model.hours = [];
      model.safetyEvents = [];
    }
    if (update.current) {
      model.state = update.current.state;
      model.plan = update.current.plan;
      model.trades = update.current.trades;
    }
    if (update.plannedHistory) model.plannedHistory = update.plannedHistory;
    model.measurements.push(...update.measurements);
    const keepFromMs = model.state ? model.state.atMs - 24 * MS_PER_HOUR : -Infinity;
    model.measurements = model.measurements.filter((m) => m.atMs >= keepFromMs);
    for (const hour of update.hours) {
      model.hours = model.hours.filter((h) => h.hourStartMs !== hour.hourStartMs);
      model.hours.push(hour);
    }
    model.hours = model.hours.slice(-48);
    model.safetyEvents = model.safetyEvents.concat(update.safetyEvents).slice(-50);
  }

  function renderCards() {
    const s = model.state;
    if (!s) return;
    document.title = `prosumer-edge · ${s.gatewayId}`;
    setText('gateway', s.gatewayId);
    setText('clock', `${utcFull(s.atMs)} UTC`);
    const safe = s.mode === 'safe';
    setText('mode', safe ? 'SAFE' : 'plan');
    byId('mode-card').setAttribute('class', safe ? 'card alert' : 'card');
    setText('reasons', s.reasons.length > 0 ? s.reasons.join(', ') : 'following the plan');
    setText('soc', isNum(s.socPercent) ? `${s.socPercent.toFixed(1)} %` : '–');
    setText('energy', `${fmt(s.energyKwh, 2, 'kWh')} (plan ${fmt(s.planNow.energyKwh, 2, 'kWh')})`);
    setText('pv', fmt(s.pvKw, 2, 'kW'));
    setText('grid', fmt(s.gridKw, 2, 'kW'));
    setText('grid-plan', `plan ${fmt(s.planNow.gridKw, 2, 'kW')}, next hour ${fmt(s.nextHour.gridKw, 2, 'kW')}`);
    setText('battery', fmt(s.batteryKw, 2, 'kW'));
    setText('setpoint', `setpoint ${fmt(s.setpointCommandedKw, 2, 'kW')} (asked ${fmt(s.setpointRequestedKw, 2, 'kW')})`);
    setText('net-load', fmt(s.netLoadKw, 2, 'kW'));
    setText('relays', `shiftable loads on: ${s.relaysOn.filter((on) => on).length} of ${s.relaysOn.length}`);
    setText('broker', s.brokerConnected ? 'online' : 'offline');
    setText('trades-today', `${s.tradesToday.count} trades, ${s.tradesToday.energyKwh.toFixed(2)} kWh today`);
    const solve = s.lastSolve;
    setText('solve', solve ? `${solve.status}${solve.fallback ? ' (fallback)' : ''}` : 'none yet');
    setText('solve-detail', solve ? `${Math.round(solve.solveMs)} ms at ${utc(solve.atMs)} UTC` : '');
  }

  function niceStep(raw) {
    const power = 10 ** Math.floor(Math.log10(raw));
    const scaled = raw / power;
    return (scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 5 ? 5 : 10) * power;
  }

  function el(name, attributes, text) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** Step-shaped points: each value held from its start to its end. */
  function steps(startsMs, endsMs, values) {
    const points = [];
    values.forEach((v, t) => {
      points.push([startsMs[t], v], [endsMs[t], v]);
    });
    return points;
  }

  /** Measured points, split where a device did not answer (null) so gaps show as gaps. */
  function runs(key) {
    const all = model.measurements.slice();
    const latest = model.state && model.measurements.length > 0 ? model.measurements[model.measurements.length - 1] : null;
    if (model.state && (!latest || latest.atMs < model.state.atMs)) all.push({ atMs: model.state.atMs, [key]: model.state[key] });
    const out = [[]];
    for (const m of all) {
      if (isNum(m[key])) out[out.length - 1].push([m.atMs, m[key]]);
      else if (out[out.length - 1].length > 0) out.push([]);
    }
    return out.filter((r) => r.length > 0);
  }

  function drawChart(svgId, spec) {
    const svg = byId(svgId);
    svg.replaceChildren();
    const ys = [0];
    for (const s of spec.series) for (const run of s.runs) for (const p of run) ys.push(p[1]);
    for (const b of spec.bars) ys.push(b.value);
    let y0 = Math.min(...ys);
    let y1 = Math.max(...ys);
    if (y1 - y0 < 1e-6) {
      y0 -= 1;
      y1 += 1;
    }
    const step = niceStep((y1 - y0) / 4);
    y0 = Math.floor(y0 / step) * step;
    y1 = Math.ceil(y1 / step) * step;
    const [x0, x1] = spec.xRange;
    const px = (x) => M.left + ((x - x0) / (x1 - x0)) * (W - M.left - M.right);
    const py = (y) => H - M.bottom - ((y - y0) / (y1 - y0)) * (H - M.top - M.bottom);
    const f = (v) => v.toFixed(1);
    // Series may run past the window; the clip keeps them inside the plot area.
    const clipId = `${svgId}-clip`;
    const clip = el('clipPath', { id: clipId });
    clip.append(el('rect', { x: M.left, y: 0, width: W - M.left - M.right, height: H - M.bottom }));
    const defs = el('defs', {});
    defs.append(clip);
    svg.append(defs);

    for (let y = y0; y <= y1 + step / 2; y += step) {
      svg.append(el('line', { class: y === 0 ? 'axis zero' : 'grid', x1: M.left, x2: W - M.right, y1: f(py(y)), y2: f(py(y)) }));
      svg.append(el('text', { class: 'tick', x: M.left - 4, y: f(py(y) + 3), 'text-anchor': 'end' }, Number(y.toFixed(6)).toString()));
    }
    const spanH = (x1 - x0) / MS_PER_HOUR;
    const tickH = [0.25, 0.5, 1, 2, 3, 6, 12, 24].find((h) => spanH / h <= 8) ?? 24;
    for (let x = Math.ceil(x0 / (tickH * MS_PER_HOUR)) * tickH * MS_PER_HOUR; x <= x1; x += tickH * MS_PER_HOUR) {
      svg.append(el('line', { class: 'grid', x1: f(px(x)), x2: f(px(x)), y1: M.top, y2: H - M.bottom }));
      svg.append(el('text', { class: 'tick', x: f(px(x)), y: H - 8, 'text-anchor': 'middle' }, utc(x)));
    }
    for (const b of spec.bars) {
      const top = py(Math.max(0, b.value));
      svg.append(
        el('rect', {
          class: `bar ${b.className}`,
          'clip-path': `url(#${clipId})`,
          'data-series': b.series,
          x: f(px(b.startMs)),
          width: f(Math.max(1, px(b.endMs) - px(b.startMs) - 1)),
          y: f(top),
          height: f(Math.max(1, Math.abs(py(b.value) - py(0)))),
        }),
      );
    }
    for (const s of spec.series) {
      for (const run of s.runs) {
        svg.append(
          el('polyline', {
            class: `series ${s.className}`,
            'clip-path': `url(#${clipId})`,
            'data-series': s.id,
            'data-points': run.length,
            points: run.map((p) => `${f(px(p[0]))},${f(py(p[1]))}`).join(' '),
          }),
        );
      }
    }
    if (spec.nowMs !== null) {
      svg.append(el('line', { class: 'now', x1: f(px(spec.nowMs)), x2: f(px(spec.nowMs)), y1: M.top, y2: H - M.bottom }));
      svg.append(el('text', { class: 'tick now-label', x: f(px(spec.nowMs) + 3), y: M.top + 9 }, 'now'));
    }
  }

  function renderCharts() {
    const s = model.state;
    const plan = model.plan;
    const nowMs = s ? s.atMs : null;
    const starts = plan ? plan.stepStartsMs : [];
    const ends = plan ? plan.stepStartsMs.map((start, t) => start + plan.stepHours[t] * MS_PER_HOUR) : [];
    const history = model.plannedHistory;
    // Half a day either side of now: enough to compare plan and measurement, still readable.
    const xs = [];
    if (model.measurements.length > 0) xs.push(model.measurements[0].atMs);
    if (history.length > 0) xs.push(history[0].startMs);
    if (plan) xs.push(plan.startMs, ends[ends.length - 1]);
    if (nowMs !== null) xs.push(nowMs);
    if (xs.length === 0) return;
    let x0 = Math.min(...xs);
    let x1 = Math.max(...xs);
    if (nowMs !== null) {
      x0 = Math.max(x0, nowMs - WINDOW_MS);
      x1 = Math.min(x1, nowMs + WINDOW_MS);
    }
    if (x1 - x0 < MS_PER_HOUR) x1 = x0 + MS_PER_HOUR;
    const historyRun = (key) => (history.length > 0 ? [steps(history.map((h) => h.startMs), history.map((h) => h.endMs), history.map((h) => h[key]))] : []);
    const planRun = (values) => (plan ? [steps(starts, ends, values)] : []);

    drawChart('chart-grid', {
      xRange: [x0, x1],
      nowMs,
      bars: [],
      series: [
        { id: 'plan-grid-history', className: 'plan-history', runs: historyRun('gridKw') },
        { id: 'plan-grid', className: 'plan', runs: planRun(plan ? plan.gridKw : []) },
        { id: 'measured-grid', className: 'measured', runs: runs('gridKw') },
      ],
    });
    drawChart('chart-battery', {
      xRange: [x0, x1],
      nowMs,
      bars: [],
      series: [
        { id: 'plan-battery-history', className: 'plan-history', runs: historyRun('batteryKw') },
        { id: 'plan-battery', className: 'plan', runs: planRun(plan ? plan.batteryKw : []) },
        { id: 'measured-battery', className: 'measured', runs: runs('batteryKw') },
      ],
    });
    const boundaries = plan ? [...starts, ends[ends.length - 1]] : [];
    drawChart('chart-energy', {
      xRange: [x0, x1],
      nowMs,
      bars: [],
      series: [
        { id: 'plan-energy', className: 'plan', runs: plan ? [plan.energyKwh.map((e, t) => [boundaries[t], e])] : [] },
        { id: 'measured-energy', className: 'measured', runs: runs('energyKwh') },
      ],
    });
    const slots = new Map();
    for (const trade of model.trades) {
      if (trade.state === 'aborted') continue;
      const key = `${trade.slotStartMs}|${trade.state}`;
      const slot = slots.get(key) ?? { startMs: trade.slotStartMs, endMs: trade.slotEndMs, value: 0, state: trade.state };
      slot.value += trade.powerKw;
      slots.set(key, slot);
    }
    drawChart('chart-trades', {
      xRange: [x0, x1],
      nowMs,
      bars: [...slots.values()].map((b) => ({ ...b, series: b.state === 'committed' ? 'trades' : 'trades-pending', className: b.state === 'committed' ? 'committed' : 'pending' })),
      series: [{ id: 'plan-p2p', className: 'plan', runs: planRun(plan ? plan.p2pKw : []) }],
    });
  }

  function cell(row, text, className) {
    const td = row.insertCell();
    td.textContent = text;
    if (className) td.className = className;
  }

  function renderSafety() {
    const body = byId('safety-rows');
    body.replaceChildren();
    const newest = model.safetyEvents.slice(-20).reverse();
    byId('no-safety').hidden = newest.length > 0;
    for (const e of newest) {
      const row = body.insertRow();
      row.setAttribute('class', `safety ${e.action}`);
      cell(row, `${utcFull(e.atMs)} UTC`);
      cell(row, e.reason, 'reason');
      cell(row, e.action, 'action');
      cell(row, e.detail, 'detail');
    }
  }

  function renderHours() {
    const body = byId('hour-rows');
    body.replaceChildren();
    for (const h of model.hours.slice(-6).reverse()) {
      const row = body.insertRow();
      cell(row, `${utcFull(h.hourStartMs).slice(0, 16)} UTC`);
      for (const v of [h.importKwh, h.exportKwh, h.pvKwh, h.batteryDischargeKwh, h.batteryChargeKwh, h.tradeKwh]) cell(row, v.toFixed(2), 'num');
      cell(row, `${h.safeIterations}/${h.iterations}`, 'num');
    }
  }

  function render() {
    renderCards();
    renderCharts();
    renderSafety();
    renderHours();
  }

  const events = new EventSource('events');
  events.onopen = () => {
    setText('connection', 'live');
    byId('connection').setAttribute('class', 'badge live');
  };
  events.onerror = () => {
    setText('connection', 'reconnecting…');
    byId('connection').setAttribute('class', 'badge');
  };
  events.onmessage = (message) => {
    merge(JSON.parse(message.data));
    render();
  };
})();
