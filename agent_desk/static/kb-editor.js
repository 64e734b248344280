// /kb/editor (issue 14): admins and experts list, write, preview, publish and
// read the history of knowledge-base articles, on the existing API
// (/api/v1/kb/articles[/{id}[/publish|/unpublish|/versions]], /api/v1/kb/preview).
//
// Saves carry the version the editor opened; somebody else's save in between is
// a 409, shown as such with two ways on: load their version, or save this text
// over it (knowingly). The text being typed is never thrown away by an error.
//
// SECURITY: article text is written by people. Everything goes in with
// textContent, except the preview: the server's own rendering (markdown-it with
// raw HTML off, links on an allow-list) shown in an <iframe sandbox> (no
// scripts, an opaque origin) through srcdoc, never inserted into this page.

import { ApiError, apiRequest, getToken, goToLogin } from '/static/api.js';
import { el, isObj, str } from '/static/dom.js';
import { errorText, showNotice } from '/static/pagekit.js';
import { applyTranslations, bindLangSelect, fmtDateTime, getLang, onLangChange, t, tv } from '/static/i18n.js';
import { modelsListId } from '/static/catalog-desk.js';

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const EDITORS = ['admin', 'expert'];
const TICKET_TYPES = ['repair', 'install', 'complaint', 'consultation', 'suggestion', 'callback'];
const SCRIPT_LANGS = ['zh-CN', 'en'];
const LISTS = ['products', 'fault_codes', 'tags'];

const state = {
  articles: [],
  article: null, // as last read or saved (null: a new one)
  form: { title: '', body: '', products: '', fault_codes: '', tags: '' },
  errors: {},
  conflict: null, // the 409's text
  status: '',
  busy: false,
  preview: null, // HTML from the server, or null
  versions: null, // [] once asked for
  shown: null, // the version whose text is shown
  // answer scripts (话术): one per ticket type and language, edited below the article
  scripts: new Map(), // "type|lang" -> script as stored
  script: { type: 'repair', lang: 'zh-CN', opening: '', questions: '', closing: '', errors: {}, status: '', busy: false },
};

function notice(text) {
  showNotice($('kbe-notice'), text);
}


const listText = (values) => (Array.isArray(values) ? values.join(', ') : '');
const listOf = (text) => String(text).split(',').map((s) => s.trim()).filter(Boolean);

function fill(article) {
  state.article = article;
  state.form = article
    ? { title: str(article.title), body: typeof article.body === 'string' ? article.body : '',
      products: listText(article.products), fault_codes: listText(article.fault_codes), tags: listText(article.tags) }
    : { title: '', body: '', products: '', fault_codes: '', tags: '' };
  state.errors = {};
  state.conflict = null;
  state.preview = null;
  state.versions = null;
  state.shown = null;
}

async function loadList() {
  const rows = await apiRequest('/api/v1/kb/articles?limit=200', { method: 'GET' });
  state.articles = Array.isArray(rows) ? rows.filter(isObj) : [];
}

async function open(id) {
  try {
    fill(await apiRequest(`/api/v1/kb/articles/${encodeURIComponent(id)}`, { method: 'GET' }));
    state.status = '';
  } catch (e) {
    state.status = errorText(e);
  }
  render();
}

function absorb(e) {
  if (e instanceof ApiError && e.status === 409) {
    state.conflict = errorText(e);
  } else if (e instanceof ApiError && e.status === 422 && Array.isArray(e.detail)) {
    for (const item of e.detail.filter(isObj)) {
      const loc = Array.isArray(item.loc) ? item.loc : [];
      const field = str(loc[loc.length - 1]) || '_';
      if (!state.errors[field]) state.errors[field] = str(item.msg);
    }
  } else {
    state.errors._ = errorText(e);
  }
}

async function run(work) {
  if (state.busy) return;
  state.busy = true;
  state.errors = {};
  state.status = '';
  render();
  try {
    await work();
  } catch (e) {
    absorb(e);
  } finally {
    state.busy = false;
    render();
  }
}

function save(overVersion = null) {
  return run(async () => {
    const body = { title: state.form.title, body: state.form.body };
    for (const f of LISTS) body[f] = listOf(state.form[f]);
    let saved;
    if (state.article) {
      body.version = overVersion || state.article.version;
      saved = await apiRequest(`/api/v1/kb/articles/${state.article.id}`, { method: 'PUT', body, lang: getLang() });
    } else {
      saved = await apiRequest('/api/v1/kb/articles', { method: 'POST', body, lang: getLang() });
    }
    state.article = saved;
    state.conflict = null;
    state.versions = null;
    state.status = t('kbe.saved', { version: saved.version });
    await loadList();
  });
}

