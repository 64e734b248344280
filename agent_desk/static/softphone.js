// The desk's browser softphone (issue 11): JsSIP over Asterisk's WSS transport.
//
// Only for agents whose phone is "webrtc" (the user record says so; the SIP
// account, with the digest HA1 and never a password, comes from
// GET /api/v1/agent/phone). It registers, rings with a WebAudio tone (no audio
// file), answers/rejects, hangs up, mutes, holds, sends DTMF, tells the agent
// about calls that stopped ringing before they answered, and shows the state of
// its SIP socket: JsSIP reconnects by itself and registers again afterwards.
//
// The screen pop is not ours: it comes over /ws/agent (desk.js) whatever the
// phone does. This module only adds the phone bar above the desk.
//
// SECURITY: caller names come from the phone network (From display name):
// DOM is built with createElement + textContent only (dom.js `el`).
// PRIVACY: pcConfig.iceServers is always empty: JsSIP's callers may not fall
// back to a public STUN server, so media never leaves the path to Asterisk.
import { onLangChange, t } from '/static/i18n.js';
import { apiRequest, getStoredUser, getToken, isLeaving } from '/static/api.js';
import { el, isObj, str } from '/static/dom.js';

const PC_CONFIG = Object.freeze({ iceServers: [], iceTransportPolicy: 'all' });
const MEDIA = Object.freeze({ audio: true, video: false });
const DTMF_KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];
const ENDED_SHOW_MS = 4000;
const MAX_MISSED = 5;
const CERT_HINT_URL = 'https://127.0.0.1:8089/httpstatus';

const sp = {
  account: null,
  ua: null,
  // registration: off | connecting | registered | unregistered | reconnecting | failed
  registration: 'off',
  everConnected: false,
  socketFailed: false, // the WSS socket never opened: most likely the certificate
  regCause: null,
  session: null,
  // call.status: ringing | connecting | active | ended
  call: null,
  missed: [],
  ring: null, // {ctx, gain, oscillators, timer}
  audioCtx: null,
  dtmfSent: '',
  timer: null,
  endedTimer: null,
  root: null,
  audio: null,
};

const byTestId = (root, id) => root.querySelector(`[data-testid="${id}"]`);

// ---- ring tone: WebAudio, 440+480 Hz, 1 s on / 2 s off -------------------------
//
// One AudioContext for the page, made on the agent's first click or key press
// where possible: browsers keep a context made without a gesture on this page
// suspended (silent). Then the bar says "click to hear the ring tone".

function audioContext() {
  if (sp.audioCtx) return sp.audioCtx;
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return null;
  try {
    sp.audioCtx = new Ctx();
    sp.audioCtx.addEventListener('statechange', render);
  } catch (_e) {
    sp.audioCtx = null;
  }
  return sp.audioCtx;
}

function unlockAudio() {
  const ctx = audioContext();
  if (ctx && ctx.state === 'suspended') ctx.resume().catch(() => {});
  if (sp.audio && sp.audio.srcObject && sp.audio.paused) sp.audio.play().catch(() => {});
}

function startRing() {
  if (sp.ring) return;
  const ctx = audioContext();
  if (!ctx) return;
  const gain = ctx.createGain();
  gain.gain.value = 0;
  gain.connect(ctx.destination);
  const oscillators = [440, 480].map((hz) => {
    const osc = ctx.createOscillator();
    osc.frequency.value = hz;
    osc.connect(gain);
    osc.start();
    return osc;
  });
  const burst = () => {
    const now = ctx.currentTime;
    gain.gain.cancelScheduledValues(now);
    gain.gain.setValueAtTime(0, now);
    gain.gain.linearRampToValueAtTime(0.12, now + 0.02);
    gain.gain.setValueAtTime(0.12, now + 1);
    gain.gain.linearRampToValueAtTime(0, now + 1.02);
  };
  ctx.resume().catch(() => {});
  burst();
  sp.ring = { ctx, gain, oscillators, timer: window.setInterval(burst, 3000) };
}

function stopRing() {
  const ring = sp.ring;
  if (!ring) return;
  sp.ring = null;
  window.clearInterval(ring.timer);
  for (const osc of ring.oscillators) {
    try { osc.stop(); } catch (_e) { /* already stopped */ }
    osc.disconnect();
  }
  ring.gain.disconnect();
}

