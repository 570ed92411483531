// The dashboard's chart: one node's field over a time range, drawn as inline SVG with
// time and value axes. Loaded before app.js, which calls initChart, chartFor, chartLive
// and drawChartFromForm.
'use strict';

const SVG_NS = 'http://www.w3.org/2000/svg';
const MAX_MARKERS = 400;   // past this many drawn points, the line alone
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800]
  .map((s) => s * 1000);

// What is charted: node, field, the window (relative: seconds back from now), the points.
const chart = { mac: '', field: '', rangeS: 900, fromMs: 0, toMs: 0, unit: '', points: [], gen: 0, loading: false, redraw: null };

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

function decimalsFor(step) { return Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9))); }

function timeLabel(ms, stepMs) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  if (stepMs >= 86400000) return p(d.getMonth() + 1) + '-' + p(d.getDate());
  const hm = p(d.getHours()) + ':' + p(d.getMinutes());
  return stepMs < 60000 ? hm + ':' + p(d.getSeconds()) : hm;
}

// At most about two points per pixel column (its first, min, max and last), in time order.
function thin(points, fromMs, toMs, columns) {
  if (points.length <= columns * 2) return points;
  const out = [];
  const span = toMs - fromMs;
  let col = -1, bucket = [];
  const flush = () => {
    if (bucket.length === 0) return;
    let lo = bucket[0], hi = bucket[0];
    for (const q of bucket) { if (q.v < lo.v) lo = q; if (q.v > hi.v) hi = q; }
    const keep = new Set([bucket[0], lo, hi, bucket[bucket.length - 1]]);
    for (const q of bucket) if (keep.has(q)) out.push(q);
    bucket = [];
  };
  for (const q of points) {
    const c = Math.floor(((q.t - fromMs) / span) * columns);
    if (c !== col) { flush(); col = c; }
    bucket.push(q);
  }
  flush();
  return out;
}

