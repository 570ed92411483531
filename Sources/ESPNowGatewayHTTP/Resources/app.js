// The gateway dashboard: plain JavaScript, no build step. Everything from the air (node
// names, field names, units, payloads) reaches the page through textContent only.
'use strict';

const TOKEN_KEY = 'espnow.gateway.token';
const NODES_REFRESH_LIVE_MS = 15000;   // while the stream is open: counters and new nodes
const NODES_REFRESH_DOWN_MS = 3000;    // the fallback while the stream is down
const STATUS_REFRESH_MS = 5000;
const CHART_PAGE = 5000;               // readings per request
const CHART_MAX_PAGES = 4;             // at most 20,000 readings per chart
const STALE_AFTER_S = 120;             // a node not heard for this long is greyed

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- API access

function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

function headers(extra) {
  const h = Object.assign({ Accept: 'application/json' }, extra || {});
  const t = token();
  if (t) h.Authorization = 'Bearer ' + t;
  return h;
}

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(path, opts) {
  const o = opts || {};
  const res = await fetch(path, {
    method: o.method || 'GET',
    headers: headers(o.body !== undefined ? { 'Content-Type': 'application/json' } : undefined),
    body: o.body !== undefined ? JSON.stringify(o.body) : undefined,
    cache: 'no-store',
  });
  let data = null;
  const text = await res.text();
  if (text) { try { data = JSON.parse(text); } catch (_) { data = null; } }
  if (!res.ok) {
    const e = data && data.error;
    throw new ApiError(res.status, e ? e.code : 'http_' + res.status,
      e && e.message ? e.message : 'HTTP ' + res.status + ' from ' + path);
  }
  return data;
}

// ---------------------------------------------------------------- formatting

// ISO-8601 with microseconds -> ms since the epoch (Date.parse may not take 6 digits).
function parseTime(iso) {
  if (!iso) return NaN;
  const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$/.exec(iso);
  if (!m) return Date.parse(iso);
  const frac = m[2] ? m[2].slice(0, 4).padEnd(4, '0') : '';
  return Date.parse(m[1] + frac + (m[3] || 'Z'));
}

// A MAC goes into a path as it is (':' is legal there; not every router decodes %3A).
function macPath(mac) {
  return /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac) ? mac : encodeURIComponent(mac);
}

function fmtNumber(v) {
  if (typeof v !== 'number' || !isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  return String(Math.round(v * 1000) / 1000);
}

function fmtValue(v, unit) { return fmtNumber(v) + (unit ? '\u202f' + unit : ''); }

function fmtAge(seconds) {
  if (!isFinite(seconds)) return '–';
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min';
  if (s < 86400) return Math.floor(s / 3600) + ' h';
  return Math.floor(s / 86400) + ' d';
}

function fmtClock(ms, withDate) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  const t = p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  return withDate ? d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' + t : t;
}

function sameDay(ms) { return new Date(ms).toDateString() === new Date().toDateString(); }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function flash(e) { e.classList.remove('flash'); void e.offsetWidth; e.classList.add('flash'); }

// ---------------------------------------------------------------- the node table

const LABELS = { name: 'Name', mac: 'MAC', values: 'Last values', rssi: 'RSSI', age: 'Age', packets: 'Packets', drops: 'Drops' };

// mac -> {node, row, cells, values: Map(field -> {value, unit, timeUs, button})}
const nodes = new Map();

