// /admin/catalog (issue 14): the product catalogue (categories, models) and the
// fault taxonomy tree (class > phenomenon > likely cause with its remedy),
// added, edited and deactivated by an administrator.
//
// Every save is one request (POST or PATCH /api/v1/catalog/<kind>[/<code>]):
// the server checks it, stores it with its audit row in one transaction, or
// answers 422 naming the field, shown next to that field; nothing here decides
// what is valid. Codes are given once and never change (tickets and reports
// keep them); a label can be renamed freely. Nothing is deleted: deactivate.
// Everybody may read the catalogue (the desk's pickers use it), so the page
// asks who is signed in and shows other roles the administration pages'
// "only an administrator" notice. All server text goes in with textContent.

import { ApiError, apiRequest, getToken, goToLogin } from '/static/api.js';
import { el, isObj, str } from '/static/dom.js';
import { errorText, showNotice } from '/static/pagekit.js';
import { applyTranslations, bindLangSelect, getLang, onLangChange, t } from '/static/i18n.js';

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const PARENT = { models: 'category_code', 'fault-classes': 'category_code', 'fault-phenomena': 'class_code',
  'fault-causes': 'phenomenon_code' };
const FIXED_PARENT = new Set(['fault-phenomena', 'fault-causes']); // they stay where they were created
const TEXTS = { 'fault-causes': ['remedy_zh', 'remedy_en'] };

const state = {
  products: { categories: [], models: [] },
  classes: [],
  editing: null, // {kind, code (null: new), values: {field: text}, errors: {field: message}, busy}
  status: '',
};

const zh = () => getLang().startsWith('zh');
const name = (row) => str(zh() ? row.name_zh : row.name_en) || str(row.code);

function notice(text) {
  showNotice($('cat-notice'), text);
}


async function load() {
  const [products, faults] = await Promise.all([
    apiRequest('/api/v1/catalog/products', { method: 'GET' }),
    apiRequest('/api/v1/catalog/faults', { method: 'GET' }),
  ]);
  state.products = isObj(products) ? products : { categories: [], models: [] };
  state.classes = isObj(faults) && Array.isArray(faults.classes) ? faults.classes : [];
}

// ---- the form -------------------------------------------------------------------

function fieldsOf(kind) {
  const out = ['code'];
  if (PARENT[kind]) out.push(PARENT[kind]);
  out.push('name_zh', 'name_en', ...(TEXTS[kind] || []), 'sort');
  return out;
}

function startEdit(kind, row, parent) {
  const values = {};
  for (const f of fieldsOf(kind)) values[f] = row ? str(row[f]) : '';
  if (!row && parent) values[PARENT[kind]] = parent;
  state.editing = { kind, code: row ? str(row.code) : null, values, errors: {}, busy: false };
  state.status = '';
  render();
  const first = document.querySelector('[data-testid="cat-form"] input:not([disabled]), [data-testid="cat-form"] select');
  if (first) first.focus();
}

function parentOptions(kind) {
  if (kind === 'fault-classes') {
    return [['', t('cat.all_products')], ...state.products.categories.map((c) => [str(c.code), name(c)])];
  }
  if (kind === 'models') return [['', '—'], ...state.products.categories.map((c) => [str(c.code), name(c)])];
  return null; // phenomena and causes: fixed to their parent
}

function control(kind, field, ed) {
  const creating = ed.code === null;
  let node;
  const options = field === PARENT[kind] ? parentOptions(kind) : null;
  if (options) {
    node = el('select', {}, ...options.map(([v, l]) => el('option', { attrs: { value: v }, text: l })));
  } else if (field.startsWith('remedy_')) {
    node = el('textarea', { attrs: { rows: 2, maxlength: 4000 } });
  } else {
    node = el('input', { attrs: { type: field === 'sort' ? 'number' : 'text', maxlength: field === 'code' ? 80 : 200,
      autocomplete: 'off' } });
  }
  node.value = ed.values[field];
  node.setAttribute('data-testid', 'cat-field');
  node.setAttribute('data-field', field);
  node.disabled = ed.busy || (field === 'code' && !creating) || (field === PARENT[kind] && FIXED_PARENT.has(kind));
  node.addEventListener('input', () => { ed.values[field] = node.value; });
  node.addEventListener('change', () => { ed.values[field] = node.value; });
  if (ed.errors[field]) node.setAttribute('aria-invalid', 'true');
  const box = el('label', { className: field.startsWith('remedy_') ? 'cat-wide' : '' },
    el('span', { text: t(`cat.field.${field}`) }), node);
  if (ed.errors[field]) {
    box.appendChild(el('span', { className: 'cat-error', testid: 'cat-error', attrs: { 'data-field': field, role: 'alert' },
      text: ed.errors[field] }));
  }
  return box;
}

