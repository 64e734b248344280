// Knowledge-base lookup in the desk (issue 14): a search box, its results,
// the articles the screen pop suggests for the call, one article open, and
// "attach to ticket" for the caller's open tickets from the pop.
//
// Its own section (data-testid="kb" in desk.html); desk.js passes every
// socket message on as a 'ctidesk:ws' DOM event. GET /api/v1/kb/search,
// GET /api/v1/kb/articles/{id}, POST /api/v1/tickets/{id}/articles.
//
// SECURITY: titles, snippets and bodies are written by people (and a
// customer's words may be pasted into them): textContent only. The body is
// shown as its Markdown text (white-space: pre-wrap), never as HTML.
import { onLangChange, t } from '/static/i18n.js';
import { ApiError, apiRequest } from '/static/api.js';
import { el, isObj, str } from '/static/dom.js';

const state = {
  query: '',
  results: null, // [{id, title, snippet}] of the last search, null before one
  suggestions: [], // [{id, title}] from the last screen pop
  tickets: [], // [{id, type, description}] the caller's open tickets (from the pop)
  article: null, // the open article
  ticketId: '',
  busy: false,
  status: null, // {key, params, error}
};

const root = () => document.querySelector('[data-testid="kb"]');

function onMessage(msg) {
  if (!isObj(msg) || msg.type !== 'screen_pop') return;
  state.suggestions = Array.isArray(msg.kb_suggestions) ? msg.kb_suggestions.filter(isObj).slice(0, 5) : [];
  state.tickets = Array.isArray(msg.open_tickets) ? msg.open_tickets.filter(isObj) : [];
  state.ticketId = state.tickets.length ? String(state.tickets[0].id) : '';
  render();
}

function failure(e) {
  const detail = e instanceof ApiError
    ? (typeof e.detail === 'string' ? e.detail
      : Array.isArray(e.detail) && isObj(e.detail[0]) ? str(e.detail[0].msg) : '') : '';
  return { status: e.status || 0, detail };
}

async function search() {
  const q = str(state.query);
  if (!q || state.busy) return;
  state.busy = true;
  state.status = { key: 'kb.searching' };
  render();
  try {
    const body = await apiRequest(`/api/v1/kb/search?${new URLSearchParams({ q, limit: '10' })}`, { method: 'GET' });
    state.results = isObj(body) && Array.isArray(body.items) ? body.items.filter(isObj) : [];
    state.status = state.results.length ? null : { key: 'kb.none' };
  } catch (e) {
    state.results = [];
    state.status = { key: 'kb.failed', params: failure(e), error: true };
  } finally {
    state.busy = false;
    render();
  }
}

async function open(id) {
  try {
    state.article = await apiRequest(`/api/v1/kb/articles/${encodeURIComponent(id)}`, { method: 'GET' });
    state.status = null;
  } catch (e) {
    state.status = { key: 'kb.failed', params: failure(e), error: true };
  }
  render();
}

async function attach() {
  if (!state.article || !state.ticketId || state.busy) return;
  state.busy = true;
  render();
  try {
    await apiRequest(`/api/v1/tickets/${encodeURIComponent(state.ticketId)}/articles`,
      { method: 'POST', body: { article_id: state.article.id } });
    state.status = { key: 'kb.attached', params: { ticket: state.ticketId } };
  } catch (e) {
    state.status = { key: 'kb.attach_failed', params: failure(e), error: true };
  } finally {
    state.busy = false;
    render();
  }
}

function articleList(items, testid) {
  const list = el('ul', { className: 'kb-list', testid });
  for (const item of items) {
    const link = el('button', { className: 'kb-link', testid: 'kb-item', text: str(item.title),
      attrs: { type: 'button', 'data-id': String(item.id) } });
    link.addEventListener('click', () => open(item.id));
    const li = el('li', {}, link);
    if (str(item.snippet)) li.appendChild(el('p', { className: 'kb-snippet', text: str(item.snippet) }));
    list.appendChild(li);
  }
  return list;
}

function buildArticle(a) {
  const close = el('button', { className: 'btn btn-light', testid: 'kb-close', text: t('kb.close'),
    attrs: { type: 'button' } });
  close.addEventListener('click', () => { state.article = null; render(); });
  const box = el('article', { className: 'kb-article', testid: 'kb-article' },
    el('h3', { testid: 'kb-article-title', text: str(a.title) }),
    el('div', { className: 'kb-body', testid: 'kb-article-body', text: typeof a.body === 'string' ? a.body : '' }));
  const actions = el('div', { className: 'kb-actions' }, close);
  if (state.tickets.length) {
    const pick = el('select', { className: 'select select-light', testid: 'kb-ticket' },
      ...state.tickets.map((tk) => el('option', { attrs: { value: String(tk.id) },
        text: t('kb.ticket_option', { id: String(tk.id), type: str(tk.type), description: str(tk.description) }) })));
    pick.value = state.ticketId;
    pick.addEventListener('change', () => { state.ticketId = pick.value; });
    const go = el('button', { className: 'btn btn-primary', testid: 'kb-attach', text: t('kb.attach'),
      attrs: { type: 'button' } });
    go.disabled = state.busy;
    go.addEventListener('click', attach);
    actions.append(pick, go);
  }
  box.appendChild(actions);
  return box;
}

function render() {
  const section = root();
  if (!section) return;
  section.hidden = false;
  section.replaceChildren();
  section.appendChild(el('h2', { className: 'kb-title', text: t('kb.title') }));
  const input = el('input', { className: 'input', testid: 'kb-query',
    attrs: { type: 'search', maxlength: 200, autocomplete: 'off', placeholder: t('kb.placeholder') } });
  input.value = state.query;
  input.addEventListener('input', () => { state.query = input.value; });
  input.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') search(); });
  const go = el('button', { className: 'btn btn-light', testid: 'kb-search', text: t('kb.search'),
    attrs: { type: 'button' } });
  go.disabled = state.busy;
  go.addEventListener('click', search);
  section.appendChild(el('div', { className: 'kb-form' }, input, go));
  if (state.suggestions.length) {
    section.appendChild(el('h3', { className: 'kb-sub', text: t('kb.suggested') }));
    section.appendChild(articleList(state.suggestions, 'kb-suggestions'));
  }
  if (state.results && state.results.length) section.appendChild(articleList(state.results, 'kb-results'));
  if (state.article) section.appendChild(buildArticle(state.article));
  if (state.status) {
    section.appendChild(el('p', { className: state.status.error ? 'kb-status kb-error' : 'kb-status',
      testid: 'kb-status', text: t(state.status.key, state.status.params), attrs: { role: 'status' } }));
  }
  // keep typing where it was after a re-render caused by the socket
  if (document.activeElement === document.body && state.query) input.focus();
}

document.addEventListener('ctidesk:ws', (ev) => onMessage(ev.detail));
document.addEventListener('DOMContentLoaded', render);
onLangChange(render);
