// The recordings search page (supervisors search everything; agents get
// their own calls' recordings, the API decides). Filters map 1:1 to
// GET /api/v1/recordings; results are built with textContent only.
import { applyTranslations, bindLangSelect, fmtDateTime, fmtDuration, onLangChange, t, tv } from '/static/i18n.js';
import { ApiError, apiRequest, getToken, goToLogin } from '/static/api.js';
import { el, isObj, str } from '/static/dom.js';
import { buildPlayer } from '/static/player.js';

const PAGE = 50;
const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);
const page = { params: null, offset: 0, items: [] };

function params(form) {
  const data = new FormData(form);
  const qs = new URLSearchParams();
  for (const [k, raw] of data.entries()) {
    const v = str(raw);
    if (!v) continue;
    if (k === 'from' || k === 'to') qs.set(k, new Date(v).toISOString()); // local time -> UTC with zone
    else qs.set(k, v);
  }
  return qs;
}

function row(rec) {
  const open = el('button', { className: 'btn btn-secondary', testid: 'rec-open', text: t('rec.play'),
    attrs: { type: 'button' } });
  const tr = el('tr', { testid: 'rec-row', attrs: { 'data-recording-id': rec.id } },
    el('td', { text: fmtDateTime(rec.started_at) }), el('td', { text: str(rec.agent) || t('value.none') }),
    el('td', { text: str(rec.caller_number) || t('value.none') }),
    el('td', { text: str(rec.called_number) || t('value.none') }),
    el('td', { text: fmtDuration(rec.duration_s) }), el('td', { text: tv('rec.kind', str(rec.kind)) }),
    el('td', { text: tv('rec.status', str(rec.status)) }), el('td', {}, open));
  open.addEventListener('click', () => {
    const next = tr.nextElementSibling;
    if (next && next.classList.contains('rec-open')) {
      next.remove();
      return;
    }
    tr.after(el('tr', { className: 'rec-open' }, el('td', { attrs: { colspan: 8 } }, buildPlayer(rec))));
  });
  return tr;
}

function render() {
  byTestId('rec-results').replaceChildren(...page.items.map(row));
  byTestId('rec-count').textContent = t('rec.results', { n: page.items.length });
}

async function search(more = false) {
  const error = byTestId('rec-search-error');
  error.hidden = true;
  if (!more) {
    page.params = params(byTestId('rec-search-form'));
    page.offset = 0;
    page.items = [];
  }
  const qs = new URLSearchParams(page.params);
  qs.set('limit', String(PAGE));
  qs.set('offset', String(page.offset));
  try {
    const res = await apiRequest(`/api/v1/recordings?${qs.toString()}`, { method: 'GET' });
    const items = isObj(res) && Array.isArray(res.items) ? res.items : [];
    page.items = page.items.concat(items);
    page.offset += items.length;
    byTestId('rec-more').hidden = !(isObj(res) && res.has_more);
    render();
  } catch (e) {
    error.textContent = e instanceof ApiError && e.detail
      ? (typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail)) : t('rec.error.generic', { status: e.status });
    error.hidden = false;
  }
}

function init() {
  if (!getToken()) {
    goToLogin();
    return;
  }
  bindLangSelect(byTestId('lang-select'));
  applyTranslations(document);
  onLangChange(() => {
    applyTranslations(document);
    render();
  });
  byTestId('rec-search-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    search(false);
  });
  byTestId('rec-more').addEventListener('click', () => search(true));
  document.documentElement.classList.add('ready');
  search(false);
}

init();
