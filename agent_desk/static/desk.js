// Agent desk: header (agent, state, connection, language), queue login/logout,
// and the screen pop fed by the /ws/agent websocket.
//
// SECURITY: everything that comes from the server (caller-ID names from the
// phone network, customer names, notes, ticket descriptions) is hostile text.
// The DOM is built with createElement + textContent only; no HTML strings,
// no innerHTML, no inline handlers (the page runs under a strict CSP).
import {
  applyTranslations, bindLangSelect, fmtDate, fmtDateTime, fmtDuration, fmtTime, onLangChange, t, tv,
} from '/static/i18n.js';
import {
  ApiError, apiRequest, getStoredUser, getToken, goToLogin, isLeaving, storeUser,
} from '/static/api.js';
import {
  buildAttach, buildNewTicket, initMyWork, newPopWork, popTickets, renderMyWork, ticketHead,
} from '/static/work.js';
import { el, isObj, str } from '/static/dom.js';
import { onMonitoring } from '/static/wallboard_monitor_notice.js';
import { onRecordingMessage, recordingPanel } from '/static/recordings-desk.js';
import { recordingsList } from '/static/player.js';

const RECONNECT_MAX_MS = 10000;
const WS_BAD_TOKEN = 4401;

const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);

const state = {
  user: getStoredUser(),
  agent: { state: 'logged_out', queues: [], paused_reason: null },
  agentKnown: false, // set once the server told us the agent state
  queueBusy: false,
  ws: null,
  wsStatus: 'connecting', // connecting | connected | reconnecting
  attempt: 0,
  reconnectTimer: null,
  stopping: false,
  error: null, // {key, params}
  pop: null, // {msg, status, agent, outcome, receivedAt, frozenWait}
};

// ---- header --------------------------------------------------------------

function renderHeader() {
  const user = state.user || {};
  byTestId('agent-name').textContent = str(user.display_name) || str(user.username);
  byTestId('agent-extension').textContent = str(user.extension)
    ? t('header.extension', { ext: str(user.extension) }) : t('header.no_extension');

  const loggedIn = state.agent.state !== 'logged_out';
  const queues = (state.agent.queues && state.agent.queues.length ? state.agent.queues : user.queues) || [];
  const queuesBox = byTestId('agent-queues');
  queuesBox.replaceChildren(el('span', { className: 'agent-queues-label', text: t('header.queues') }));
  if (Array.isArray(queues) && queues.length) {
    for (const q of queues) queuesBox.appendChild(el('span', { className: 'chip chip-queue', text: str(q) }));
  } else {
    queuesBox.appendChild(el('span', { className: 'agent-queues-none', text: t('header.no_queues') }));
  }
  queuesBox.dataset.active = loggedIn ? 'true' : 'false';

  const badge = byTestId('agent-state');
  const s = str(state.agent.state) || 'logged_out';
  badge.dataset.state = s;
  badge.textContent = s === 'paused' && str(state.agent.paused_reason)
    ? t('state.paused_reason', { reason: str(state.agent.paused_reason) }) : tv('state', s);

  const toggle = byTestId('queue-toggle');
  toggle.textContent = t(loggedIn ? 'queue.logout' : 'queue.login');
  toggle.dataset.action = loggedIn ? 'logout' : 'login';
  toggle.disabled = state.queueBusy || !state.agentKnown || state.stopping;

  const ws = byTestId('ws-status');
  ws.dataset.state = state.wsStatus;
  ws.querySelector('.ws-label').textContent = t(`ws.${state.wsStatus}`);

  byTestId('idle-hint').textContent = t(loggedIn || !state.agentKnown ? 'idle.hint' : 'idle.hint_logged_out');

  const banner = byTestId('desk-error');
  if (state.error) {
    banner.querySelector('.banner-text').textContent = t(state.error.key, state.error.params);
    banner.hidden = false;
  } else {
    banner.hidden = true;
  }
  renderTitle();
}