function nodeRow(mac) {
  let n = nodes.get(mac);
  if (n) return n;
  const cells = {};
  const row = el('tr', { 'data-mac': mac });
  for (const col of ['name', 'mac', 'values', 'rssi', 'age', 'packets', 'drops']) {
    const td = el(col === 'name' ? 'th' : 'td', { 'data-col': col, 'data-label': LABELS[col] });
    if (col === 'name') td.setAttribute('scope', 'row');
    if (['rssi', 'age', 'packets', 'drops'].includes(col)) td.className = 'num';
    if (col === 'mac') { td.className = 'mac'; td.textContent = mac; }
    if (col === 'values') td.append(el('div', { class: 'values' }));
    cells[col] = td;
    row.append(td);
  }
  n = { node: { mac }, row, cells, values: new Map(), lastSeenMs: NaN, lastPacketUs: 0 };
  nodes.set(mac, n);
  // Keep rows sorted by MAC so they do not jump around.
  const body = $('nodes-body');
  const after = [...body.rows].find((r) => r.dataset.mac > mac);
  body.insertBefore(row, after || null);
  $('nodes-empty').hidden = true;
  return n;
}

function setValue(n, field, value, unit, timeUs, source) {
  let v = n.values.get(field);
  // An older value than the one shown, or the same reading read again.
  if (v && (v.timeUs > timeUs || (v.timeUs === timeUs && source === 'fetch'))) return;
  if (!v) {
    const button = el('button', { type: 'button', class: 'value', 'data-field': field });
    button.addEventListener('click', () => chartFor(n.node.mac, field));
    v = { button };
    n.values.set(field, v);
    const box = n.cells.values.firstChild;
    const after = [...box.children].find((b) => b.dataset.field > field);
    box.insertBefore(button, after || null);
  }
  const changed = v.timeUs !== timeUs;
  Object.assign(v, { value, unit, timeUs });
  v.button.replaceChildren(el('span', { class: 'f', text: field + ' ' }), fmtValue(value, unit));
  v.button.setAttribute('aria-label', field + ' ' + fmtValue(value, unit) + ', show chart');
  v.button.dataset.timeUs = String(timeUs);
  v.button.dataset.value = String(value);
  v.button.dataset.source = source;
  if (changed && source === 'stream') flash(v.button);
}

function applyNode(node) {
  const n = nodeRow(node.mac);
  n.node = node;
  n.cells.name.textContent = node.name || '—';
  n.cells.rssi.textContent = node.rssi != null ? node.rssi + ' dBm' : '–';
  n.cells.packets.textContent = String(node.packets);
  n.cells.drops.textContent = String(node.drops);
  const seen = node.lastSeenUs != null ? node.lastSeenUs / 1000 : parseTime(node.lastSeen);
  if (!(n.lastSeenMs > seen)) n.lastSeenMs = seen;
  for (const lv of node.lastValues || []) setValue(n, lv.field, lv.value, lv.unit, lv.timeUs, 'fetch');
  n.row.dataset.packets = String(node.packets);
}

// One reading from the stream: several readings of one packet share its time.
function applyReading(r) {
  const known = nodes.has(r.node);
  const n = nodeRow(r.node);
  if (!known) scheduleNodesRefresh(300);
  if (r.timeUs > n.lastPacketUs) {
    if (n.lastPacketUs !== 0 && n.node.packets != null) {
      n.node.packets += 1;
      n.cells.packets.textContent = String(n.node.packets);
      n.row.dataset.packets = String(n.node.packets);
    }
    n.lastPacketUs = r.timeUs;
  }
  if (r.rssi != null) n.cells.rssi.textContent = r.rssi + ' dBm';
  n.lastSeenMs = Math.max(n.lastSeenMs || 0, r.timeUs / 1000);
  setValue(n, r.field, r.value, r.unit, r.timeUs, 'stream');
  chartLive(r);
}

function tickAges() {
  const now = Date.now();
  for (const n of nodes.values()) {
    const age = (now - n.lastSeenMs) / 1000;
    n.cells.age.textContent = fmtAge(age);
    n.row.classList.toggle('stale', age > STALE_AFTER_S);
  }
}

let nodesTimer = null;
function scheduleNodesRefresh(ms) {
  clearTimeout(nodesTimer);
  nodesTimer = setTimeout(refreshNodes, ms);
}