function drawChart() {
  const box = $('chart');
  const width = Math.max(280, Math.floor(box.clientWidth || 600));
  const height = width < 500 ? 220 : 280;
  const m = { l: 58, r: 14, t: 14, b: 40 };
  const pw = width - m.l - m.r, ph = height - m.t - m.b;
  const now = Date.now();
  const fromMs = chart.rangeS ? now - chart.rangeS * 1000 : chart.fromMs;
  const toMs = chart.rangeS ? now : chart.toMs;
  const pts = chart.points.filter((q) => q.t >= fromMs && q.t <= toMs);
  const title = chart.field ? chart.field + (chart.unit ? ' (' + chart.unit + ')' : '') + ' of ' + chart.mac : 'No field chosen';
  const root = svg('svg', { width, height, viewBox: '0 0 ' + width + ' ' + height, role: 'img', 'aria-labelledby': 'chart-title chart-desc', id: 'chart-svg' });
  root.append(svg('title', { id: 'chart-title' }, title));

  let desc = 'No readings in this time range.';
  if (pts.length > 0) {
    let lo = Infinity, hi = -Infinity;
    for (const q of pts) { if (q.v < lo) lo = q.v; if (q.v > hi) hi = q.v; }
    desc = pts.length + ' readings from ' + fmtClock(pts[0].t, true) + ' to ' + fmtClock(pts[pts.length - 1].t, true) +
      ', between ' + fmtValue(lo, chart.unit) + ' and ' + fmtValue(hi, chart.unit) + '.';
    if (lo === hi) { const pad = Math.abs(lo) * 0.1 || 1; lo -= pad; hi += pad; }
    const ystep = niceStep(hi - lo, ph < 180 ? 4 : 5);
    const y0 = Math.floor(lo / ystep) * ystep, y1 = Math.ceil(hi / ystep) * ystep;
    const x = (t) => m.l + ((t - fromMs) / (toMs - fromMs)) * pw;
    const y = (v) => m.t + ph - ((v - y0) / (y1 - y0)) * ph;

    // Value axis, grid and labels.
    const grid = svg('g', { class: 'grid' }), axis = svg('g', { class: 'axis' });
    const dec = decimalsFor(ystep);
    for (let v = y0; v <= y1 + ystep / 2; v += ystep) {
      const yy = y(v).toFixed(1);
      grid.append(svg('line', { x1: m.l, x2: m.l + pw, y1: yy, y2: yy }));
      axis.append(svg('text', { x: m.l - 6, y: yy, 'text-anchor': 'end', 'dominant-baseline': 'middle' }, v.toFixed(dec)));
    }
    // Time axis: ticks on round local times.
    const span = toMs - fromMs;
    const want = Math.max(3, Math.floor(pw / 80));
    const tstep = TIME_STEPS.find((s) => span / s <= want) || TIME_STEPS[TIME_STEPS.length - 1];
    const off = -new Date(fromMs).getTimezoneOffset() * 60000;
    for (let t = Math.ceil((fromMs + off) / tstep) * tstep - off; t <= toMs; t += tstep) {
      const xx = x(t).toFixed(1);
      grid.append(svg('line', { x1: xx, x2: xx, y1: m.t, y2: m.t + ph }));
      axis.append(svg('line', { x1: xx, x2: xx, y1: m.t + ph, y2: m.t + ph + 4 }));
      axis.append(svg('text', { x: xx, y: m.t + ph + 16, 'text-anchor': 'middle' }, timeLabel(t, tstep)));
    }
    axis.append(svg('path', { d: 'M' + m.l + ' ' + m.t + 'V' + (m.t + ph) + 'H' + (m.l + pw), fill: 'none' }));
    root.append(grid, axis);

    // The series; a gap much longer than the usual interval breaks the line.
    const drawn = thin(pts, fromMs, toMs, pw);
    const gaps = drawn.slice(1).map((q, i) => q.t - drawn[i].t).sort((a, b) => a - b);
    const usual = gaps.length ? gaps[Math.floor(gaps.length / 2)] : 0;
    let d = '';
    drawn.forEach((q, i) => {
      const brk = i === 0 || (usual > 0 && q.t - drawn[i - 1].t > Math.max(10 * usual, 60000));
      d += (brk ? 'M' : 'L') + x(q.t).toFixed(1) + ' ' + y(q.v).toFixed(1);
    });
    root.append(svg('path', { class: 'series', d, 'data-drawn': drawn.length }));
    if (drawn.length <= MAX_MARKERS) {
      const g = svg('g', { class: 'points' });
      for (const q of drawn) g.append(svg('circle', { class: 'pt', cx: x(q.t).toFixed(1), cy: y(q.v).toFixed(1), r: 2.2, 'data-time-us': q.us }));
      root.append(g);
    }
  } else {
    root.append(svg('text', { class: 'empty', x: width / 2, y: height / 2, 'text-anchor': 'middle' },
      chart.loading ? 'Loading…' : chart.field ? 'No readings in this time range' : 'Choose a node and a field'));
  }
  root.append(svg('text', { class: 'label', x: 12, y: m.t + ph / 2, transform: 'rotate(-90 12 ' + (m.t + ph / 2) + ')', 'text-anchor': 'middle' },
    (chart.field || 'value') + (chart.unit ? ' (' + chart.unit + ')' : '')));
  root.append(svg('text', { class: 'label', x: m.l + pw / 2, y: height - 4, 'text-anchor': 'middle' }, 'local time'));
  root.append(svg('desc', { id: 'chart-desc' }, desc));
  box.replaceChildren(root);
  box.dataset.points = String(pts.length);
  box.dataset.node = chart.mac;
  box.dataset.field = chart.field;
}