function renderTitle() {
  const p = state.pop;
  document.title = p && p.status === 'ringing'
    ? t('desk.page_title_ringing', { caller: callerDisplayName(p.msg) }) : t('desk.page_title');
}

function setWsStatus(status) {
  state.wsStatus = status;
  renderHeader();
}

function showApiError(e) {
  if (e instanceof ApiError && e.status === 0) state.error = { key: 'error.network' };
  else state.error = { key: 'error.request', params: { status: e instanceof ApiError ? e.status : '?' } };
  renderHeader();
}

function applyAgentState(s) {
  if (!isObj(s)) return;
  state.agent = {
    state: str(s.state) || 'logged_out',
    queues: Array.isArray(s.queues) ? s.queues : [],
    paused_reason: s.paused_reason ?? null,
  };
  state.agentKnown = true;
  renderHeader();
}

// ---- queue login / logout / sign out ---------------------------------------

async function agentQueues(action) {
  if (state.queueBusy) return;
  state.queueBusy = true;
  renderHeader();
  try {
    const data = await apiRequest(`/api/v1/agent/${action}`);
    const fallback = action === 'login' ? 'available' : 'logged_out';
    const body = isObj(data) ? data : {};
    applyAgentState({
      state: body.state || fallback,
      queues: Array.isArray(body.queues) ? body.queues : (action === 'login' ? state.agent.queues : []),
      paused_reason: body.paused_reason ?? null,
    });
    state.error = null;
  } catch (e) {
    if (!isLeaving()) showApiError(e);
  } finally {
    state.queueBusy = false;
    state.agentKnown = true;
    renderHeader();
  }
}

async function signOut() {
  if (state.stopping) return;
  state.stopping = true;
  byTestId('signout').disabled = true;
  window.clearTimeout(state.reconnectTimer);
  renderHeader();
  try {
    await apiRequest('/api/v1/agent/logout', { timeoutMs: 5000 });
  } catch (_e) {
    // Signing out must work even when the server is unhappy.
  }
  const ws = state.ws;
  state.ws = null;
  if (ws) ws.close(1000, 'sign out');
  goToLogin();
}

// ---- websocket -------------------------------------------------------------