function buildForm() {
  const ed = state.editing;
  const form = el('form', { className: 'cat-form', testid: 'cat-form', attrs: { 'data-kind': ed.kind, novalidate: '' } },
    ...fieldsOf(ed.kind).map((f) => control(ed.kind, f, ed)));
  const other = Object.entries(ed.errors).filter(([f]) => !fieldsOf(ed.kind).includes(f));
  for (const [field, message] of other) {
    form.appendChild(el('p', { className: 'cat-error cat-wide', testid: 'cat-error', attrs: { 'data-field': field },
      text: field === '_' ? message : `${field}: ${message}` }));
  }
  const save = el('button', { className: 'ad-primary', testid: 'cat-save', text: t('cat.save'), attrs: { type: 'submit' } });
  const cancel = el('button', { testid: 'cat-cancel', text: t('cat.cancel'), attrs: { type: 'button' } });
  save.disabled = ed.busy;
  cancel.addEventListener('click', () => { state.editing = null; render(); });
  form.appendChild(el('div', { className: 'ad-actions' }, save, cancel));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); submit(); });
  return form;
}

function bodyOf(ed) {
  const body = {};
  for (const field of fieldsOf(ed.kind)) {
    const value = ed.values[field];
    if (ed.code !== null && (field === 'code' || (field === PARENT[ed.kind] && FIXED_PARENT.has(ed.kind)))) continue;
    if (field === 'sort') {
      if (str(value) !== '') body.sort = /^\d+$/.test(str(value)) ? Number(value) : value;
      continue;
    }
    body[field] = field === PARENT[ed.kind] && str(value) === '' ? null : value;
  }
  return body;
}

async function submit() {
  const ed = state.editing;
  if (!ed || ed.busy) return;
  ed.busy = true;
  ed.errors = {};
  render();
  const path = ed.code === null ? `/api/v1/catalog/${ed.kind}`
    : `/api/v1/catalog/${ed.kind}/${encodeURIComponent(ed.code)}`;
  try {
    const saved = await apiRequest(path, { method: ed.code === null ? 'POST' : 'PATCH', body: bodyOf(ed), lang: getLang() });
    state.editing = null;
    state.status = t('cat.saved', { code: str(saved && saved.item && saved.item.code) });
    await load();
  } catch (e) {
    ed.busy = false;
    if (e instanceof ApiError && e.status === 422 && Array.isArray(e.detail)) {
      for (const item of e.detail.filter(isObj)) {
        const loc = Array.isArray(item.loc) ? item.loc : [];
        const field = str(loc[loc.length - 1]) || '_';
        if (!ed.errors[field]) ed.errors[field] = str(item.msg);
      }
    } else {
      ed.errors._ = errorText(e);
    }
  }
  render();
}

async function toggle(kind, row) {
  state.status = '';
  try {
    await apiRequest(`/api/v1/catalog/${kind}/${encodeURIComponent(str(row.code))}`,
      { method: 'PATCH', body: { active: !row.active }, lang: getLang() });
    state.status = t(row.active ? 'cat.deactivated' : 'cat.activated', { code: str(row.code) });
    await load();
  } catch (e) {
    notice(errorText(e));
  }
  render();
}

// ---- the lists ------------------------------------------------------------------

function small(key, onClick, testid, kind) {
  const b = el('button', { className: 'cat-small', testid, text: t(key), attrs: { type: 'button', 'data-kind': kind } });
  b.addEventListener('click', onClick);
  return b;
}

function rowActions(kind, row) {
  return [small('cat.edit', () => startEdit(kind, row), 'cat-edit', kind),
    small(row.active ? 'cat.deactivate' : 'cat.activate', () => toggle(kind, row), 'cat-toggle', kind)];
}

const editingRow = (kind, code) => state.editing && state.editing.kind === kind && state.editing.code === code;
const addingUnder = (kind, parent) => state.editing && state.editing.kind === kind && state.editing.code === null
  && str(state.editing.values[PARENT[kind]] || '') === str(parent || '');

function productTable(kind, rows, columns) {
  const body = el('tbody');
  for (const row of rows) {
    body.appendChild(el('tr', { testid: 'cat-row', className: row.active ? '' : 'cat-inactive',
      attrs: { 'data-kind': kind, 'data-code': str(row.code), 'data-active': String(Boolean(row.active)) } },
      ...columns.map((c) => el('td', { text: c(row) })), el('td', {}, ...rowActions(kind, row))));
    if (editingRow(kind, str(row.code))) {
      body.appendChild(el('tr', {}, el('td', { attrs: { colspan: columns.length + 1 } }, buildForm())));
    }
  }
  return el('table', { className: 'ad-table' }, body);
}