function setState(action) {
  return run(async () => {
    const saved = await apiRequest(`/api/v1/kb/articles/${state.article.id}/${action}`,
      { method: 'POST', body: { version: state.article.version }, lang: getLang() });
    state.article = saved;
    state.conflict = null;
    state.versions = null;
    state.status = t(action === 'publish' ? 'kbe.published' : 'kbe.unpublished', { version: saved.version });
    await loadList();
  });
}

function preview() {
  return run(async () => {
    const r = await apiRequest('/api/v1/kb/preview', { method: 'POST', body: { body: state.form.body } });
    state.preview = isObj(r) ? str(r.html) : '';
  });
}

function history() {
  return run(async () => {
    const rows = await apiRequest(`/api/v1/kb/articles/${state.article.id}/versions`, { method: 'GET' });
    state.versions = Array.isArray(rows) ? rows.filter(isObj) : [];
  });
}

async function loadTheirs() {
  const id = state.article.id;
  await open(id);
  state.status = t('kbe.reloaded');
  render();
}

async function overwrite() {
  try {
    const theirs = await apiRequest(`/api/v1/kb/articles/${state.article.id}`, { method: 'GET' });
    await save(theirs.version);
  } catch (e) {
    absorb(e);
    render();
  }
}

// ---- answer scripts -----------------------------------------------------------------

async function loadScripts() {
  const body = await apiRequest('/api/v1/kb/scripts', { method: 'GET' });
  state.scripts = new Map((isObj(body) && Array.isArray(body.items) ? body.items.filter(isObj) : [])
    .map((s) => [`${s.ticket_type}|${s.lang}`, s]));
}

function pickScript(type, lang) {
  const found = state.scripts.get(`${type}|${lang}`);
  Object.assign(state.script, { type, lang, opening: found ? str(found.opening) : '',
    questions: found && Array.isArray(found.questions) ? found.questions.join('\n') : '',
    closing: found ? str(found.closing) : '', errors: {}, status: '' });
}

async function saveScript() {
  const sc = state.script;
  if (sc.busy) return;
  sc.busy = true;
  sc.errors = {};
  sc.status = '';
  render();
  const found = state.scripts.get(`${sc.type}|${sc.lang}`);
  const body = { opening: sc.opening, closing: sc.closing,
    questions: sc.questions.split('\n').map((q) => q.trim()).filter(Boolean) };
  if (found) body.version = found.version;
  try {
    const saved = await apiRequest(`/api/v1/kb/scripts/${encodeURIComponent(sc.type)}/${encodeURIComponent(sc.lang)}`,
      { method: 'PUT', body, lang: getLang() });
    state.scripts.set(`${sc.type}|${sc.lang}`, saved);
    sc.status = t('kbe.saved', { version: saved.version });
  } catch (e) {
    if (e instanceof ApiError && e.status === 422 && Array.isArray(e.detail)) {
      for (const item of e.detail.filter(isObj)) {
        const loc = Array.isArray(item.loc) ? item.loc : [];
        const f = str(loc[loc.length - 1]).replace(/\[\d+\]$/, '') || '_';
        if (!sc.errors[f]) sc.errors[f] = str(item.msg);
      }
    } else {
      sc.errors._ = errorText(e);
    }
  } finally {
    sc.busy = false;
    render();
  }
}