function wsUrl(token) {
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${window.location.host}/ws/agent?token=${encodeURIComponent(token)}`;
}

function connect() {
  state.reconnectTimer = null;
  if (state.stopping || isLeaving()) return;
  const token = getToken();
  if (!token) {
    goToLogin();
    return;
  }
  let ws;
  try {
    ws = new WebSocket(wsUrl(token));
  } catch (_e) {
    scheduleReconnect();
    return;
  }
  state.ws = ws;
  ws.addEventListener('open', () => {
    if (state.ws === ws) setWsStatus('connected');
  });
  ws.addEventListener('message', (ev) => {
    if (state.ws !== ws) return;
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch (_e) {
      return;
    }
    handleMessage(msg);
  });
  ws.addEventListener('close', (ev) => {
    if (state.ws !== ws) return;
    state.ws = null;
    if (ev.code === WS_BAD_TOKEN) {
      goToLogin();
      return;
    }
    if (state.stopping || isLeaving()) return;
    scheduleReconnect();
  });
}

function scheduleReconnect() {
  if (state.reconnectTimer !== null) return;
  const delay = Math.min(1000 * 2 ** state.attempt, RECONNECT_MAX_MS);
  state.attempt = Math.min(state.attempt + 1, 10);
  setWsStatus('reconnecting');
  state.reconnectTimer = window.setTimeout(connect, delay);
}

function reconnectNow() {
  if (state.reconnectTimer === null) return;
  window.clearTimeout(state.reconnectTimer);
  connect();
}

function handleMessage(msg) {
  if (!isObj(msg)) return;
  onRecordingMessage(msg); // record_state, call answered/ended: the pop's recording panel
  document.dispatchEvent(new CustomEvent('ctidesk:ws', { detail: msg })); // transfer.js (issue 11)
  switch (msg.type) {
    case 'hello':
      state.attempt = 0; // a healthy connection: next drop retries after 1 s again
      if (isObj(msg.user)) {
        state.user = msg.user;
        storeUser(msg.user);
      }
      if (isObj(msg.agent_state)) applyAgentState(msg.agent_state);
      else renderHeader();
      break;
    case 'agent_state':
      applyAgentState(msg);
      break;
    case 'screen_pop':
      onScreenPop(msg);
      break;
    case 'call_answered':
      onCallAnswered(msg);
      break;
    case 'call_ended':
      onCallEnded(msg);
      break;
    case 'monitoring_started':
    case 'monitoring_stopped':
      onMonitoring(msg);
      break;
    default:
      break;
  }
}

// ---- screen pop --------------------------------------------------------------

function callerDisplayName(msg) {
  const call = isObj(msg.call) ? msg.call : {};
  const customer = isObj(msg.customer) ? msg.customer : null;
  return str(call.caller_name) || (customer && str(customer.name)) || t('pop.unknown_name');
}

function currentCallId() {
  return state.pop ? str(state.pop.msg.call.id) : null;
}

function waitingSeconds(p) {
  if (p.frozenWait !== null) return p.frozenWait;
  const base = Number(p.msg.call.waiting_s);
  const start = Number.isFinite(base) ? base : 0;
  return start + (Date.now() - p.receivedAt) / 1000;
}

function onScreenPop(msg) {
  if (!isObj(msg.call)) return;
  const sameCall = state.pop && currentCallId() === str(msg.call.id);
  const prev = sameCall ? state.pop : null;
  state.pop = {
    msg,
    status: prev ? prev.status : 'ringing',
    agent: prev ? prev.agent : null,
    outcome: prev ? prev.outcome : null,
    receivedAt: Date.now(),
    frozenWait: prev ? prev.frozenWait : null,
    work: prev ? prev.work : newPopWork(msg),
  };
  renderPop();
}

function isMe(agent) {
  const a = str(agent);
  if (!a) return true;
  const user = state.user || {};
  const mine = [str(user.username), str(user.extension)].filter(Boolean);
  return mine.some((m) => a === m || a.endsWith(`/${m}`));
}

function onCallAnswered(msg) {
  const p = state.pop;
  if (!p || str(msg.call_id) !== currentCallId()) return;
  if (p.frozenWait === null) p.frozenWait = waitingSeconds(p);
  p.agent = str(msg.agent) || null;
  p.status = isMe(msg.agent) ? 'answered' : 'answered_other';
  updatePopStatus();
}

function onCallEnded(msg) {
  const p = state.pop;
  if (!p || str(msg.call_id) !== currentCallId()) return;
  if (p.frozenWait === null) p.frozenWait = waitingSeconds(p);
  p.outcome = str(msg.outcome) || null;
  p.status = 'ended';
  updatePopStatus();
}

function dismissPop() {
  state.pop = null;
  renderPop();
}

function statusText(p) {
  switch (p.status) {
    case 'answered':
      return t('pop.status.answered');
    case 'answered_other':
      return p.agent ? t('pop.status.answered_other_named', { agent: p.agent }) : t('pop.status.answered_other');
    case 'ended':
      return p.outcome ? t('pop.status.ended_outcome', { outcome: tv('outcome', p.outcome) }) : t('pop.status.ended');
    default:
      return t('pop.status.ringing');
  }
}

function updatePopStatus() {
  const p = state.pop;
  const root = byTestId('pop');
  if (!p || !root) return;
  root.dataset.status = p.status;
  const status = root.querySelector('[data-testid="pop-status"]');
  status.dataset.status = p.status;
  status.textContent = statusText(p);
  const dismiss = root.querySelector('[data-testid="pop-dismiss"]');
  dismiss.hidden = !(p.status === 'ended' || p.status === 'answered_other');
  updateWaiting();
  renderTitle();
}

function updateWaiting() {
  const p = state.pop;
  const node = document.querySelector('[data-testid="pop-waiting"]');
  if (p && node) node.textContent = fmtDuration(waitingSeconds(p));
}

// Times on the wire are ISO 8601 with an offset (docs/ws-schema.json): shown in the browser's zone.
function ringingFact(call) {
  const at = str(call.ringing_at);
  const node = fact(t('pop.ringing_at'), at ? fmtTime(at) : t('value.none'), 'pop-ringing-at');
  if (at) {
    const dd = node.querySelector('dd');
    dd.title = fmtDateTime(at);
    dd.dataset.at = at;
  }
  return node;
}

function fact(label, value, testid) {
  return el('div', { className: 'fact' },
    el('dt', { className: 'fact-label', text: label }),
    el('dd', { className: 'fact-value', testid, text: value }));
}

function panel(className, testid, title, countText) {
  const head = el('header', { className: 'panel-head' }, el('h2', { className: 'panel-title', text: title }));
  if (countText) head.appendChild(el('span', { className: 'panel-count', text: countText }));
  return el('section', { className: `panel ${className}`, testid }, head);
}

function buildIvr(call) {
  const path = Array.isArray(call.ivr_path) ? call.ivr_path.filter(isObj) : [];
  const box = el('div', { className: 'pop-ivr', testid: 'pop-ivr' },
    el('span', { className: 'pop-ivr-label', text: t('pop.ivr') }));
  if (!path.length) {
    box.appendChild(el('span', { className: 'muted', text: t('pop.ivr_none') }));
    return box;
  }
  const list = el('ol', { className: 'ivr-steps' });
  path.forEach((step, i) => {
    const item = el('li', { className: 'ivr-step', testid: 'pop-ivr-step', attrs: { title: step.at ? fmtTime(step.at) : null } },
      el('span', { className: 'ivr-node', text: str(step.node) || '?' }));
    if (str(step.digits)) item.appendChild(el('kbd', { className: 'ivr-digits', text: str(step.digits) }));
    // the caller's language choice and after-hours intent, as the IVR recorded them
    const extra = [str(step.language), str(step.intent)].filter(Boolean).join(' ');
    if (extra) item.appendChild(el('span', { className: 'muted ivr-extra', text: ` ${extra}` }));
    list.appendChild(item);
    if (i < path.length - 1) list.appendChild(el('li', { className: 'ivr-arrow', text: '→', attrs: { 'aria-hidden': 'true' } }));
  });
  box.appendChild(list);
  return box;
}

function buildCustomerDetails(card, isCustomer) {
  const name = str(card.name) || t('customer.unnamed');
  const nameRow = el('div', { className: 'customer-name-row' },
    el('h3', { className: 'customer-name', testid: isCustomer ? 'pop-customer-name' : 'pop-provisional-name', text: name }));
  if (card.provisional) {
    nameRow.appendChild(el('span', { className: 'chip chip-warn', text: t('pop.provisional_badge') }));
  }
  const phones = Array.isArray(card.phones) ? card.phones.filter(isObj) : [];
  const phoneList = el('ul', { className: 'phone-list' });
  for (const ph of phones) {
    const raw = str(ph.raw) || str(ph.normalized);
    const li = el('li', { className: 'phone' }, el('span', { className: 'phone-number', text: raw }));
    if (str(ph.kind)) li.appendChild(el('span', { className: 'chip chip-muted', text: tv('phone.kind', str(ph.kind)) }));
    if (str(ph.normalized) && str(ph.normalized) !== raw) {
      li.appendChild(el('span', { className: 'phone-normalized', text: str(ph.normalized) }));
    }
    phoneList.appendChild(li);
  }
  const notes = str(card.notes);
  const details = el('dl', { className: 'customer-facts' },
    fact(t('customer.id'), card.id !== undefined && card.id !== null ? `#${card.id}` : t('value.none'), null),
    fact(t('customer.kind'), tv('customer.kind', str(card.kind)), null),
    el('div', { className: 'fact fact-wide' },
      el('dt', { className: 'fact-label', text: t('customer.phones') }),
      el('dd', { className: 'fact-value' },
        phones.length ? phoneList : el('span', { className: 'muted', text: t('customer.no_phones') }))),
    el('div', { className: 'fact fact-wide' },
      el('dt', { className: 'fact-label', text: t('customer.notes') }),
      el('dd', { className: notes ? 'fact-value notes' : 'fact-value muted', testid: 'pop-customer-notes',
        text: notes || t('customer.no_notes') })),
    fact(t('customer.created'), fmtDate(card.created_at), null));
  return el('div', { className: 'customer', attrs: { 'data-customer-id': card.id } }, nameRow, details);
}

