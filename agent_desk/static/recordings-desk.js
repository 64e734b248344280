// Recording on the agent's own call: state from the desk socket
// (record_state), start/stop/pause/resume buttons (POST
// /api/v1/recordings/control), and once the call has ended, the call's
// recordings with a player. desk.js only forwards socket messages here and
// puts recordingPanel(callId) into the screen pop.
import { t } from '/static/i18n.js';
import { ApiError, apiRequest, getStoredUser } from '/static/api.js';
import { el, isObj, str } from '/static/dom.js';
import { recordingsList } from '/static/player.js';

const calls = new Map(); // call id -> { state, ended, error }

function entry(callId) {
  if (!calls.has(callId)) calls.set(callId, { state: 'off', ended: false, answered: false, error: null });
  return calls.get(callId);
}

/** Feed every desk socket message; keeps per-call recording state. */
export function onRecordingMessage(msg) {
  if (!isObj(msg)) return;
  const callId = str(msg.call_id);
  if (!callId) return;
  if (msg.type === 'record_state') {
    entry(callId).state = str(msg.state) || 'off';
  } else if (msg.type === 'call_answered') {
    const me = getStoredUser() || {};
    entry(callId).answered = !str(msg.agent) || str(msg.agent) === str(me.username); // not a colleague's call
  } else if (msg.type === 'call_ended') {
    const e = entry(callId);
    e.ended = true;
    e.state = 'off';
  } else {
    return;
  }
  rerender(callId);
}

function rerender(callId) {
  const old = document.querySelector(`[data-testid="rec-panel"][data-call-id="${CSS.escape(callId)}"]`);
  if (old) old.replaceWith(recordingPanel(callId));
}

async function control(callId, action) {
  const e = entry(callId);
  e.error = null;
  try {
    await apiRequest('/api/v1/recordings/control', { body: { action, call_id: callId } });
  } catch (err) {
    e.error = err instanceof ApiError && typeof err.detail === 'string' ? err.detail : t('rec.error.generic', { status: err.status });
  }
  rerender(callId);
}

function button(callId, action, testid) {
  const b = el('button', { className: 'btn btn-secondary', testid, text: t(`rec.${action}`), attrs: { type: 'button' } });
  b.addEventListener('click', () => control(callId, action));
  return b;
}

/** The pop's recording panel for ``callId``: controls while live, players after. */
export function recordingPanel(callId) {
  const e = entry(callId);
  const box = el('section', { className: 'panel rec-panel', testid: 'rec-panel', attrs: { 'data-call-id': callId } },
    el('header', { className: 'panel-head' }, el('h2', { className: 'panel-title', text: t('rec.title') }),
      el('span', { className: 'rec-state', testid: 'rec-state', attrs: { 'data-state': e.state },
        text: t(`rec.state.${e.state}`) })));
  if (!e.ended) {
    const buttons = el('div', { className: 'rec-buttons' });
    if (e.state === 'off') buttons.appendChild(button(callId, 'start', 'rec-start'));
    if (e.state === 'recording') buttons.append(button(callId, 'pause', 'rec-pause'), button(callId, 'stop', 'rec-stop'));
    if (e.state === 'paused') buttons.append(button(callId, 'resume', 'rec-resume'));
    if (e.answered || e.state !== 'off') box.appendChild(buttons);
  } else {
    box.appendChild(recordingsList({ call_id: callId }, { testid: 'rec-call' }));
  }
  if (e.error) box.appendChild(el('p', { className: 'form-error', testid: 'rec-control-error', text: e.error }));
  return box;
}