// ---- call bookkeeping ------------------------------------------------------------

function callerOf(session) {
  const id = session && session.remote_identity;
  const name = id ? str(id.display_name) : '';
  const number = id && id.uri ? str(id.uri.user) : '';
  return { name, number };
}

function completedElsewhere(request) {
  // Asterisk cancels the other ringing phones of a ringall queue with
  // `Reason: SIP;cause=200;text="Call completed elsewhere"`: not a missed call.
  try {
    const reasons = request && typeof request.getHeaders === 'function' ? request.getHeaders('Reason') : [];
    return reasons.some((r) => /^\s*SIP\s*;\s*cause\s*=\s*200\b/i.test(String(r)));
  } catch (_e) {
    return false;
  }
}

function attachMedia(session) {
  const pc = session.connection;
  if (!pc || pc.ctideskAttached) return;
  pc.ctideskAttached = true;
  const play = (stream) => {
    if (!sp.audio || !stream) return;
    if (sp.audio.srcObject !== stream) sp.audio.srcObject = stream;
    const p = sp.audio.play();
    if (p && typeof p.catch === 'function') p.catch(() => {});
  };
  pc.addEventListener('track', (ev) => {
    if (ev.track.kind !== 'audio') return;
    play(ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]));
  });
  // Tracks that arrived before we listened (setRemoteDescription ran first).
  const tracks = pc.getReceivers().map((r) => r.track).filter((tr) => tr && tr.kind === 'audio');
  if (tracks.length) play(new MediaStream(tracks));
  pc.addEventListener('iceconnectionstatechange', render);
}

function onNewSession(ev) {
  const session = ev.session;
  if (ev.originator !== 'remote') return; // the desk places no calls through the softphone (yet)
  if (sp.session) {
    // One call at a time: the queue rings the next agent.
    session.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
    return;
  }
  window.clearTimeout(sp.endedTimer);
  sp.session = session;
  sp.dtmfSent = '';
  sp.call = {
    status: 'ringing', caller: callerOf(session), muted: false, held: false,
    answeredAt: null, endedAt: null, endCause: null,
  };
  session.on('peerconnection', () => attachMedia(session));
  session.on('accepted', () => {
    if (sp.session !== session) return;
    stopRing();
    sp.call.status = 'connecting';
    attachMedia(session);
    render();
  });
  session.on('confirmed', () => {
    if (sp.session !== session) return;
    sp.call.status = 'active';
    sp.call.answeredAt = Date.now();
    attachMedia(session);
    render();
  });
  session.on('muted', () => { if (sp.session === session) { sp.call.muted = true; render(); } });
  session.on('unmuted', () => { if (sp.session === session) { sp.call.muted = false; render(); } });
  session.on('hold', () => { if (sp.session === session) { sp.call.held = true; render(); } });
  session.on('unhold', () => { if (sp.session === session) { sp.call.held = false; render(); } });
  session.on('ended', (e) => endCall(session, e, false));
  session.on('failed', (e) => endCall(session, e, true));
  startRing();
  render();
}

function endCall(session, e, failed) {
  if (sp.session !== session) return;
  stopRing();
  const call = sp.call;
  const wasRinging = call.status === 'ringing';
  const cancelled = failed && e && e.originator === 'remote' && wasRinging
    && e.cause === window.JsSIP.C.causes.CANCELED && !completedElsewhere(e.message);
  if (cancelled) {
    sp.missed.unshift({ caller: call.caller, at: new Date() });
    sp.missed.length = Math.min(sp.missed.length, MAX_MISSED);
  }
  call.status = 'ended';
  call.endedAt = Date.now();
  call.endCause = e && e.cause ? String(e.cause) : null;
  call.missed = cancelled;
  sp.session = null;
  if (sp.audio) sp.audio.srcObject = null;
  render();
  sp.endedTimer = window.setTimeout(() => {
    if (sp.session === null) {
      sp.call = null;
      render();
    }
  }, ENDED_SHOW_MS);
}

// ---- actions -----------------------------------------------------------------------