function buildCustomerPanel(msg) {
  const customer = isObj(msg.customer) ? msg.customer : null;
  const provisional = isObj(msg.provisional_customer) ? msg.provisional_customer : null;
  const box = panel('panel-customer', 'pop-customer', t('pop.customer'));
  if (customer) {
    box.appendChild(buildCustomerDetails(customer, true));
  } else if (provisional) {
    box.appendChild(el('div', { className: 'notice notice-warn' },
      el('p', { className: 'notice-title', testid: 'pop-provisional',
        attrs: { 'data-customer-id': provisional.id },
        text: t('pop.provisional_notice', { id: str(provisional.id) }) }),
      el('p', { className: 'notice-body', text: t('pop.provisional_hint') })));
    box.appendChild(buildCustomerDetails(provisional, false));
  } else {
    box.appendChild(el('div', { className: 'notice notice-warn' },
      el('p', { className: 'notice-title', testid: 'pop-no-customer', text: t('pop.no_customer') })));
  }
  const known = customer || provisional;
  if (known) box.appendChild(recordingsList({ customer_id: known.id }, { testid: 'rec-customer' }));
  return box;
}

function buildHistory(msg) {
  const rows = Array.isArray(msg.history) ? msg.history.filter(isObj) : [];
  const box = panel('panel-history', 'pop-history', t('pop.history'),
    rows.length ? t('pop.history_count', { n: rows.length }) : null);
  if (!rows.length) {
    box.appendChild(el('p', { className: 'empty', text: t('history.empty') }));
    return box;
  }
  const headRow = el('tr');
  for (const key of ['history.when', 'history.direction', 'history.queue', 'history.agent',
    'history.outcome', 'history.duration']) {
    headRow.appendChild(el('th', { text: t(key), attrs: { scope: 'col' } }));
  }
  const body = el('tbody');
  for (const h of rows) {
    const outcome = str(h.outcome);
    body.appendChild(el('tr', { testid: 'pop-history-row', attrs: { 'data-call-id': h.id } },
      el('td', { className: 'nowrap', text: fmtDateTime(h.started_at) }),
      el('td', { text: tv('direction', str(h.direction)) }),
      el('td', { text: str(h.queue) || t('value.none') }),
      el('td', { text: str(h.agent) || t('value.none') }),
      el('td', {}, el('span', { className: 'outcome', attrs: { 'data-outcome': outcome }, text: tv('outcome', outcome) })),
      el('td', { className: 'num nowrap', text: fmtDuration(h.duration_s) })));
  }
  box.appendChild(el('div', { className: 'table-wrap' },
    el('table', { className: 'table' }, el('thead', {}, headRow), body)));
  return box;
}