async function refreshNodes() {
  try {
    const data = await api('/api/nodes');
    for (const node of data.nodes) {
      applyNode(node);
      const n = nodes.get(node.mac);
      for (const lv of node.lastValues || []) n.lastPacketUs = Math.max(n.lastPacketUs, lv.timeUs);
    }
    $('nodes-empty').hidden = nodes.size > 0;
    $('nodes-note').textContent = '';
    fillNodeSelects();
    tickAges();
  } catch (e) {
    $('nodes-note').textContent = e.status === 401
      ? 'This gateway needs its access token to show data: enter it under "Access token".'
      : 'Could not load the nodes: ' + e.message;
  }
  scheduleNodesRefresh(stream.state === 'open' ? NODES_REFRESH_LIVE_MS : NODES_REFRESH_DOWN_MS);
}

function fillSelect(select, items, keep) {
  const old = keep !== undefined ? keep : select.value;
  select.replaceChildren(...items.map(([value, label]) => el('option', { value, text: label })));
  if (items.some(([v]) => v === old)) select.value = old;
}

function fillNodeSelects() {
  const items = [...nodes.values()].map((n) => [n.node.mac, n.node.name ? n.node.name + ' (' + n.node.mac + ')' : n.node.mac]);
  fillSelect($('downlink-node'), items);
  fillSelect($('chart-node'), items);
  fillFieldSelect();
}

function fillFieldSelect() {
  const n = nodes.get($('chart-node').value);
  const fields = n ? [...n.values.keys()].sort() : [];
  fillSelect($('chart-field'), fields.map((f) => [f, f]));
}

// ---------------------------------------------------------------- the live stream (SSE)

// Read through fetch rather than EventSource so that a bearer token can go along.
const stream = { state: 'connecting', events: 0, controller: null, restart: false };

// Reconnects at once (with the new token) instead of after a failure's back-off.
function restartStream() {
  stream.restart = true;
  if (stream.controller) stream.controller.abort();
}

function setStream(state, text) {
  stream.state = state;
  const s = $('stream-status');
  s.dataset.state = state;
  s.dataset.events = String(stream.events);
  s.textContent = 'live stream: ' + text;
}

async function runStream() {
  let backoff = 1000;
  for (;;) {
    stream.controller = new AbortController();
    try {
      const res = await fetch('/api/stream', { headers: headers({ Accept: 'text/event-stream' }), signal: stream.controller.signal, cache: 'no-store' });
      if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
      setStream('open', 'open');
      backoff = 1000;
      scheduleNodesRefresh(0);          // catch up on what happened while it was down
      await readEvents(res.body, onEvent);
      throw new Error('the server closed the stream');
    } catch (e) {
      if (stream.restart) {
        stream.restart = false;
        setStream('connecting', 'reconnecting…');
        continue;
      }
      setStream('closed', 'down (' + e.message + '), retrying; the table is refreshed every ' + NODES_REFRESH_DOWN_MS / 1000 + ' s');
      scheduleNodesRefresh(0);
    }
    await new Promise((r) => setTimeout(r, backoff));
    backoff = Math.min(backoff * 2, 30000);
  }
}

// A minimal text/event-stream parser: blank-line separated events of `event:` and
// `data:` lines; comment lines (`:`) ignored.
async function readEvents(body, handler) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    // Normalise line ends, leaving a trailing \r for the next chunk (it may precede \n).
    const keep = buf.endsWith('\r') ? 1 : 0;
    buf = buf.slice(0, buf.length - keep).replace(/\r\n?/g, '\n') + (keep ? '\r' : '');
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let type = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const i = line.indexOf(':');
        const key = i < 0 ? line : line.slice(0, i);
        let val = i < 0 ? '' : line.slice(i + 1);
        if (val.startsWith(' ')) val = val.slice(1);
        if (key === 'event') type = val;
        else if (key === 'data') data.push(val);
      }
      if (data.length) handler(type, data.join('\n'));
    }
  }
}