function buildScripts() {
  const sc = state.script;
  const pick = (testid, options, value, onChange) => {
    const node = el('select', { testid }, ...options.map(([v, l]) => el('option', { attrs: { value: v }, text: l })));
    node.value = value;
    node.addEventListener('change', () => { onChange(node.value); render(); });
    return node;
  };
  const text = (name, rows) => {
    const node = el('textarea', { testid: `kbs-${name}`, attrs: { rows, maxlength: 4000 } });
    node.value = sc[name];
    node.disabled = sc.busy;
    node.addEventListener('input', () => { sc[name] = node.value; });
    const box = el('label', {}, el('span', { text: t(`kbs.${name}`) }), node);
    if (sc.errors[name]) {
      box.appendChild(el('span', { className: 'kbe-error', testid: 'kbs-error', attrs: { 'data-field': name, role: 'alert' },
        text: sc.errors[name] }));
    }
    return box;
  };
  const found = state.scripts.get(`${sc.type}|${sc.lang}`);
  const save = el('button', { className: 'ad-primary', testid: 'kbs-save', text: t('kbe.save'), attrs: { type: 'button' } });
  save.disabled = sc.busy;
  save.addEventListener('click', saveScript);
  const section = el('section', { className: 'ad-section kbe-scripts', testid: 'kbe-scripts' },
    el('h2', { text: t('kbs.title') }),
    el('div', { className: 'ad-actions' },
      pick('kbs-type', TICKET_TYPES.map((v) => [v, tv('ticket.type', v)]), sc.type, (v) => pickScript(v, sc.lang)),
      pick('kbs-lang', SCRIPT_LANGS.map((v) => [v, v]), sc.lang, (v) => pickScript(sc.type, v)),
      el('span', { className: 'kbe-chip', text: found ? t('kbe.version', { version: found.version }) : t('kbs.new') })),
    el('div', { className: 'kbe-form' }, text('opening', 2), text('questions', 4), text('closing', 2)));
  if (sc.errors._) section.appendChild(el('p', { className: 'kbe-error', testid: 'kbs-error', text: sc.errors._ }));
  section.append(el('div', { className: 'ad-actions' }, save,
    el('span', { className: 'ad-status', testid: 'kbs-status', attrs: { role: 'status' }, text: sc.status })));
  return section;
}

// ---- building the page ------------------------------------------------------------

function buildList() {
  const add = el('button', { className: 'ad-primary', testid: 'kbe-new', text: t('kbe.new'), attrs: { type: 'button' } });
  add.addEventListener('click', () => { fill(null); state.status = ''; render(); });
  const items = state.articles.map((a) => {
    const b = el('button', { text: str(a.title), attrs: { type: 'button' } });
    b.addEventListener('click', () => open(a.id));
    return el('li', { testid: 'kbe-item', attrs: { 'data-id': String(a.id),
      'aria-current': state.article && state.article.id === a.id ? 'true' : 'false' } },
    b, el('span', { className: 'kbe-chip', attrs: { 'data-state': str(a.state) }, text: tv('kbe.state', str(a.state)) }));
  });
  return el('section', { className: 'ad-section' }, el('h2', { text: t('kbe.articles') }), add,
    el('ul', { className: 'kbe-list', testid: 'kbe-list' }, ...items));
}

function field(name, node, labelKey) {
  node.setAttribute('data-testid', `kbe-${name}`);
  node.value = state.form[name];
  node.disabled = state.busy;
  node.addEventListener('input', () => { state.form[name] = node.value; });
  const box = el('label', {}, el('span', { text: t(labelKey) }), node);
  if (state.errors[name]) {
    node.setAttribute('aria-invalid', 'true');
    box.appendChild(el('span', { className: 'kbe-error', testid: 'kbe-error', attrs: { 'data-field': name, role: 'alert' },
      text: state.errors[name] }));
  }
  return box;
}

function button(key, testid, onClick, primary = false) {
  const b = el('button', { className: primary ? 'ad-primary' : '', testid, text: t(key), attrs: { type: 'button' } });
  b.disabled = state.busy;
  b.addEventListener('click', onClick);
  return b;
}

