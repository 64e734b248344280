// The recording player: an <audio> element fed by a short-lived play link
// (POST /api/v1/recordings/{id}/play, audited), a waveform from the peaks
// the server computed once, click-to-seek on the waveform. Used on the
// call (screen pop), ticket and customer views, and the search page.
//
// SECURITY: descriptions and numbers are hostile text: createElement +
// textContent only. The audio URL is same-origin and built by the server.
import { fmtDateTime, fmtDuration, t, tv } from '/static/i18n.js';
import { ApiError, apiRequest } from '/static/api.js';
import { el, isObj, str } from '/static/dom.js';

function errText(e) {
  if (e instanceof ApiError && e.detail && typeof e.detail === 'string') return e.detail;
  if (e instanceof ApiError && e.status === 0) return t('rec.error.network');
  return t('rec.error.generic', { status: e && e.status ? e.status : '?' });
}

function drawPeaks(canvas, peaks, progress) {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const w = canvas.width;
  const h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  if (!peaks.length) return;
  const bar = w / peaks.length;
  for (let i = 0; i < peaks.length; i += 1) {
    const v = Math.max(0.02, Math.min(1, Number(peaks[i]) || 0));
    ctx.fillStyle = (i / peaks.length) <= progress ? '#2563eb' : '#94a3b8';
    ctx.fillRect(i * bar, (h - v * h) / 2, Math.max(1, bar - 0.5), v * h);
  }
}

/** One recording: meta line, play button, waveform, audio element. */
export function buildPlayer(rec) {
  const box = el('div', { className: 'rec-player', testid: 'rec-player', attrs: { 'data-recording-id': rec.id } });
  const meta = el('div', { className: 'rec-meta' },
    el('span', { className: 'chip chip-type', text: tv('rec.kind', str(rec.kind)) }),
    el('span', { className: 'rec-when', text: fmtDateTime(rec.started_at) }),
    el('span', { className: 'rec-duration', testid: 'rec-duration',
      text: rec.duration_s === null || rec.duration_s === undefined ? t('value.none') : fmtDuration(rec.duration_s) }),
    rec.agent ? el('span', { className: 'rec-agent', text: str(rec.agent) }) : null);
  box.appendChild(meta);
  if (str(rec.description)) box.appendChild(el('p', { className: 'rec-desc', text: str(rec.description) }));
  if (!rec.playable) {
    box.appendChild(el('p', { className: 'empty', testid: 'rec-status', text: tv('rec.status', str(rec.status)) }));
    return box;
  }
  const canvas = el('canvas', { className: 'rec-wave', testid: 'rec-wave', attrs: { width: 600, height: 48 } });
  const audio = el('audio', { className: 'rec-audio', testid: 'rec-audio', attrs: { controls: '', preload: 'none' } });
  const play = el('button', { className: 'btn btn-secondary rec-play', testid: 'rec-play', text: t('rec.play'),
    attrs: { type: 'button' } });
  const error = el('p', { className: 'form-error', testid: 'rec-error', attrs: { role: 'alert' } });
  error.hidden = true;
  let peaks = [];
  const redraw = () => drawPeaks(canvas, peaks, audio.duration ? audio.currentTime / audio.duration : 0);
  audio.addEventListener('timeupdate', redraw);
  canvas.addEventListener('click', (ev) => {
    if (!audio.duration) return;
    const r = canvas.getBoundingClientRect();
    audio.currentTime = ((ev.clientX - r.left) / r.width) * audio.duration;
  });
  async function load() {
    const link = await apiRequest(`/api/v1/recordings/${encodeURIComponent(rec.id)}/play`, { method: 'POST' });
    if (!isObj(link) || typeof link.url !== 'string' || !link.url.startsWith('/api/v1/recordings/')) {
      throw new ApiError(500, null);
    }
    audio.src = link.url;
  }
  play.addEventListener('click', async () => {
    error.hidden = true;
    play.disabled = true;
    try {
      if (!audio.src) await load();
      await audio.play();
    } catch (e) {
      error.textContent = errText(e);
      error.hidden = false;
    } finally {
      play.disabled = false;
    }
  });
  apiRequest(`/api/v1/recordings/${encodeURIComponent(rec.id)}/peaks`, { method: 'GET' })
    .then((p) => {
      peaks = isObj(p) && Array.isArray(p.peaks) ? p.peaks : [];
      redraw();
    })
    .catch(() => { /* the waveform is a nicety; the audio still plays */ });
  box.appendChild(el('div', { className: 'rec-controls' }, play, canvas));
  box.appendChild(audio);
  box.appendChild(error);
  return box;
}

/** Recordings matching ``filter`` (e.g. {ticket_id}, {customer_id}, {call_id}), loaded on demand. */
export function recordingsList(filter, { testid = 'rec-list', eager = false } = {}) {
  const box = el('div', { className: 'rec-list', testid });
  const show = el('button', { className: 'btn btn-secondary rec-show', testid: `${testid}-show`,
    text: t('rec.show'), attrs: { type: 'button' } });
  const body = el('div', { className: 'rec-list-body' });
  async function loadList() {
    show.disabled = true;
    body.replaceChildren(el('p', { className: 'empty', text: t('mywork.loading') }));
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(filter)) if (v !== null && v !== undefined && v !== '') qs.set(k, String(v));
    try {
      const page = await apiRequest(`/api/v1/recordings?${qs.toString()}`, { method: 'GET' });
      const items = isObj(page) && Array.isArray(page.items) ? page.items : [];
      body.replaceChildren(...(items.length ? items.map(buildPlayer)
        : [el('p', { className: 'empty', testid: `${testid}-empty`, text: t('rec.none') })]));
    } catch (e) {
      body.replaceChildren(el('p', { className: 'form-error', text: errText(e) }));
    } finally {
      show.disabled = false;
    }
  }
  show.addEventListener('click', loadList);
  box.append(show, body);
  if (eager) loadList();
  box.reload = loadList;
  return box;
}