function answer() {
  const s = sp.session;
  if (!s || !sp.call || sp.call.status !== 'ringing') return;
  stopRing();
  sp.call.status = 'connecting';
  render();
  try {
    s.answer({ mediaConstraints: MEDIA, pcConfig: PC_CONFIG });
  } catch (_e) {
    // JsSIP throws when the call is already gone; its failed event follows.
  }
  attachMedia(s);
}

function reject() {
  const s = sp.session;
  if (!s) return;
  try {
    s.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
  } catch (_e) { /* already ended */ }
}

function hangup() {
  const s = sp.session;
  if (!s) return;
  try {
    s.terminate();
  } catch (_e) { /* already ended */ }
}

function toggleMute() {
  const s = sp.session;
  if (!s || !sp.call || sp.call.status !== 'active') return;
  if (s.isMuted().audio) s.unmute({ audio: true });
  else s.mute({ audio: true });
}

function toggleHold() {
  const s = sp.session;
  if (!s || !sp.call || sp.call.status !== 'active') return;
  if (s.isOnHold().local) s.unhold();
  else s.hold();
}

function sendDtmf(key) {
  const s = sp.session;
  if (!s || !sp.call || sp.call.status !== 'active') return;
  const C = window.JsSIP.C;
  try {
    // In band (RFC 4733 events in the RTP stream, what Asterisk expects);
    // SIP INFO when the browser has no RTCDTMFSender.
    const rfc = s.connection && s.connection.getSenders().some((x) => x.dtmf);
    s.sendDTMF(key, { transportType: rfc ? C.DTMF_TRANSPORT.RFC2833 : C.DTMF_TRANSPORT.INFO, duration: 160 });
    sp.dtmfSent = (sp.dtmfSent + key).slice(-24);
  } catch (_e) {
    return;
  }
  render();
}

// ---- rendering -----------------------------------------------------------------------