function onEvent(type, data) {
  let obj;
  try { obj = JSON.parse(data); } catch (_) { return; }
  stream.events += 1;
  $('stream-status').dataset.events = String(stream.events);
  if (type === 'reading' || (type === 'message' && obj.field !== undefined)) {
    applyReading(obj);
  } else if (type === 'dropped') {
    $('nodes-note').textContent = 'The stream skipped ' + obj.dropped + ' readings (this page fell behind); refreshed.';
    scheduleNodesRefresh(0);
  }
}

// ---------------------------------------------------------------- gateway status

function fact(dl, name, value, cls) {
  dl.append(el('dt', { text: name }), el('dd', cls ? { class: cls, text: value } : { text: value }));
}

async function refreshStatus() {
  try {
    const ready = await fetch('/readyz', { headers: headers(), cache: 'no-store' });
    const r = $('health-ready');
    r.dataset.ready = ready.ok ? 'true' : 'false';
    r.textContent = ready.ok ? 'ready' : 'not ready (HTTP ' + ready.status + ')';
    r.className = ready.ok ? 'ok' : 'bad';
  } catch (e) {
    $('health-ready').dataset.ready = 'false';
    $('health-ready').textContent = 'unreachable';
  }
  try {
    const s = await api('/api/status');
    $('gateway-id').textContent = s.gatewayId;
    $('health-version').textContent = s.version;
    const db = s.database || {};
    $('health-db').textContent = db.kind + (db.up ? ', up' : ', DOWN');
    $('health-db').className = db.up ? 'ok' : 'bad';
    $('health-queue').textContent = s.queueDepth + ' / ' + s.spoolDepth;
    $('dongles-body').replaceChildren(...(s.dongles || []).map((d) => el('tr', { 'data-port': d.port },
      el('th', { scope: 'row', class: 'mono wrap', text: d.port }),
      el('td', { 'data-label': 'State', class: d.connected ? 'ok' : 'bad', text: (d.connected ? 'connected' : 'missing') + (d.note ? ' — ' + d.note : '') }),
      el('td', { 'data-label': 'MAC', class: 'mono', text: d.mac || '–' }),
      el('td', { 'data-label': 'Channel', class: 'num', text: d.channel != null ? String(d.channel) : '–' }),
      el('td', { 'data-label': 'Firmware', text: d.firmware || '–' }))));
    const c = $('counters');
    c.replaceChildren();
    for (const [k, v] of Object.entries(s.counters || {})) fact(c, k, String(v));
    const d = $('drops');
    d.replaceChildren();
    const drops = Object.entries(s.drops || {});
    if (drops.length === 0) fact(d, 'any cause', '0', 'ok');
    for (const [k, v] of drops) fact(d, k, String(v), v > 0 ? 'bad' : '');
  } catch (e) {
    $('health-db').textContent = 'status unavailable: ' + e.message;
  }
}

// ---------------------------------------------------------------- downlinks

async function sendDownlink(ev) {
  ev.preventDefault();
  const mac = $('downlink-node').value;
  const text = $('downlink-payload').value;
  const kind = $('downlink-kind-hex').checked ? 'hex' : 'text';
  const result = $('downlink-result');
  if (!mac) { showDownlink('error', '', 'Choose a node first.'); return; }
  const body = kind === 'hex' ? { hex: text.replace(/[\s:]/g, '') } : { text };
  if (kind === 'hex' && !/^([0-9a-fA-F]{2})+$/.test(body.hex)) {
    showDownlink('error', '', 'Hex bytes: an even number of hex digits (spaces and colons allowed).');
    return;
  }
  $('downlink-send').disabled = true;
  try {
    const d = await api('/api/nodes/' + macPath(mac) + '/downlinks', { method: 'POST', body });
    showDownlink(d.state, d.id, 'Queued #' + d.id + ' for ' + mac + ': ' + d.state);
    followDownlink(d.id, mac);
    loadDownlinks(mac);
  } catch (e) {
    const hint = e.status === 401 ? ' — enter the access token below' : '';
    showDownlink('error', '', 'Not sent: ' + e.message + hint);
  } finally {
    $('downlink-send').disabled = false;
  }
  void result;
}