// Every reading of the window, page by page up to CHART_MAX_PAGES.
async function loadChart() {
  const mine = ++chart.gen;
  chart.loading = true;
  const now = Date.now();
  const fromMs = chart.rangeS ? now - chart.rangeS * 1000 : chart.fromMs;
  const toMs = chart.rangeS ? null : chart.toMs;
  // Newest first, so that a range holding more than the page limit shows its recent end.
  const q = new URLSearchParams({ node: chart.mac, field: chart.field, from: new Date(fromMs).toISOString(),
    limit: String(CHART_PAGE), order: 'desc' });
  if (toMs) q.set('to', new Date(toMs).toISOString());
  const points = [];
  let note = '';
  try {
    let cursor = null, pages = 0;
    do {
      if (cursor) q.set('cursor', cursor);
      const data = await api('/api/readings?' + q.toString());
      if (mine !== chart.gen) return;
      for (const r of data.readings) {
        if (typeof r.value !== 'number') continue;
        points.push({ t: r.timeUs / 1000, v: r.value, us: r.timeUs });
        if (r.unit) chart.unit = r.unit;
      }
      cursor = data.nextCursor || null;
      pages += 1;
    } while (cursor && pages < CHART_MAX_PAGES);
    if (cursor) note = 'Showing ' + points.length + ' of the readings in this range, the newest (narrow the range to see all).';
  } catch (e) {
    if (mine !== chart.gen) return;
    note = 'Could not load readings: ' + e.message;
  }
  points.sort((a, b) => a.t - b.t);
  // Readings that arrived on the stream meanwhile stay (same time: the same reading).
  const seen = new Set(points.map((p) => p.us));
  for (const p of chart.points) if (!seen.has(p.us) && p.t >= fromMs) points.push(p);
  points.sort((a, b) => a.t - b.t);
  chart.points = points;
  chart.loading = false;
  $('chart-note').textContent = note;
  drawChart();
}

function drawChartFromForm() {
  const f = $('chart-form');
  chart.mac = $('chart-node').value;
  chart.field = $('chart-field').value;
  const range = f.querySelector('input[name="range"]:checked').value;
  $('chart-custom').hidden = range !== 'custom';
  if (range === 'custom') {
    const from = Date.parse($('chart-from').value), to = Date.parse($('chart-to').value);
    if (!isFinite(from) || !isFinite(to) || to <= from) {
      $('chart-note').textContent = 'Custom range: choose a start before the end.';
      return;
    }
    chart.rangeS = 0; chart.fromMs = from; chart.toMs = to;
  } else {
    chart.rangeS = Number(range);
  }
  const n = nodes.get(chart.mac);
  const v = n && n.values.get(chart.field);
  chart.unit = v && v.unit ? v.unit : '';
  chart.points = [];
  if (!chart.mac || !chart.field) { drawChart(); return; }
  drawChart();   // "Loading…" at once
  loadChart();
}

// A value button in the node table charts that field.
function chartFor(mac, field) {
  $('chart-node').value = mac;
  fillFieldSelect();
  $('chart-field').value = field;
  drawChartFromForm();
  $('chart-section').scrollIntoView({ behavior: 'smooth', block: 'start' });
}

// A streamed reading of the charted field joins a relative (sliding) window.
function chartLive(r) {
  if (!chart.rangeS || r.node !== chart.mac || r.field !== chart.field || typeof r.value !== 'number') return;
  chart.points.push({ t: r.timeUs / 1000, v: r.value, us: r.timeUs });
  const from = Date.now() - chart.rangeS * 1000;
  while (chart.points.length && chart.points[0].t < from) chart.points.shift();
  if (!chart.redraw && !chart.loading) chart.redraw = setTimeout(() => { chart.redraw = null; drawChart(); }, 250);
}

function initChart() {
  $('chart-form').addEventListener('submit', (ev) => { ev.preventDefault(); drawChartFromForm(); });
  $('chart-node').addEventListener('change', () => { fillFieldSelect(); drawChartFromForm(); });
  $('chart-field').addEventListener('change', drawChartFromForm);
  for (const r of document.querySelectorAll('#chart-range input')) {
    r.addEventListener('change', () => {
      const custom = r.value === 'custom';
      $('chart-custom').hidden = !custom;
      if (custom && !$('chart-from').value) {
        const pad = (d) => new Date(d - new Date(d).getTimezoneOffset() * 60000).toISOString().slice(0, 19);
        $('chart-from').value = pad(Date.now() - 3600000);
        $('chart-to').value = pad(Date.now());
      }
      if (!custom) drawChartFromForm();
    });
  }
  // Redrawn at the box's new width (a phone turned, a window resized).
  let resize = null, width = 0;
  new ResizeObserver(() => {
    const w = Math.floor($('chart').clientWidth);
    if (w === width) return;
    width = w;
    clearTimeout(resize);
    resize = setTimeout(drawChart, 100);
  }).observe($('chart'));
  drawChart();
}
