// Transfer the caller to an expert or a queue (issue 11), and show what the
// previous seat handed over when a transferred call rings here.
//
// Its own section (data-testid="transfer" in desk.html); desk.js passes every
// socket message on as a 'ctidesk:ws' DOM event. POST /api/v1/agent/transfer
// does the work; call_transferred on the socket says when Asterisk did it.
//
// SECURITY: notes, drafts and names are hostile text: textContent only.
import { onLangChange, t } from '/static/i18n.js';
import { ApiError, apiRequest, getStoredUser } from '/static/api.js';
import { el, isObj, str } from '/static/dom.js';

const QUEUES = ['support', 'sales', 'operator'];

const state = {
  callId: null, // the answered call this agent is on
  handoff: null, // {call_id, from_agent, mode, notes, draft}
  busy: false,
  status: null, // {key, params, error}
  form: { mode: 'blind', kind: 'expert', expert: '', queue: QUEUES[0], notes: '' },
  consult: null, // {call_id, target}: an attended transfer this agent is in (3-way, complete, cancel)
  targets: [], // GET /api/v1/agent/transfer/targets: [{username, display_name, role, state}]
};

const root = () => document.querySelector('[data-testid="transfer"]');

function me() {
  const user = getStoredUser() || {};
  return str(user.username);
}

function onMessage(msg) {
  if (!isObj(msg)) return;
  const callId = str(msg.call_id) || (isObj(msg.call) ? str(msg.call.id) : '');
  switch (msg.type) {
    case 'screen_pop':
      if (isObj(msg.handoff)) state.handoff = { call_id: callId, ...msg.handoff };
      break;
    case 'call_answered':
      if (!str(msg.agent) || str(msg.agent) === me()) {
        state.callId = callId;
        loadTargets();
      }
      break;
    case 'call_transferred':
      if (state.consult && state.consult.call_id === callId) state.consult = null;
      if (str(msg.mode) === 'threeway') {
        // a 3-way: the agent stays on the call until their phone leaves it
        if (str(msg.to_agent) === me()) state.callId = callId;
        const other = str(msg.from_agent) === me() ? str(msg.to_agent) : str(msg.from_agent);
        state.status = { key: 'xfer.threeway', params: { other } };
      } else if (str(msg.to_agent) === me()) {
        state.callId = callId; // the call is ours now
      } else if (str(msg.from_agent) === me() && state.callId === callId) {
        state.status = { key: 'xfer.done', params: { target: str(msg.to_agent) || str(msg.to_queue) } };
        state.callId = null;
      }
      break;
    case 'call_ended':
      if (state.callId === callId) state.callId = null;
      if (state.consult && state.consult.call_id === callId) state.consult = null;
      if (state.handoff && state.handoff.call_id === callId) state.handoff = null;
      break;
    default:
      return;
  }
  render();
}

function failure(e) {
  const detail = e instanceof ApiError && typeof e.detail === 'string' ? e.detail : '';
  return { key: 'xfer.failed', params: { status: e.status || 0, detail }, error: true };
}

async function submit() {
  if (!state.callId || state.busy) return;
  const f = state.form;
  const target = f.kind === 'queue' ? { queue: f.queue } : { expert: str(f.expert) };
  if (f.kind === 'expert' && !target.expert) {
    state.status = { key: 'xfer.need_target', error: true };
    render();
    return;
  }
  const draft = state.handoff && state.handoff.call_id === state.callId && isObj(state.handoff.draft)
    ? state.handoff.draft : {};
  state.busy = true;
  state.status = { key: 'xfer.sending' };
  render();
  try {
    await apiRequest('/api/v1/agent/transfer', {
      method: 'POST', body: { mode: f.mode, target, notes: f.notes, draft },
    });
    // call_transferred may come over the socket before this answer: keep "done"
    if (!state.status || state.status.key !== 'xfer.done') {
      state.status = { key: f.mode === 'attended' ? 'xfer.consulting' : 'xfer.requested' };
      if (f.mode === 'attended') state.consult = { call_id: state.callId, target: target.expert || target.queue };
    }
  } catch (e) {
    state.status = failure(e);
  } finally {
    state.busy = false;
    render();
  }
}

async function loadTargets() {
  try {
    const body = await apiRequest('/api/v1/agent/transfer/targets', { method: 'GET' });
    state.targets = isObj(body) && Array.isArray(body.experts) ? body.experts.filter(isObj) : [];
  } catch (e) {
    state.targets = []; // the picker is a convenience: typing a username still works
  }
  render();
}

// During an attended transfer: bring the caller in (3-way), hand over now, or go back.
async function consult(action) {
  if (!state.consult || state.busy) return;
  state.busy = true;
  render();
  try {
    await apiRequest('/api/v1/agent/transfer/consult', { method: 'POST', body: { action } });
    if (action === 'cancel') {
      state.consult = null;
      state.status = { key: 'xfer.cancelled' };
    } else if (!state.status || state.status.key === 'xfer.consulting') {
      state.status = { key: action === 'threeway' ? 'xfer.joining' : 'xfer.completing' };
    }
  } catch (e) {
    state.status = failure(e);
  } finally {
    state.busy = false;
    render();
  }
}