function workCtx(p) {
  return { msg: p.msg, work: p.work, user: () => state.user || {}, rerender: renderPop };
}

function buildTickets(p) {
  const { msg } = p;
  const ctx = workCtx(p);
  const tickets = popTickets(msg, p.work);
  const box = panel('panel-tickets', 'pop-tickets', t('pop.tickets'),
    tickets.length ? t('pop.tickets_count', { n: tickets.length }) : null);
  if (!tickets.length) {
    box.appendChild(el('p', { className: 'empty', text: t('tickets.empty') }));
    return box;
  }
  const list = el('ul', { className: 'ticket-list' });
  for (const tk of tickets) {
    list.appendChild(el('li', { className: 'ticket', testid: 'pop-ticket', attrs: { 'data-ticket-id': tk.id } },
      ticketHead(tk,
        el('span', { className: 'ticket-date', text: t('ticket.created', { when: fmtDateTime(tk.created_at) }) })),
      el('p', { className: 'ticket-desc', text: str(tk.description) || t('value.none') }),
      buildAttach(ctx, tk)));
  }
  box.appendChild(list);
  return box;
}

function buildPop(p) {
  const { msg } = p;
  const call = msg.call;
  const number = str(call.caller_number);
  const normalized = str(call.caller_number_normalized);

  const numberLine = el('div', { className: 'pop-number-line' },
    el('span', { className: 'pop-caller-number', testid: 'pop-caller-number', text: number || t('pop.withheld') }));
  if (normalized && normalized !== number) {
    numberLine.appendChild(el('span', { className: 'pop-normalized', text: t('pop.normalized', { number: normalized }) }));
  }

  const dismiss = el('button', {
    className: 'btn btn-secondary pop-dismiss', testid: 'pop-dismiss', text: t('pop.dismiss'), attrs: { type: 'button' },
  });
  dismiss.addEventListener('click', dismissPop);

  const head = el('div', { className: 'pop-head' },
    el('div', { className: 'pop-ident' },
      el('div', { className: 'pop-status-row' },
        el('span', { className: 'pop-status', testid: 'pop-status' }),
        dismiss),
      el('h1', { className: 'pop-caller-name', testid: 'pop-caller-name', text: callerDisplayName(msg) }),
      numberLine),
    el('dl', { className: 'pop-facts' },
      fact(t('pop.queue'), str(call.queue) || t('pop.no_queue'), 'pop-queue'),
      fact(t('pop.waiting'), '', 'pop-waiting'),
      fact(t('pop.called'), str(call.called_number) || t('value.none'), 'pop-called-number'),
      ringingFact(call)));

  return el('article', {
    className: 'pop', testid: 'pop',
    attrs: { 'data-call-id': str(call.id), 'data-status': p.status, 'aria-live': 'assertive' },
  },
  head,
  buildIvr(call),
  el('div', { className: 'pop-grid' },
    buildCustomerPanel(msg),
    el('div', { className: 'pop-side' }, recordingPanel(str(call.id)), buildNewTicket(workCtx(p)), buildHistory(msg),
      buildTickets(p))));
}