function buildEditor() {
  const a = state.article;
  const head = el('h2', { text: a ? t('kbe.editing', { id: a.id }) : t('kbe.new') });
  if (a) {
    head.append(el('span', { className: 'kbe-chip', testid: 'kbe-state', attrs: { 'data-state': str(a.state) },
      text: tv('kbe.state', str(a.state)) }),
    el('span', { className: 'kbe-chip', testid: 'kbe-version', text: t('kbe.version', { version: a.version }) }));
  }
  const products = el('input', { attrs: { type: 'text', maxlength: 2000, list: modelsListId(), autocomplete: 'off' } });
  const form = el('div', { className: 'kbe-form' },
    field('title', el('input', { attrs: { type: 'text', maxlength: 200 } }), 'kbe.field.title'),
    el('div', { className: 'kbe-cols' },
      field('products', products, 'kbe.field.products'),
      field('fault_codes', el('input', { attrs: { type: 'text', maxlength: 2000 } }), 'kbe.field.fault_codes')),
    field('tags', el('input', { attrs: { type: 'text', maxlength: 2000 } }), 'kbe.field.tags'),
    el('div', { className: 'kbe-cols' },
      field('body', el('textarea', { attrs: { maxlength: 100000 } }), 'kbe.field.body'),
      el('div', {}, el('span', { text: t('kbe.preview') }), buildPreview())));
  const actions = el('div', { className: 'ad-actions' }, button('kbe.save', 'kbe-save', () => save(), true),
    button('kbe.show_preview', 'kbe-preview-btn', preview));
  if (a) {
    actions.append(a.state === 'published' ? button('kbe.unpublish', 'kbe-unpublish', () => setState('unpublish'))
      : button('kbe.publish', 'kbe-publish', () => setState('publish')),
    button('kbe.history', 'kbe-history-btn', history));
  }
  const section = el('section', { className: 'ad-section', testid: 'kbe-editor' }, head);
  if (state.conflict) {
    const box = el('div', { className: 'kbe-conflict', testid: 'kbe-conflict', attrs: { role: 'alert' } },
      el('strong', { text: t('kbe.conflict') }), el('p', { text: state.conflict }),
      button('kbe.load_theirs', 'kbe-reload', loadTheirs), ' ', button('kbe.overwrite', 'kbe-overwrite', overwrite));
    section.appendChild(box);
  }
  section.appendChild(form);
  const other = Object.entries(state.errors).filter(([f]) => !['title', 'body', ...LISTS].includes(f));
  for (const [f, message] of other) {
    section.appendChild(el('p', { className: 'kbe-error', testid: 'kbe-error', attrs: { 'data-field': f },
      text: f === '_' ? message : `${f}: ${message}` }));
  }
  section.append(actions, el('p', { className: 'ad-status', testid: 'kbe-status', attrs: { role: 'status' },
    text: state.status }));
  if (state.versions) section.appendChild(buildVersions());
  return section;
}

function buildPreview() {
  // sandbox="" : no scripts, no forms, no same-origin; srcdoc is the server's rendering only.
  const frame = el('iframe', { className: 'kbe-preview', testid: 'kbe-preview',
    attrs: { sandbox: '', title: t('kbe.preview'), referrerpolicy: 'no-referrer' } });
  frame.srcdoc = state.preview === null ? '' : `<!doctype html><meta charset="utf-8"><body>${state.preview}</body>`;
  return frame;
}

function buildVersions() {
  const items = state.versions.map((v) => {
    const b = el('button', { className: 'cat-small', text: t('kbe.show'), attrs: { type: 'button' } });
    b.addEventListener('click', () => { state.shown = v; render(); });
    return el('li', { testid: 'kbe-version-row', attrs: { 'data-version': String(v.version) } },
      el('span', { text: t('kbe.version_line', { version: v.version, editor: str(v.editor),
        when: fmtDateTime(v.saved_at), state: tv('kbe.state', str(v.state)) }) }), ' ', b);
  });
  const box = el('div', { testid: 'kbe-versions' }, el('h3', { text: t('kbe.history') }),
    el('ul', { className: 'kbe-versions' }, ...items));
  if (state.shown) {
    box.append(el('h3', { text: `${t('kbe.version', { version: state.shown.version })}: ${str(state.shown.title)}` }),
      el('div', { className: 'kbe-version-body', testid: 'kbe-version-body', text: str(state.shown.body) }));
  }
  return box;
}

function render() {
  const main = $('kbe-main');
  if (main.dataset.forbidden) return;
  main.replaceChildren(buildList(), el('div', {}, buildEditor(), buildScripts()));
}

async function init() {
  if (!getToken()) { goToLogin(); return; }
  bindLangSelect($('kbe-lang'));
  applyTranslations();
  onLangChange(() => { applyTranslations(); render(); });
  try {
    const me = await apiRequest('/api/v1/auth/me', { method: 'GET' });
    if (!isObj(me) || !EDITORS.includes(me.role)) {
      $('kbe-main').dataset.forbidden = '1';
      notice(t('kbe.forbidden'));
      return;
    }
    await Promise.all([loadList(), loadScripts()]);
    pickScript(state.script.type, getLang());
  } catch (e) {
    notice(errorText(e));
    return;
  }
  render();
  document.documentElement.classList.add('ready');
}

init();