function fmtClock(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  return `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

function callerText(caller) {
  if (caller.name && caller.number && caller.name !== caller.number) return `${caller.name} <${caller.number}>`;
  return caller.name || caller.number || t('sp.unknown_caller');
}

function endCauseText(cause) {
  // JsSIP's causes of a failed call that the agent can act on; others say nothing.
  const C = window.JsSIP ? window.JsSIP.C.causes : {};
  switch (cause) {
    case C.USER_DENIED_MEDIA_ACCESS: return t('sp.cause.no_mic');
    case C.CONNECTION_ERROR: return t('sp.cause.connection');
    case C.RTP_TIMEOUT: return t('sp.cause.rtp_timeout');
    case C.INCOMPATIBLE_SDP:
    case C.BAD_MEDIA_DESCRIPTION: return t('sp.cause.media');
    default: return null;
  }
}

function button(testid, key, className, onClick, extra = {}) {
  const b = el('button', { className: `btn ${className}`, testid, text: t(key), attrs: { type: 'button', ...extra } });
  b.addEventListener('click', onClick);
  return b;
}

function buildStatus() {
  const reg = sp.registration;
  const box = el('div', { className: 'sp-reg', testid: 'softphone-registration', attrs: { 'data-state': reg, role: 'status' } },
    el('span', { className: 'sp-dot', attrs: { 'aria-hidden': 'true' } }),
    el('span', { className: 'sp-reg-label', text: t(`sp.reg.${reg}`) }));
  if (sp.account) {
    box.appendChild(el('span', { className: 'sp-ext', text: t('sp.extension', { ext: str(sp.account.extension) }) }));
  }
  return box;
}

function buildHint() {
  if (sp.registration !== 'failed' && sp.registration !== 'reconnecting') return null;
  if (sp.socketFailed && !sp.everConnected) {
    return el('p', { className: 'sp-hint', testid: 'softphone-hint' },
      el('span', { text: t('sp.hint.cert_before') }),
      el('a', { text: CERT_HINT_URL, attrs: { href: CERT_HINT_URL, target: '_blank', rel: 'noopener noreferrer' } }),
      el('span', { text: t('sp.hint.cert_after') }));
  }
  if (sp.registration === 'failed' && sp.regCause) {
    return el('p', { className: 'sp-hint', testid: 'softphone-hint', text: t('sp.hint.register', { cause: sp.regCause }) });
  }
  return null;
}

function buildCall() {
  const call = sp.call;
  if (!call) return el('div', { className: 'sp-call', testid: 'softphone-call', attrs: { 'data-state': 'idle' } },
    el('span', { className: 'muted', text: t('sp.idle') }));
  const box = el('div', { className: 'sp-call', testid: 'softphone-call', attrs: { 'data-state': call.status } });
  let label = t(`sp.call.${call.status}`);
  if (call.status === 'active' && call.held) label = t('sp.call.held');
  if (call.status === 'ended' && call.missed) label = t('sp.call.missed');
  box.appendChild(el('span', { className: 'sp-call-state', testid: 'softphone-call-state', text: label }));
  box.appendChild(el('span', { className: 'sp-caller', testid: 'softphone-caller', text: callerText(call.caller) }));
  if (call.status === 'ringing' && sp.audioCtx && sp.audioCtx.state !== 'running') {
    box.appendChild(el('span', { className: 'sp-sound-off', testid: 'softphone-sound-off', text: t('sp.sound_off') }));
  }
  const cause = call.status === 'ended' && !call.missed ? endCauseText(call.endCause) : null;
  if (cause) box.appendChild(el('span', { className: 'sp-cause', testid: 'softphone-end-cause', text: cause }));
  if (call.status === 'active' && call.answeredAt) {
    box.appendChild(el('span', { className: 'sp-timer', testid: 'softphone-timer', text: fmtClock(Date.now() - call.answeredAt) }));
  }
  const actions = el('div', { className: 'sp-actions' });
  if (call.status === 'ringing') {
    actions.appendChild(button('softphone-answer', 'sp.answer', 'btn-answer', answer));
    actions.appendChild(button('softphone-reject', 'sp.reject', 'btn-reject', reject));
  } else if (call.status === 'connecting' || call.status === 'active') {
    const active = call.status === 'active';
    const mute = button('softphone-mute', call.muted ? 'sp.unmute' : 'sp.mute', 'btn-secondary', toggleMute,
      { 'aria-pressed': call.muted ? 'true' : 'false' });
    mute.disabled = !active;
    const hold = button('softphone-hold', call.held ? 'sp.unhold' : 'sp.hold', 'btn-secondary', toggleHold,
      { 'aria-pressed': call.held ? 'true' : 'false' });
    hold.disabled = !active;
    actions.append(mute, hold, button('softphone-hangup', 'sp.hangup', 'btn-reject', hangup));
    box.appendChild(el('span', {
      className: 'sp-mic', testid: 'softphone-mic', attrs: { 'data-muted': call.muted ? 'true' : 'false' },
      text: t(call.muted ? 'sp.mic_off' : 'sp.mic_on'),
    }));
  }
  box.appendChild(actions);
  return box;
}

function buildPad() {
  const call = sp.call;
  if (!call || call.status !== 'active') return null;
  const pad = el('div', { className: 'sp-pad', testid: 'softphone-dtmf', attrs: { role: 'group', 'aria-label': t('sp.dtmf') } });
  for (const key of DTMF_KEYS) {
    const b = el('button', { className: 'sp-key', testid: `softphone-dtmf-${key === '*' ? 'star' : key === '#' ? 'hash' : key}`,
      text: key, attrs: { type: 'button' } });
    b.addEventListener('click', () => sendDtmf(key));
    pad.appendChild(b);
  }
  return el('div', { className: 'sp-pad-wrap' }, pad,
    el('output', { className: 'sp-dtmf-sent', testid: 'softphone-dtmf-sent', text: sp.dtmfSent }));
}

function buildMissed() {
  if (!sp.missed.length) return null;
  const list = el('ul', { className: 'sp-missed-list' });
  for (const m of sp.missed) {
    list.appendChild(el('li', { className: 'sp-missed-item', testid: 'softphone-missed-call' },
      el('span', { className: 'sp-missed-caller', text: callerText(m.caller) }),
      el('time', { className: 'sp-missed-time', attrs: { datetime: m.at.toISOString() },
        text: m.at.toLocaleTimeString(document.documentElement.lang || undefined) })));
  }
  const clear = button('softphone-missed-clear', 'sp.missed_clear', 'btn-secondary sp-missed-clear', () => {
    sp.missed = [];
    render();
  });
  return el('div', { className: 'sp-missed', testid: 'softphone-missed', attrs: { role: 'status' } },
    el('span', { className: 'sp-missed-title', text: t('sp.missed', { n: sp.missed.length }) }), list, clear);
}

function render() {
  const root = sp.root;
  if (!root) return;
  root.hidden = false;
  root.dataset.registration = sp.registration;
  root.dataset.call = sp.call ? sp.call.status : 'idle';
  const body = byTestId(root, 'softphone-body');
  body.replaceChildren(...[
    el('span', { className: 'sp-title', text: t('sp.title') }),
    buildStatus(), buildCall(), buildPad(), buildMissed(), buildHint(),
  ].filter(Boolean));
}

// ---- the user agent ----------------------------------------------------------------------

function setRegistration(state, cause = null) {
  sp.registration = state;
  if (cause !== null) sp.regCause = cause;
  render();
}

function startUA(account) {
  const JsSIP = window.JsSIP;
  if (!JsSIP) {
    setRegistration('failed', 'JsSIP');
    return;
  }
  const socket = new JsSIP.WebSocketInterface(account.ws_url);
  const ua = new JsSIP.UA({
    sockets: [socket],
    uri: account.uri,
    authorization_user: account.authorization_user,
    ha1: account.ha1,
    realm: account.realm,
    display_name: account.display_name,
    register: true,
    session_timers: false,
    user_agent: 'ctidesk softphone (JsSIP)',
    connection_recovery_min_interval: 2,
    connection_recovery_max_interval: 10,
  });
  sp.ua = ua;
  ua.on('connecting', () => {
    // JsSIP is retrying: keep "failed"/"reconnecting" on screen rather than flicker.
    if (sp.registration === 'off' || sp.registration === 'connecting') setRegistration('connecting');
  });
  ua.on('connected', () => {
    sp.everConnected = true;
    sp.socketFailed = false;
    // JsSIP registers again by itself once the socket is back.
    if (sp.registration !== 'registered') setRegistration('unregistered');
  });
  ua.on('disconnected', (e) => {
    if (isLeaving()) return;
    if (e && e.error) sp.socketFailed = true;
    setRegistration(sp.everConnected ? 'reconnecting' : 'failed');
  });
  ua.on('registered', () => {
    sp.regCause = null;
    setRegistration('registered');
  });
  ua.on('unregistered', () => {
    if (sp.registration === 'registered') setRegistration(ua.isConnected() ? 'unregistered' : 'reconnecting');
  });
  ua.on('registrationFailed', (e) => {
    setRegistration(ua.isConnected() ? 'failed' : (sp.everConnected ? 'reconnecting' : 'failed'),
      e && e.cause ? String(e.cause) : null);
  });
  ua.on('newRTCSession', onNewSession);
  setRegistration('connecting');
  ua.start();
}

async function stats() {
  const s = sp.session;
  const pc = s && s.connection;
  const out = {
    packetsSent: 0, packetsReceived: 0, bytesSent: 0, bytesReceived: 0,
    iceConnectionState: pc ? pc.iceConnectionState : null,
    connectionState: pc ? pc.connectionState : null,
    localCandidates: [], remoteCandidates: [], selectedPair: null, codec: null,
  };
  if (!pc) return out;
  const report = await pc.getStats();
  const codecs = {};
  const candidates = {};
  let selectedPairId = null;
  report.forEach((r) => {
    if (r.type === 'codec') codecs[r.id] = r.mimeType;
    if (r.type === 'local-candidate' || r.type === 'remote-candidate') candidates[r.id] = r;
    if (r.type === 'transport' && r.selectedCandidatePairId) selectedPairId = r.selectedCandidatePairId;
  });
  const where = (id) => {
    const c = candidates[id];
    return c ? `${c.address || c.ip || '?'}:${c.port}` : '?';
  };
  report.forEach((r) => {
    const audio = r.kind === 'audio' || r.mediaType === 'audio';
    if (r.type === 'outbound-rtp' && audio) {
      out.packetsSent += r.packetsSent || 0;
      out.bytesSent += r.bytesSent || 0;
      if (r.codecId && codecs[r.codecId]) out.codec = codecs[r.codecId];
    } else if (r.type === 'inbound-rtp' && audio) {
      out.packetsReceived += r.packetsReceived || 0;
      out.bytesReceived += r.bytesReceived || 0;
    } else if (r.type === 'local-candidate') {
      out.localCandidates.push(`${r.candidateType} ${r.protocol} ${r.address || r.ip}:${r.port}`);
    } else if (r.type === 'remote-candidate') {
      out.remoteCandidates.push(`${r.candidateType} ${r.protocol} ${r.address || r.ip}:${r.port}`);
    } else if (r.type === 'candidate-pair' && r.id === selectedPairId) {
      out.selectedPair = { local: where(r.localCandidateId), remote: where(r.remoteCandidateId), state: r.state };
    }
  });
  return out;
}

function exposeHooks() {
  // Minimal test/debug hooks (tests/browser/test_softphone_real.py).
  window.ctideskSoftphone = Object.freeze({
    state: () => ({
      registration: sp.registration,
      socketFailed: sp.socketFailed,
      call: sp.call ? { status: sp.call.status, muted: sp.call.muted, held: sp.call.held,
        caller: { ...sp.call.caller }, missed: Boolean(sp.call.missed), endCause: sp.call.endCause } : null,
      missed: sp.missed.length,
      ringing: Boolean(sp.ring),
      audioContext: sp.audioCtx ? sp.audioCtx.state : null,
      dtmfSent: sp.dtmfSent,
    }),
    get session() { return sp.session; },
    get ua() { return sp.ua; },
    stats,
  });
}

function mount() {
  let root = document.querySelector('[data-testid="softphone"]');
  if (!root) return null;
  sp.audio = root.querySelector('audio') || root.appendChild(el('audio', { testid: 'softphone-audio', attrs: { autoplay: '' } }));
  if (!byTestId(root, 'softphone-body')) root.appendChild(el('div', { className: 'sp-body', testid: 'softphone-body' }));
  return root;
}

function loadJsSIP() {
  // The vendored library (agent_desk/static/jssip.min.js, README: "Updating
  // the vendored JsSIP"), fetched only by desks that have a softphone.
  if (window.JsSIP) return Promise.resolve(window.JsSIP);
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = '/static/jssip.min.js';
    script.async = true;
    script.addEventListener('load', () => (window.JsSIP ? resolve(window.JsSIP) : reject(new Error('JsSIP'))));
    script.addEventListener('error', () => reject(new Error('JsSIP')));
    document.head.appendChild(script);
  });
}

async function init() {
  if (!getToken()) return;
  const user = getStoredUser();
  // Only webrtc agents have a softphone; asking for others would only 404.
  if (!isObj(user) || str(user.phone) !== 'webrtc') return;
  let account;
  try {
    account = await apiRequest('/api/v1/agent/phone', { method: 'GET' });
  } catch (_e) {
    return; // desk.js reports API trouble; no softphone without an account
  }
  if (!isObj(account) || account.kind !== 'webrtc' || !str(account.ws_url)) return;
  sp.account = account;
  sp.root = mount();
  if (!sp.root) return;
  sp.registration = 'connecting';
  exposeHooks();
  onLangChange(render);
  sp.timer = window.setInterval(() => {
    if (sp.call && sp.call.status === 'active') {
      const node = sp.root.querySelector('[data-testid="softphone-timer"]');
      if (node) node.textContent = fmtClock(Date.now() - sp.call.answeredAt);
    }
  }, 1000);
  // A click or key press on the page unlocks audio that autoplay policy holds back.
  document.addEventListener('pointerdown', unlockAudio, true);
  document.addEventListener('keydown', unlockAudio, true);
  window.addEventListener('pagehide', () => {
    stopRing();
    if (sp.ua) sp.ua.stop(); // un-REGISTER: the queue stops ringing a closed desk
  });
  window.addEventListener('pageshow', (ev) => {
    // Back/forward cache restore: register again (desk.js reopens its socket too).
    if (ev.persisted && sp.ua && !isLeaving() && getToken()) sp.ua.start();
  });
  render();
  try {
    await loadJsSIP();
  } catch (_e) {
    setRegistration('failed', 'JsSIP');
    return;
  }
  startUA(account);
}

init();