function renderPop() {
  const main = document.getElementById('desk-main');
  const old = byTestId('pop');
  if (old) old.remove();
  byTestId('idle').hidden = Boolean(state.pop);
  if (state.pop) {
    main.appendChild(buildPop(state.pop));
    updatePopStatus();
  }
  renderTitle();
}

function renderAll() {
  renderHeader();
  renderPop();
  renderMyWork();
}

// ---- boot --------------------------------------------------------------------

function init() {
  bindLangSelect(byTestId('lang-select'));
  applyTranslations(document);
  onLangChange(renderAll);

  byTestId('queue-toggle').addEventListener('click', () => {
    agentQueues(state.agent.state === 'logged_out' ? 'login' : 'logout');
  });
  byTestId('signout').addEventListener('click', signOut);
  byTestId('desk-error').querySelector('.banner-close').addEventListener('click', () => {
    state.error = null;
    renderHeader();
  });
  window.addEventListener('online', reconnectNow);
  window.addEventListener('pagehide', () => {
    state.stopping = true;
  });
  window.addEventListener('pageshow', (ev) => {
    // Back/forward cache restore: the old socket is gone, open a new one.
    if (ev.persisted && state.stopping && !isLeaving() && getToken()) {
      state.stopping = false;
      connect();
    }
  });
  window.setInterval(() => {
    if (state.pop && state.pop.frozenWait === null) updateWaiting();
  }, 1000);

  initMyWork(byTestId('my-work'));
  renderAll();
  document.documentElement.classList.add('ready');
  connect();
  agentQueues('login');
}

if (getToken()) init();
else goToLogin();