function buildConsult() {
  const button = (action, cls) => {
    const b = el('button', { className: `btn ${cls}`, testid: `transfer-${action}`, text: t(`xfer.btn.${action}`),
      attrs: { type: 'button' } });
    b.disabled = state.busy;
    b.addEventListener('click', () => consult(action));
    return b;
  };
  return el('div', { className: 'xfer-consult', testid: 'transfer-consult' },
    el('p', { text: t('xfer.consult_with', { target: state.consult.target }) }),
    button('threeway', 'btn-primary'), button('complete', 'btn-light'), button('cancel', 'btn-light'));
}

function stateLabel(s) {
  return s ? t(`wb.state.${s}`) : ''; // the wallboard's words for an agent's state
}

function labelled(labelKey, control) {
  return el('label', { className: 'field' }, el('span', { text: t(labelKey) }), control);
}

function buildHandoff(h) {
  const box = el('div', { className: 'xfer-handoff', testid: 'transfer-handoff' },
    el('h3', { text: t('xfer.handoff_title', { agent: str(h.from_agent) }) }),
    el('p', { className: 'xfer-notes', testid: 'transfer-handoff-notes', text: str(h.notes) || t('xfer.no_notes') }));
  const draft = isObj(h.draft) ? Object.entries(h.draft) : [];
  if (draft.length) {
    const dl = el('dl', { className: 'xfer-draft', testid: 'transfer-handoff-draft' });
    for (const [key, value] of draft) {
      dl.appendChild(el('dt', { text: key }));
      dl.appendChild(el('dd', { text: typeof value === 'string' ? value : JSON.stringify(value) }));
    }
    box.appendChild(dl);
  }
  return box;
}

function buildForm() {
  const f = state.form;
  const mode = el('select', { className: 'select select-light', testid: 'transfer-mode' },
    el('option', { text: t('xfer.blind'), attrs: { value: 'blind' } }),
    el('option', { text: t('xfer.attended'), attrs: { value: 'attended' } }));
  mode.value = f.mode;
  mode.addEventListener('change', () => { f.mode = mode.value; });
  const kind = el('select', { className: 'select select-light', testid: 'transfer-kind' },
    el('option', { text: t('xfer.to_expert'), attrs: { value: 'expert' } }),
    el('option', { text: t('xfer.to_queue'), attrs: { value: 'queue' } }));
  kind.value = f.kind;
  kind.addEventListener('change', () => { f.kind = kind.value; render(); });
  let target;
  if (f.kind === 'queue') {
    target = el('select', { className: 'select select-light', testid: 'transfer-queue' },
      ...QUEUES.map((q) => el('option', { text: q, attrs: { value: q } })));
    target.value = f.queue;
    target.addEventListener('change', () => { f.queue = target.value; });
  } else {
    const input = el('input', { className: 'input', testid: 'transfer-expert',
      attrs: { type: 'text', maxlength: 64, autocomplete: 'off', placeholder: t('xfer.expert_placeholder'),
        list: 'transfer-targets' } });
    input.value = f.expert;
    input.addEventListener('input', () => { f.expert = input.value; });
    // the picker: experts first, each with who they are and whether they are free
    const list = el('datalist', { testid: 'transfer-targets', attrs: { id: 'transfer-targets' } },
      ...state.targets.map((p) => el('option', { attrs: { value: str(p.username) },
        text: [str(p.display_name), t(`xfer.role.${str(p.role)}`), stateLabel(str(p.state))]
          .filter(Boolean).join(' · ') })));
    target = el('span', {}, input, list);
  }
  const notes = el('textarea', { className: 'input', testid: 'transfer-notes',
    attrs: { maxlength: 2000, rows: 3, placeholder: t('xfer.notes_placeholder') } });
  notes.value = f.notes;
  notes.addEventListener('input', () => { f.notes = notes.value; });
  const send = el('button', { className: 'btn btn-primary', testid: 'transfer-submit', text: t('xfer.submit'),
    attrs: { type: 'button' } });
  send.disabled = state.busy || !state.callId;
  send.addEventListener('click', submit);
  return el('div', { className: 'xfer-form' }, labelled('xfer.mode', mode), labelled('xfer.target_kind', kind),
    labelled(f.kind === 'queue' ? 'xfer.queue' : 'xfer.expert', target), labelled('xfer.notes', notes), send);
}

function render() {
  const section = root();
  if (!section) return;
  section.replaceChildren();
  const show = Boolean(state.callId || state.handoff || state.status);
  section.hidden = !show;
  if (!show) return;
  section.appendChild(el('h2', { className: 'xfer-title', text: t('xfer.title') }));
  if (state.handoff) section.appendChild(buildHandoff(state.handoff));
  if (state.consult) section.appendChild(buildConsult());
  else if (state.callId) section.appendChild(buildForm());
  if (state.status) {
    section.appendChild(el('p', { className: state.status.error ? 'xfer-status xfer-error' : 'xfer-status',
      testid: 'transfer-status', text: t(state.status.key, state.status.params), attrs: { role: 'status' } }));
  }
}

document.addEventListener('ctidesk:ws', (ev) => onMessage(ev.detail));
onLangChange(render);