function buildProducts() {
  const categoryName = (code) => {
    const c = state.products.categories.find((x) => str(x.code) === str(code));
    return c ? name(c) : str(code);
  };
  const active = (r) => (r.active ? t('cat.active') : t('cat.inactive'));
  const section = el('section', { className: 'ad-section', testid: 'cat-products' },
    el('h2', { text: t('cat.products') }),
    el('h3', { text: t('cat.categories') }),
    productTable('categories', state.products.categories, [(r) => str(r.code), (r) => str(r.name_zh),
      (r) => str(r.name_en), active]),
    small('cat.add_category', () => startEdit('categories', null), 'cat-add', 'categories'));
  if (addingUnder('categories', '')) section.appendChild(buildForm());
  section.append(el('h3', { text: t('cat.models') }),
    productTable('models', state.products.models, [(r) => str(r.code), (r) => categoryName(r.category_code),
      (r) => str(r.name_zh), (r) => str(r.name_en), active]),
    small('cat.add_model', () => startEdit('models', null), 'cat-add', 'models'));
  if (state.editing && state.editing.kind === 'models' && state.editing.code === null) section.appendChild(buildForm());
  return section;
}

function node(kind, row, extra, children, addKind, addKey) {
  const line = el('div', { className: 'cat-line' },
    el('span', { className: 'cat-code', text: str(row.code) }),
    el('span', { className: 'cat-name', testid: 'cat-name', text: name(row) }),
    ...extra,
    row.active ? null : el('span', { className: 'cat-chip', text: t('cat.inactive') }),
    ...rowActions(kind, row),
    addKind ? small(addKey, () => startEdit(addKind, null, str(row.code)), 'cat-add', addKind) : null);
  const li = el('li', { className: `cat-node${row.active ? '' : ' cat-inactive'}`, testid: 'cat-row',
    attrs: { 'data-kind': kind, 'data-code': str(row.code), 'data-active': String(Boolean(row.active)) } }, line);
  if (editingRow(kind, str(row.code))) li.appendChild(buildForm());
  if (addKind && addingUnder(addKind, str(row.code))) li.appendChild(buildForm());
  if (children.length) li.appendChild(el('ul', { className: 'cat-tree' }, ...children));
  return li;
}

function buildFaults() {
  const categoryName = (code) => {
    const c = state.products.categories.find((x) => str(x.code) === str(code));
    return code ? (c ? name(c) : str(code)) : t('cat.all_products');
  };
  const classes = state.classes.map((c) => node('fault-classes', c,
    [el('span', { className: 'cat-chip', text: categoryName(c.category_code) })],
    (c.phenomena || []).map((p) => node('fault-phenomena', p, [],
      (p.causes || []).map((cause) => node('fault-causes', cause,
        [el('span', { className: 'cat-remedy', text: `→ ${str(zh() ? cause.remedy_zh : cause.remedy_en)}` })], [], null, null)),
      'fault-causes', 'cat.add_cause')),
    'fault-phenomena', 'cat.add_phenomenon'));
  const section = el('section', { className: 'ad-section', testid: 'cat-faults' },
    el('h2', { text: t('cat.faults') }), el('p', { className: 'ad-meta', text: t('cat.faults_hint') }),
    el('ul', { className: 'cat-tree', testid: 'cat-tree' }, ...classes),
    small('cat.add_class', () => startEdit('fault-classes', null), 'cat-add', 'fault-classes'));
  if (state.editing && state.editing.kind === 'fault-classes' && state.editing.code === null) {
    section.appendChild(buildForm());
  }
  return section;
}

function render() {
  const main = $('cat-main');
  if (main.dataset.forbidden) return;
  const status = el('p', { className: 'ad-status', testid: 'cat-status', attrs: { role: 'status' }, text: state.status });
  main.replaceChildren(status, buildProducts(), buildFaults());
}

async function init() {
  if (!getToken()) { goToLogin(); return; }
  bindLangSelect($('cat-lang'));
  applyTranslations();
  onLangChange(() => { applyTranslations(); render(); });
  try {
    const me = await apiRequest('/api/v1/auth/me', { method: 'GET' });
    if (!isObj(me) || me.role !== 'admin') {
      $('cat-main').dataset.forbidden = '1';
      notice(t('ad.forbidden'));
      return;
    }
    await load();
  } catch (e) {
    notice(errorText(e));
    return;
  }
  render();
  document.documentElement.classList.add('ready');
}

init();
