// Wallboard: the supervisor socket drawn as queue tiles and an agents grid.
// Everything from the server is text (textContent only, via dom.js); times in
// state and longest waits tick locally from the server's timestamps, corrected
// by the offset between our clock and the server's.

import { ApiError, apiRequest, getToken, goToLogin, isLeaving } from '/static/api.js';
import { el } from '/static/dom.js';
import { applyTranslations, getLang, LANGS, setLang, t, tv } from '/static/i18n.js';

const S = {
  agents: new Map(), queues: new Map(), config: null, ws: null, offset: 0, retry: 500, notice: null,
};
const $ = (id) => document.querySelector(`[data-testid="${id}"]`);

function now() { return Date.now() / 1000 + S.offset; }

// Times on the wire are ISO 8601 with an offset (docs/ws-schema.json): epoch seconds here.
function epoch(v) {
  if (v === null || v === undefined || v === '') return null;
  const ms = typeof v === 'number' ? v * 1000 : Date.parse(v);
  return Number.isNaN(ms) ? null : ms / 1000;
}

function fmtDur(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return '—';
  s = Math.max(0, Math.floor(s));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

function num(v, suffix = '') { return v === null || v === undefined ? '—' : `${v}${suffix}`; }

function level(value, amber, red, higherIsWorse = true) {
  if (value === null || value === undefined || amber === undefined) return 'ok';
  if (higherIsWorse) return value >= red ? 'red' : (value >= amber ? 'amber' : 'ok');
  return value < red ? 'red' : (value < amber ? 'amber' : 'ok');
}

function worst(...levels) {
  return levels.includes('red') ? 'red' : (levels.includes('amber') ? 'amber' : 'ok');
}

function reasonLabel(code) {
  const r = S.config && S.config.pause_reasons && S.config.pause_reasons[code];
  if (!r) return code || '';
  return r[getLang()] || r.en || code;
}

function waitOf(q) {
  const oldest = epoch(q.oldest_entered_at);
  return oldest !== null ? now() - oldest : 0;
}

function queueLevel(q) {
  const c = (S.config && S.config.colours) || {};
  return worst(level(waitOf(q), c.longest_wait_amber_s, c.longest_wait_red_s),
    level(q.service_level_pct, c.service_level_amber_pct, c.service_level_red_pct, false));
}

function renderQueues() {
  const box = $('wb-queues');
  box.replaceChildren();
  for (const q of [...S.queues.values()].sort((a, b) => a.queue.localeCompare(b.queue))) {
    const tile = el('article', { className: 'wb-tile', testid: `queue-${q.queue}`, attrs: { 'data-level': queueLevel(q) } },
      el('h2', { text: q.queue }),
      el('div', { className: 'wb-big' },
        el('div', {}, el('b', { testid: 'q-waiting', text: q.waiting }), el('span', { text: t('wb.q.waiting') })),
        el('div', {}, el('b', { testid: 'q-longest', className: 'wb-longest', text: fmtDur(waitOf(q)) }),
          el('span', { text: t('wb.q.longest') })),
        el('div', {}, el('b', { testid: 'q-sl', text: num(q.service_level_pct, '%') }), el('span', { text: t('wb.q.sl') }))),
      el('div', { className: 'wb-small' },
        el('span', { text: t('wb.q.available') }), el('b', { testid: 'q-available', text: q.agents_available }),
        el('span', { text: t('wb.q.on_call') }), el('b', { testid: 'q-on-call', text: q.agents_on_call }),
        el('span', { text: t('wb.q.paused') }), el('b', { testid: 'q-paused', text: q.agents_paused }),
        el('span', { text: t('wb.q.logged_in') }), el('b', { testid: 'q-logged-in', text: q.agents_logged_in }),
        el('span', { text: t('wb.q.answered') }), el('b', { testid: 'q-answered', text: q.answered }),
        el('span', { text: t('wb.q.abandoned') }), el('b', { testid: 'q-abandoned', text: q.abandoned }),
        el('span', { text: t('wb.q.asa') }), el('b', { text: num(q.asa_s, ' s') }),
        el('span', { text: t('wb.q.aht') }), el('b', { text: num(q.aht_s, ' s') })));
    box.appendChild(tile);
  }
}

function stateLevel(a) {
  const c = (S.config && S.config.colours) || {};
  const amber = (c.state_amber_s || {})[a.state];
  const red = (c.state_red_s || {})[a.state];
  return level(now() - epoch(a.since), amber, red);
}

async function control(path, body) {
  try {
    await apiRequest(path, { body });
    showNotice(null);
  } catch (e) {
    showNotice(e instanceof ApiError && typeof e.detail === 'string' ? e.detail : t('wb.error'));
  }
}

function agentActions(a) {
  const box = el('div', { className: 'wb-actions' });
  const enc = encodeURIComponent(a.agent);
  if (a.state === 'logged_out') return box;
  if (a.state === 'paused') {
    box.appendChild(el('button', { testid: 'unpause', text: t('wb.unpause') }));
    box.lastChild.addEventListener('click', () => control(`/api/v1/supervisor/agents/${enc}/unpause`, {}));
  } else {
    const sel = el('select', { testid: 'pause-reason', attrs: { 'aria-label': t('wb.pause_reason') } });
    for (const code of Object.keys((S.config && S.config.pause_reasons) || {})) {
      sel.appendChild(el('option', { text: reasonLabel(code), attrs: { value: code } }));
    }
    const btn = el('button', { testid: 'pause', text: t('wb.pause') });
    btn.addEventListener('click', () => control(`/api/v1/supervisor/agents/${enc}/pause`, { reason: sel.value }));
    box.append(sel, btn);
  }
  const out = el('button', { testid: 'logout', text: t('wb.logout') });
  out.addEventListener('click', () => control(`/api/v1/supervisor/agents/${enc}/logout`, {}));
  box.appendChild(out);
  for (const mode of ['listen', 'whisper', 'barge']) {
    const b = el('button', { testid: mode, text: t(`wb.${mode}`) });
    b.disabled = a.state !== 'on_call' && a.state !== 'on_hold';
    b.addEventListener('click', () => control('/api/v1/supervisor/monitor', { agent: a.agent, mode }));
    box.appendChild(b);
  }
  return box;
}

function renderAgents() {
  const body = $('wb-agents');
  body.replaceChildren();
  for (const a of [...S.agents.values()].sort((x, y) => x.agent.localeCompare(y.agent))) {
    const label = a.state === 'paused' && a.paused_reason
      ? `${tv('wb.state', a.state)} · ${reasonLabel(a.paused_reason)}` : tv('wb.state', a.state);
    body.appendChild(el('tr', { testid: `agent-${a.agent}`, attrs: { 'data-state': a.state } },
      el('td', {}, el('span', { text: a.display_name || a.agent }),
        el('span', { className: 'wb-muted', text: a.extension ? ` (${a.extension})` : '' })),
      el('td', {}, el('span', { className: 'wb-state', testid: 'state', text: label, attrs: { 'data-state': a.state } })),
      el('td', {}, el('span', { className: 'wb-time', testid: 'time', text: fmtDur(now() - epoch(a.since)),
        attrs: { 'data-level': stateLevel(a), 'data-since': a.since } })),
      el('td', { text: (a.queues || []).join(', ') }),
      el('td', {}, agentActions(a))));
  }
}

function tick() {
  for (const row of document.querySelectorAll('[data-testid="wb-agents"] tr')) {
    const time = row.querySelector('.wb-time');
    const a = S.agents.get(row.dataset.testid.slice(6));
    if (time && a) {
      time.textContent = fmtDur(now() - epoch(a.since));
      time.setAttribute('data-level', stateLevel(a));
    }
  }
  for (const q of S.queues.values()) {
    const tile = document.querySelector(`[data-testid="queue-${CSS.escape(q.queue)}"]`);
    if (!tile) continue;
    tile.querySelector('.wb-longest').textContent = fmtDur(waitOf(q));
    tile.setAttribute('data-level', queueLevel(q));
  }
}

function showNotice(text) {
  const n = $('wb-notice');
  n.textContent = text || '';
  n.hidden = !text;
}

function handle(msg) {
  switch (msg.type) {
    case 'snapshot':
      S.offset = (epoch(msg.at) ?? Date.now() / 1000) - Date.now() / 1000;
      S.config = msg.config;
      S.agents = new Map(msg.agents.map((a) => [a.agent, a]));
      S.queues = new Map(msg.queues.map((q) => [q.queue, q]));
      setStatus('connected');
      renderQueues();
      renderAgents();
      break;
    case 'agent_status_changed':
      S.agents.set(msg.agent.agent, msg.agent);
      renderAgents();
      break;
    case 'queue_status_changed':
      S.queues.set(msg.queue.queue, msg.queue);
      renderQueues();
      break;
    case 'resync':
      setStatus('resyncing');
      break;
    case 'ticket_sla_breached':
      showNotice(t('wb.sla_breached', { id: msg.ticket_id }));
      break;
    default:
      break;
  }
}

function setStatus(s) {
  const node = $('wb-status');
  node.setAttribute('data-state', s);
  node.textContent = t(`wb.ws.${s}`);
}

function connect() {
  const token = getToken();
  if (!token) { goToLogin(); return; }
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${window.location.host}/ws/supervisor?token=${encodeURIComponent(token)}`);
  S.ws = ws;
  setStatus('connecting');
  ws.addEventListener('message', (ev) => {
    // one message may carry a batch of frames, one JSON object per line
    for (const line of String(ev.data).split('\n')) {
      let msg;
      try { msg = JSON.parse(line); } catch (_e) { continue; }
      S.retry = 500;
      handle(msg);
    }
  });
  ws.addEventListener('close', (ev) => {
    if (S.ws !== ws) return;
    if (ev.code === 4401) { goToLogin(); return; }
    if (ev.code === 4403) { setStatus('closed'); showNotice(t('wb.forbidden')); return; }
    setStatus('closed');
    if (!isLeaving()) window.setTimeout(connect, S.retry);
    S.retry = Math.min(S.retry * 2, 10000);
  });
}

function initLang() {
  const sel = $('wb-lang');
  for (const l of LANGS) sel.appendChild(el('option', { text: l.label, attrs: { value: l.code } }));
  sel.value = getLang();
  sel.addEventListener('change', () => {
    setLang(sel.value);
    applyTranslations();
    renderQueues();
    renderAgents();
  });
  applyTranslations();
}

initLang();
connect();
window.setInterval(tick, 1000);
