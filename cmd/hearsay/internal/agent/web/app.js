// hearsay dashboard: plain JavaScript, no dependencies. It reads the
// agent's API (GET /v1/members and /v1/failure-detector every second, the
// event stream as it comes) and writes through it (PUT/DELETE
// /v1/state/{key}, POST /v1/members/{id}/remove|assassinate). The bearer
// token, when the agent wants one, is kept in sessionStorage and sent as an
// Authorization header, never in a URL: the event stream is read with
// fetch() for that reason (EventSource cannot send headers).
//
// Rows are built once per member and updated in place; updates are batched
// into one DOM pass per animation frame, so a thousand members stay smooth.
'use strict';

(() => {
  const TOKEN_KEY = 'hearsay-token';
  const HISTORY_MS = 5 * 60 * 1000; // the phi sparkline's span
  const POLL_MS = 1000;
  const MAX_BACKOFF_MS = 5000;
  const MAX_EVENTS = 500;
  const MAX_SSE_BUFFER = 1 << 20;
  const KINDS = ['join', 'alive', 'dead', 'change', 'restart', 'remove', 'overflow'];
  const SPARK_W = 120, SPARK_H = 22;
  const SVG = 'http://www.w3.org/2000/svg';

  const $ = (id) => document.getElementById(id);

  const st = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    members: new Map(), // id -> record (below)
    order: [], // records in table order
    sort: { key: 'id', dir: 1 },
    filter: '',
    statusFilter: '',
    selected: '',
    localID: '',
    threshold: 8,
    pollOK: false,
    pollErr: '',
    streamUp: false,
    needToken: false,
    failures: 0,
    downSince: 0,
    dirty: new Set(),
    orderDirty: true,
    detailDirty: false,
    pendingEvents: [],
    frame: 0,
    eventKinds: new Set(KINDS),
    eventEndpoint: '',
    window: null, // the selected member's failure detector window
    tokenWaiters: [],
    refreshTimer: 0,
    pollTimer: 0,
    polling: false,
    pollAgain: false,
    armed: 0, // assassinate confirmation deadline
  };

  // ---- API ---------------------------------------------------------------

  class APIError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function authHeaders(h) {
    if (st.token) h.Authorization = 'Bearer ' + st.token;
    return h;
  }

  async function call(method, path, body) {
    const init = { method, headers: authHeaders({}), cache: 'no-store' };
    if (body !== undefined) {
      init.body = body;
      init.headers['Content-Type'] = 'application/octet-stream';
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      throw new APIError(0, 'the agent does not answer (' + e.message + ')');
    }
    const text = await resp.text();
    if (resp.status === 401) tokenRefused();
    if (!resp.ok) {
      let msg = text.trim();
      try {
        msg = JSON.parse(text).error || msg;
      } catch (_) { /* plain-text answer */ }
      throw new APIError(resp.status, resp.status + ' ' + resp.statusText + ': ' + msg);
    }
    return text ? JSON.parse(text) : null;
  }

  // ---- token -------------------------------------------------------------

  function tokenRefused() {
    if (!st.needToken) {
      st.needToken = true;
      $('token-form').hidden = false;
      $('token-msg').textContent = st.token ? 'The agent refused this token.' : '';
      if (!document.activeElement || document.activeElement === document.body) $('token').focus();
      updateConn();
    }
  }

  function waitForToken() {
    return new Promise((resolve) => st.tokenWaiters.push(resolve));
  }

  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    st.token = $('token').value.trim();
    $('token').value = '';
    if (st.token) sessionStorage.setItem(TOKEN_KEY, st.token);
    else sessionStorage.removeItem(TOKEN_KEY);
    st.needToken = false;
    $('token-form').hidden = true;
    const waiters = st.tokenWaiters.splice(0);
    waiters.forEach((w) => w());
    updateConn();
    pollNow();
  });

  // ---- connection status -------------------------------------------------

  function updateConn() {
    const el = $('conn');
    let text, cls;
    if (st.needToken) {
      text = 'Token required: enter the agent\'s API token';
      cls = 'conn-wait';
    } else if (st.pollOK && st.streamUp) {
      text = 'Live';
      cls = 'conn-ok';
    } else if (st.pollOK) {
      text = 'Live (event stream reconnecting…)';
      cls = 'conn-wait';
    } else if (st.failures > 0) {
      const since = st.downSince ? ' since ' + clock(st.downSince) : '';
      text = 'Disconnected' + since + ': ' + st.pollErr + '. Retrying…';
      cls = 'conn-down';
    } else {
      text = 'Connecting…';
      cls = 'conn-wait';
    }
    if (el.textContent !== text) el.textContent = text;
    el.className = 'conn ' + cls;
    document.body.dataset.conn = cls.slice(5);
  }

  // ---- polling -----------------------------------------------------------

  function pollDelay() {
    if (st.failures === 0) return POLL_MS;
    return Math.min(MAX_BACKOFF_MS, POLL_MS * st.failures);
  }

  // pollNow polls at once, or right after the poll in flight: one at a
  // time, so that answers are applied in order.
  function pollNow() {
    if (st.polling) {
      st.pollAgain = true;
      return;
    }
    clearTimeout(st.pollTimer);
    st.pollTimer = setTimeout(poll, 0);
  }

  // refreshSoon re-reads the members shortly after an event, so that a
  // change shows before the next poll.
  function refreshSoon() {
    if (st.refreshTimer) return;
    st.refreshTimer = setTimeout(() => {
      st.refreshTimer = 0;
      pollNow();
    }, 150);
  }

  async function poll() {
    clearTimeout(st.pollTimer);
    st.polling = true;
    st.pollAgain = false;
    try {
      const [ms, fd] = await Promise.all([call('GET', '/v1/members'), call('GET', '/v1/failure-detector')]);
      st.pollOK = true;
      st.failures = 0;
      st.downSince = 0;
      applyMembers(ms, fd);
      if (st.selected && st.selected !== st.localID && st.members.has(st.selected)) {
        loadWindow(st.selected);
      }
    } catch (e) {
      st.pollOK = false;
      if (e.status !== 401) {
        if (!st.downSince) st.downSince = Date.now();
        st.failures++;
        st.pollErr = e.message;
      }
    }
    st.polling = false;
    updateConn();
    st.pollTimer = setTimeout(poll, st.pollAgain && st.failures === 0 ? 0 : pollDelay());
  }

  async function loadWindow(id) {
    try {
      const w = await call('GET', '/v1/failure-detector/' + encodeURIComponent(id));
      if (st.selected !== id) return;
      st.window = w;
      st.threshold = w.threshold;
    } catch (e) {
      if (st.selected !== id) return;
      st.window = { error: e.message };
    }
    st.detailDirty = true;
    schedule();
  }

  // ---- members -----------------------------------------------------------

  function applyMembers(ms, fd) {
    const now = Date.now();
    const arrivals = new Map();
    for (const d of fd || []) arrivals.set(d.endpoint, Date.parse(d.last_arrival));
    const seen = new Set();
    for (const m of ms) {
      seen.add(m.id);
      let r = st.members.get(m.id);
      if (!r) {
        r = newRecord(m.id);
        st.members.set(m.id, r);
        st.orderDirty = true;
      }
      if (m.self && st.localID !== m.id) {
        st.localID = m.id;
        $('node-name').textContent = m.id + ' · ' + location.host;
        document.title = 'hearsay · ' + m.id;
      }
      r.m = m;
      r.phis.push(now, m.phi);
      while (r.phis.length > 2 && r.phis[0] < now - HISTORY_MS) r.phis.splice(0, 2);
      const last = arrivals.get(m.id);
      r.silence = m.self || !last || last <= 0 ? null : Math.max(0, now - last);
      r.search = (m.id + ' ' + m.address + ' ' + m.status + ' ' +
        Object.entries(m.states || {}).map(([k, v]) => k + '=' + v.value).join(' ')).toLowerCase();
      st.dirty.add(r);
    }
    for (const [id, r] of st.members) {
      if (!seen.has(id)) {
        r.tr.remove();
        st.members.delete(id);
        st.orderDirty = true;
        if (st.selected === id) closeDetail();
      }
    }
    if (st.sort.key !== 'id' && st.sort.key !== 'address') st.orderDirty = true;
    if (st.selected) st.detailDirty = true;
    schedule();
  }

  function newRecord(id) {
    const tr = document.createElement('tr');
    tr.dataset.id = id;
    const cell = (cls) => {
      const td = document.createElement('td');
      if (cls) td.className = cls;
      tr.appendChild(td);
      return td;
    };
    const r = { id, tr, m: null, phis: [], silence: null, search: '', visible: false, shown: {} };
    const statusTd = cell('');
    r.badge = document.createElement('span');
    r.badge.className = 'badge';
    statusTd.appendChild(r.badge);
    const idTd = cell('');
    r.link = document.createElement('button');
    r.link.type = 'button';
    r.link.className = 'link';
    r.link.textContent = id;
    r.link.setAttribute('aria-label', 'Show member ' + id);
    r.link.addEventListener('click', () => select(id));
    idTd.appendChild(r.link);
    r.address = cell('opt');
    r.generation = cell('opt num');
    r.heartbeat = cell('num');
    r.phi = cell('num');
    const sparkTd = cell('opt');
    r.spark = document.createElementNS(SVG, 'svg');
    r.spark.setAttribute('class', 'spark');
    r.spark.setAttribute('viewBox', '0 0 ' + SPARK_W + ' ' + SPARK_H);
    r.spark.setAttribute('preserveAspectRatio', 'none');
    r.spark.setAttribute('aria-hidden', 'true');
    r.line = document.createElementNS(SVG, 'polyline');
    r.limit = document.createElementNS(SVG, 'line');
    r.spark.append(r.limit, r.line);
    sparkTd.appendChild(r.spark);
    r.silenceTd = cell('num');
    visibility.observe(tr);
    return r;
  }

  // Sparklines are drawn only for rows on screen.
  const visibility = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const r = st.members.get(e.target.dataset.id);
      if (!r) continue;
      r.visible = e.isIntersecting;
      if (r.visible) {
        st.dirty.add(r);
        schedule();
      }
    }
  });

  function setText(r, el, key, text) {
    if (r.shown[key] !== text) {
      r.shown[key] = text;
      el.textContent = text;
    }
  }

  function renderRow(r) {
    const m = r.m;
    if (!m) return;
    if (r.shown.status !== m.status) {
      r.badge.className = 'badge ' + m.status;
      r.tr.dataset.status = m.status;
    }
    setText(r, r.badge, 'status', m.status);
    r.tr.classList.toggle('self', !!m.self);
    setText(r, r.address, 'address', m.address);
    setText(r, r.generation, 'generation', String(m.generation));
    setText(r, r.heartbeat, 'heartbeat', String(m.heartbeat));
    setText(r, r.phi, 'phi', m.self ? '—' : fmtPhi(m.phi));
    r.phi.classList.toggle('phi-high', !m.self && m.phi >= st.threshold);
    setText(r, r.silenceTd, 'silence', r.silence === null ? '—' : fmtDuration(r.silence));
    r.tr.hidden = !matches(r);
    if (r.visible && !r.tr.hidden && !m.self) drawSpark(r);
  }

  function drawSpark(r) {
    const p = r.phis;
    const now = Date.now();
    let top = st.threshold;
    for (let i = 1; i < p.length; i += 2) top = Math.max(top, p[i]);
    top *= 1.1;
    // The span grows with the history, from 30 s up to HISTORY_MS.
    const span = Math.min(HISTORY_MS, Math.max(30000, p.length ? now - p[0] : 0));
    const pts = [];
    for (let i = 0; i < p.length; i += 2) {
      const x = SPARK_W - ((now - p[i]) / span) * SPARK_W;
      const y = SPARK_H - 1 - (Math.min(p[i + 1], top) / top) * (SPARK_H - 2);
      pts.push(x.toFixed(1) + ',' + y.toFixed(1));
    }
    r.line.setAttribute('points', pts.join(' '));
    const ty = (SPARK_H - 1 - (st.threshold / top) * (SPARK_H - 2)).toFixed(1);
    r.limit.setAttribute('x1', '0');
    r.limit.setAttribute('x2', String(SPARK_W));
    r.limit.setAttribute('y1', ty);
    r.limit.setAttribute('y2', ty);
  }

  function matches(r) {
    if (st.statusFilter && r.m.status !== st.statusFilter) return false;
    return !st.filter || r.search.includes(st.filter);
  }

  const STATUS_RANK = { down: 0, up: 1, left: 2 };

  function sortValue(r, key) {
    const m = r.m;
    switch (key) {
      case 'status': return STATUS_RANK[m.status] ?? 3;
      case 'silence': return r.silence ?? -1;
      case 'id': case 'address': return m[key];
      default: return m[key];
    }
  }

  function reorder() {
    const { key, dir } = st.sort;
    const recs = [...st.members.values()].filter((r) => r.m);
    recs.sort((a, b) => {
      const x = sortValue(a, key), y = sortValue(b, key);
      const c = x < y ? -1 : x > y ? 1 : 0;
      return c * dir || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    });
    const same = recs.length === st.order.length && recs.every((r, i) => r === st.order[i]);
    if (!same) {
      const body = $('rows');
      const frag = document.createDocumentFragment();
      for (const r of recs) frag.appendChild(r.tr);
      body.appendChild(frag);
      st.order = recs;
    }
  }

  function updateCounts() {
    let up = 0, down = 0, left = 0, shown = 0;
    for (const r of st.members.values()) {
      if (!r.m) continue;
      if (r.m.status === 'up') up++;
      else if (r.m.status === 'down') down++;
      else left++;
      if (!r.tr.hidden) shown++;
    }
    const total = st.members.size;
    let text = total + ' known: ' + up + ' up, ' + down + ' down, ' + left + ' left';
    if (shown !== total) text += ' (' + shown + ' shown)';
    $('counts').textContent = text;
  }

  // ---- frame batching ----------------------------------------------------

  function schedule() {
    if (!st.frame) st.frame = requestAnimationFrame(flush);
  }

  // Frame statistics, read by the tests (window.hearsayFrames): how many
  // DOM passes ran, and how long they took.
  const frames = { count: 0, rows: 0, totalMs: 0, maxMs: 0 };
  window.hearsayFrames = frames;

  function flush() {
    const start = performance.now();
    frames.rows += st.dirty.size;
    st.frame = 0;
    for (const r of st.dirty) renderRow(r);
    st.dirty.clear();
    if (st.orderDirty) {
      st.orderDirty = false;
      reorder();
    }
    updateCounts();
    if (st.detailDirty) {
      st.detailDirty = false;
      renderDetail();
    }
    if (st.pendingEvents.length) flushEvents();
    const ms = performance.now() - start;
    frames.count++;
    frames.totalMs += ms;
    frames.maxMs = Math.max(frames.maxMs, ms);
  }

  function markAllDirty() {
    for (const r of st.members.values()) st.dirty.add(r);
    schedule();
  }

  // ---- table controls ----------------------------------------------------

  for (const b of document.querySelectorAll('th button[data-sort]')) {
    b.addEventListener('click', () => {
      const key = b.dataset.sort;
      st.sort = { key, dir: st.sort.key === key ? -st.sort.dir : 1 };
      for (const th of document.querySelectorAll('#members th[aria-sort]')) {
        const k = th.querySelector('button').dataset.sort;
        th.setAttribute('aria-sort', k !== key ? 'none' : st.sort.dir > 0 ? 'ascending' : 'descending');
      }
      st.orderDirty = true;
      schedule();
    });
  }

  $('filter').addEventListener('input', (e) => {
    st.filter = e.target.value.trim().toLowerCase();
    markAllDirty();
  });
  $('status-filter').addEventListener('change', (e) => {
    st.statusFilter = e.target.value;
    markAllDirty();
  });

  // ---- detail panel ------------------------------------------------------

  function select(id) {
    if (st.selected) st.members.get(st.selected)?.tr.classList.remove('selected');
    st.selected = id;
    st.window = null;
    st.armed = 0;
    resetAssassinate();
    $('ops-msg').textContent = '';
    $('ops-msg').className = 'msg';
    st.members.get(id)?.tr.classList.add('selected');
    $('detail').hidden = false;
    st.detailDirty = true;
    renderDetail();
    $('detail-h').focus();
    if (id !== st.localID) loadWindow(id);
  }

  function closeDetail() {
    const r = st.members.get(st.selected);
    if (r) r.tr.classList.remove('selected');
    st.selected = '';
    $('detail').hidden = true;
    if (r) r.link.focus();
  }

  $('detail-h').tabIndex = -1;
  $('detail-close').addEventListener('click', closeDetail);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && st.selected) closeDetail();
  });

  function renderDetail() {
    const r = st.members.get(st.selected);
    if (!r || !r.m) return;
    const m = r.m;
    $('detail-id').textContent = m.id + (m.self ? ' (this node)' : '');
    $('detail-summary').textContent = m.status + ' · ' + m.address + ' · generation ' + m.generation +
      ' · heartbeat ' + m.heartbeat + (m.self ? '' : ' · phi ' + fmtPhi(m.phi));
    const body = $('detail-states');
    const keys = Object.keys(m.states || {}).sort();
    const rows = [];
    for (const k of keys) {
      const tr = document.createElement('tr');
      for (const [text, cls] of [[k, ''], [m.states[k].value, ''], [String(m.states[k].version), 'num']]) {
        const td = document.createElement('td');
        td.textContent = text;
        if (cls) td.className = cls;
        tr.appendChild(td);
      }
      rows.push(tr);
    }
    body.replaceChildren(...rows);
    $('ops').hidden = !!m.self;
    $('fd-block').hidden = !!m.self;
    if (!m.self) renderHistogram();
  }

  function renderHistogram() {
    const svg = $('fd-hist');
    const w = st.window;
    if (!w) {
      $('fd-summary').textContent = 'Loading…';
      svg.replaceChildren();
      return;
    }
    if (w.error) {
      $('fd-summary').textContent = w.error;
      svg.replaceChildren();
      return;
    }
    const iv = w.intervals_ms || [];
    $('fd-summary').textContent = w.samples + ' intervals (the last ' + iv.length + ' drawn), mean ' + fmtMs(w.mean_ms) + ', std dev ' +
      fmtMs(w.stddev_ms) + '; silence now ' + fmtMs(w.silence_ms) + ', phi ' + fmtPhi(w.phi) +
      '; phi reaches the threshold ' + w.threshold + ' after ' + fmtMs(w.convict_after_ms) + ' of silence.';
    // Drawn in the SVG's own pixels, so that its text is not stretched.
    const W = Math.max(200, Math.round(svg.getBoundingClientRect().width) || 600), H = 180, B = 22, bins = 30;
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    let xmax = Math.max(w.silence_ms, w.convict_after_ms, 1);
    for (const x of iv) xmax = Math.max(xmax, x);
    xmax *= 1.05;
    const counts = new Array(bins).fill(0);
    for (const x of iv) counts[Math.min(bins - 1, Math.floor((x / xmax) * bins))]++;
    const cmax = Math.max(1, ...counts);
    const nodes = [];
    const bw = W / bins;
    counts.forEach((c, i) => {
      if (!c) return;
      const h = (c / cmax) * (H - B - 8);
      const rect = document.createElementNS(SVG, 'rect');
      rect.setAttribute('x', (i * bw + 1).toFixed(1));
      rect.setAttribute('width', (bw - 2).toFixed(1));
      rect.setAttribute('y', (H - B - h).toFixed(1));
      rect.setAttribute('height', h.toFixed(1));
      const title = document.createElementNS(SVG, 'title');
      title.textContent = c + ' intervals of ' + fmtMs((i * xmax) / bins) + '–' + fmtMs(((i + 1) * xmax) / bins);
      rect.appendChild(title);
      nodes.push(rect);
    });
    const vline = (ms, cls, label) => {
      const x = ((ms / xmax) * W).toFixed(1);
      const l = document.createElementNS(SVG, 'line');
      l.setAttribute('class', cls);
      l.setAttribute('x1', x);
      l.setAttribute('x2', x);
      l.setAttribute('y1', '0');
      l.setAttribute('y2', String(H - B));
      const title = document.createElementNS(SVG, 'title');
      title.textContent = label;
      l.appendChild(title);
      nodes.push(l);
    };
    vline(w.convict_after_ms, 'threshold', 'conviction threshold (phi ' + w.threshold + ') at ' + fmtMs(w.convict_after_ms));
    vline(w.silence_ms, 'silence', 'current silence ' + fmtMs(w.silence_ms));
    const text = (x, anchor, s) => {
      const t = document.createElementNS(SVG, 'text');
      t.setAttribute('x', String(x));
      t.setAttribute('y', String(H - 6));
      t.setAttribute('text-anchor', anchor);
      t.textContent = s;
      nodes.push(t);
    };
    text(2, 'start', '0');
    text(W / 2, 'middle', 'inter-arrival time');
    text(W - 2, 'end', fmtMs(xmax));
    svg.replaceChildren(...nodes);
  }

  // ---- operator actions --------------------------------------------------

  function showMsg(el, ok, text) {
    el.textContent = text;
    el.className = 'msg ' + (ok ? 'ok' : 'err');
  }

  async function memberAction(action) {
    const id = st.selected;
    const el = $('ops-msg');
    try {
      await call('POST', '/v1/members/' + encodeURIComponent(id) + '/' + action);
      showMsg(el, true, (action === 'remove' ? 'Removed ' : 'Assassinated ') + id + ': announced as left.');
      refreshSoon();
    } catch (e) {
      showMsg(el, false, e.message);
    }
  }

  function resetAssassinate() {
    const b = $('assassinate-btn');
    b.textContent = 'Assassinate…';
    b.classList.remove('armed');
  }

  $('remove-btn').addEventListener('click', () => memberAction('remove'));
  $('assassinate-btn').addEventListener('click', () => {
    const b = $('assassinate-btn');
    if (st.armed && Date.now() < st.armed) {
      st.armed = 0;
      resetAssassinate();
      memberAction('assassinate');
      return;
    }
    st.armed = Date.now() + 5000;
    b.textContent = 'Confirm: assassinate ' + st.selected;
    b.classList.add('armed');
    setTimeout(() => {
      if (st.armed && Date.now() >= st.armed) {
        st.armed = 0;
        resetAssassinate();
      }
    }, 5100);
  });

  // ---- local state -------------------------------------------------------

  $('state-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const key = $('state-key').value;
    const el = $('state-msg');
    try {
      const s = await call('PUT', '/v1/state/' + encodeURIComponent(key), $('state-value').value);
      showMsg(el, true, 'Set ' + s.key + ' = ' + JSON.stringify(s.value) + ' (version ' + s.version + ').');
      refreshSoon();
    } catch (err) {
      showMsg(el, false, err.message);
    }
  });

  $('state-delete').addEventListener('click', async () => {
    const key = $('state-key').value;
    const el = $('state-msg');
    if (!key) {
      showMsg(el, false, 'Enter the key to delete.');
      return;
    }
    try {
      await call('DELETE', '/v1/state/' + encodeURIComponent(key));
      showMsg(el, true, 'Deleted ' + key + '.');
      refreshSoon();
    } catch (err) {
      showMsg(el, false, err.message);
    }
  });

  // ---- events ------------------------------------------------------------

  for (const k of KINDS) {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = true;
    box.value = k;
    box.addEventListener('change', () => {
      if (box.checked) st.eventKinds.add(k);
      else st.eventKinds.delete(k);
      filterEvents();
    });
    label.append(box, ' ' + k);
    $('kind-filter').appendChild(label);
  }
  $('event-endpoint').addEventListener('input', (e) => {
    st.eventEndpoint = e.target.value.trim().toLowerCase();
    filterEvents();
  });

  function eventShown(li) {
    return st.eventKinds.has(li.dataset.kind) &&
      (!st.eventEndpoint || (li.dataset.endpoint || '').toLowerCase().includes(st.eventEndpoint));
  }

  function filterEvents() {
    for (const li of $('events').children) li.hidden = !eventShown(li);
  }

  function eventDetail(ev) {
    switch (ev.kind) {
      case 'dead': return ev.reason + (ev.phi ? ' (phi ' + fmtPhi(ev.phi) + ')' : '');
      case 'change':
        return ev.key + ': ' + (ev.old === undefined ? '' : JSON.stringify(ev.old) + ' → ') +
          (ev.deleted ? 'deleted' : JSON.stringify(ev.new ?? ''));
      case 'restart': return 'generation ' + ev.old_generation + ' → ' + ev.generation;
      case 'remove': return ev.reason || '';
      case 'overflow': return ev.lost + ' events lost (the page fell behind); members re-read';
      default: return 'generation ' + ev.generation;
    }
  }

  function flushEvents() {
    const list = $('events');
    const frag = document.createDocumentFragment();
    for (const ev of st.pendingEvents.splice(0).reverse()) {
      const li = document.createElement('li');
      li.dataset.kind = ev.kind;
      li.dataset.endpoint = ev.endpoint || '';
      const t = document.createElement('time');
      const when = ev.time ? new Date(ev.time) : new Date();
      t.dateTime = when.toISOString();
      t.textContent = clock(when.getTime());
      const kind = document.createElement('span');
      kind.className = 'ev-kind ev-' + ev.kind;
      kind.textContent = ev.kind;
      const detail = document.createElement('span');
      detail.className = 'ev-detail';
      detail.textContent = (ev.endpoint ? ev.endpoint + ' ' : '') + eventDetail(ev);
      li.append(t, kind, detail);
      li.hidden = !eventShown(li);
      frag.appendChild(li);
    }
    list.insertBefore(frag, list.firstChild);
    while (list.children.length > MAX_EVENTS) list.lastChild.remove();
  }

  function handleEvent(name, data) {
    let ev;
    try {
      ev = JSON.parse(data);
    } catch (_) {
      return;
    }
    if (!ev.kind) ev.kind = name;
    st.pendingEvents.push(ev);
    if (st.pendingEvents.length > MAX_EVENTS) st.pendingEvents.splice(0, st.pendingEvents.length - MAX_EVENTS);
    schedule();
    refreshSoon();
  }

  // readStream reads the server-sent events of one response until it ends.
  async function readStream(resp) {
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value.replace(/\r\n?/g, '\n');
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let name = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) name = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (data.length) handleEvent(name, data.join('\n'));
      }
      if (buf.length > MAX_SSE_BUFFER) buf = '';
    }
  }

  async function stream() {
    let backoff = POLL_MS;
    for (;;) {
      try {
        const resp = await fetch('/v1/events', {
          headers: authHeaders({ Accept: 'text/event-stream' }),
          cache: 'no-store',
        });
        if (resp.status === 401) {
          tokenRefused();
          await waitForToken();
          continue;
        }
        if (resp.ok) {
          st.streamUp = true;
          backoff = POLL_MS;
          updateConn();
          pollNow(); // catch up on what happened while the stream was down
          await readStream(resp);
        } else {
          await resp.body?.cancel();
        }
      } catch (_) {
        // the agent went away: retry below
      }
      st.streamUp = false;
      updateConn();
      pollNow(); // tells at once whether the agent itself is gone
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
    }
  }

  // ---- formatting --------------------------------------------------------

  function fmtPhi(phi) {
    if (phi >= 1000) return '≥1000';
    return phi < 10 ? phi.toFixed(2) : phi.toFixed(1);
  }

  function fmtMs(ms) {
    if (ms < 1000) return Math.round(ms) + ' ms';
    return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
  }

  function fmtDuration(ms) {
    if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
    if (ms < 3600000) return Math.floor(ms / 60000) + ' min ' + Math.floor((ms % 60000) / 1000) + ' s';
    return Math.floor(ms / 3600000) + ' h ' + Math.floor((ms % 3600000) / 60000) + ' min';
  }

  function clock(t) {
    const d = new Date(t);
    const p = (n, w) => String(n).padStart(w, '0');
    return p(d.getHours(), 2) + ':' + p(d.getMinutes(), 2) + ':' + p(d.getSeconds(), 2) + '.' + p(d.getMilliseconds(), 3);
  }

  updateConn();
  poll();
  stream();
})();