// A payload as text when it is printable UTF-8, else as hex.
function payloadText(hex) {
  const bytes = new Uint8Array((hex.match(/../g) || []).map((b) => parseInt(b, 16)));
  try {
    const t = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    if (t && !/[\u0000-\u001f\u007f]/.test(t)) return '"' + t + '"';
  } catch (_) { /* not UTF-8 */ }
  return hex;
}

function showDownlink(state, id, text) {
  const r = $('downlink-result');
  r.dataset.state = state;
  r.dataset.id = String(id);
  r.textContent = text;
}

let followed = 0;
async function followDownlink(id, mac) {
  const mine = ++followed;
  let wait = 500;
  const until = Date.now() + 10 * 60 * 1000;
  while (mine === followed && Date.now() < until) {
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 1.5, 5000);
    if (mine !== followed) return;
    try {
      const d = await api('/api/downlinks/' + encodeURIComponent(id));
      const extra = d.attempts ? ' after ' + d.attempts + ' attempt' + (d.attempts === 1 ? '' : 's') : '';
      const err = d.lastError ? ' (' + d.lastError + ')' : '';
      showDownlink(d.state, id, '#' + id + ' for ' + mac + ': ' + d.state + extra + err);
      if (d.state === 'delivered' || d.state === 'failed') { loadDownlinks(mac); refreshStatus(); return; }
    } catch (e) {
      showDownlink('error', id, '#' + id + ': cannot read its state: ' + e.message);
    }
  }
}

async function loadDownlinks(mac) {
  if (!mac) { $('downlinks-body').replaceChildren(); return; }
  try {
    const data = await api('/api/nodes/' + macPath(mac) + '/downlinks');
    const list = (data.downlinks || []).slice().sort((a, b) => b.id - a.id).slice(0, 10);
    $('downlinks-body').replaceChildren(...list.map((d) => el('tr', { 'data-id': String(d.id), 'data-state': d.state },
      el('td', { class: 'num', text: String(d.id) }),
      el('td', { text: d.createdUs != null ? fmtClock(d.createdUs / 1000, !sameDay(d.createdUs / 1000)) : d.created ? fmtClock(parseTime(d.created), !sameDay(parseTime(d.created))) : '–' }),
      el('td', { class: 'mono', text: payloadText(d.payloadHex || '') }),
      el('td', { text: d.state }),
      el('td', { class: 'num', text: d.attempts != null ? String(d.attempts) : '–' }))));
  } catch (e) {
    $('downlinks-body').replaceChildren(el('tr', {}, el('td', { colspan: '5', text: 'Cannot list: ' + e.message })));
  }
}

// ---------------------------------------------------------------- token

function showToken() {
  $('token-state').textContent = token() ? 'A token is set for this tab.' : 'No token set (reads on loopback need none).';
}

function initToken() {
  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token').value.trim();
    if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
    $('token').value = '';
    showToken();
    restartStream();
    refreshNodes();
    refreshStatus();
  });
  $('token-forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    $('token').value = '';
    showToken();
  });
  showToken();
}

// ---------------------------------------------------------------- start

function init() {
  initToken();
  $('downlink-form').addEventListener('submit', sendDownlink);
  $('downlink-node').addEventListener('change', () => loadDownlinks($('downlink-node').value));
  initChart();
  refreshNodes().then(() => {
    loadDownlinks($('downlink-node').value);
    drawChartFromForm();
  });
  refreshStatus();
  setInterval(refreshStatus, STATUS_REFRESH_MS);
  setInterval(tickAges, 1000);
  runStream();
}

document.addEventListener('DOMContentLoaded', init);
