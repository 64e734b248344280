// Administration: base data edited in the browser (issue 14).
//
// One page, one view per kind (#sites, #sla, #pause, #calendar, #ivr). SLA
// levels, pause reasons, the calendar and the IVR menu are versioned documents
// (/api/v1/basedata/<kind>): the page edits a copy of the document in force and
// saves it whole on the version it started from. The server checks it with the
// same rules as the TOML files; every problem comes back with its path and is
// shown next to the field (or the IVR node) it is about. Nothing here decides
// what is valid. Sites and technicians use their own API (/api/v1/sites,
// /api/v1/technicians). All text from the server goes in with textContent.

import { ApiError, apiRequest, getToken, goToLogin } from '/static/api.js';
import { el, isObj, str } from '/static/dom.js';
import { errorText, showNotice } from '/static/pagekit.js';
import { applyTranslations, bindLangSelect, fmtDateTime, onLangChange, t } from '/static/i18n.js';

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const KIND = { sla: 'sla', pause: 'pause_reasons', calendar: 'calendar', ivr: 'ivr' };
const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const NODE_TYPES = ['play', 'menu', 'hours', 'queue', 'lookup', 'voicemail', 'transfer', 'hangup'];

const state = { view: 'sites', doc: null, body: null };

// ---- small helpers -----------------------------------------------------------

function notice(text) {
  showNotice($('ad-notice'), text);
}


function input(value, path, opts = {}) {
  const node = el('input', {
    className: opts.className, testid: opts.testid,
    attrs: { type: opts.type || 'text', 'data-path': path, placeholder: opts.placeholder, size: opts.size },
  });
  node.value = value === undefined || value === null ? '' : String(value);
  if (opts.onInput) node.addEventListener('input', () => opts.onInput(node.value));
  return node;
}

function select(options, value, path, onChange, testid) {
  const node = el('select', { testid, attrs: { 'data-path': path } });
  const values = options.slice();
  if (value && !values.some((o) => (Array.isArray(o) ? o[0] : o) === value)) values.push(value);
  for (const o of values) {
    const [v, label] = Array.isArray(o) ? o : [o, o === '' ? '—' : o];
    node.appendChild(el('option', { text: label, attrs: { value: v } }));
  }
  node.value = value || '';
  node.addEventListener('change', () => onChange(node.value));
  return node;
}

function button(textKey, onClick, opts = {}) {
  const b = el('button', { text: t(textKey), testid: opts.testid, className: opts.className, attrs: { type: 'button' } });
  b.addEventListener('click', onClick);
  return b;
}

function clone(v) {
  return JSON.parse(JSON.stringify(v));
}

/** A typed list: commas (also the Chinese ， and 、) separate. */
function listOf(text) {
  return String(text).split(/[,，、]/).map((s) => s.trim()).filter(Boolean);
}

// ---- problems next to their fields -------------------------------------------

function clearProblems(root) {
  for (const n of root.querySelectorAll('.ad-problem')) n.remove();
  for (const n of root.querySelectorAll('.ad-invalid')) n.classList.remove('ad-invalid');
  for (const n of root.querySelectorAll('.ad-node-bad')) n.classList.remove('ad-node-bad');
  const list = root.querySelector('.ad-problems');
  if (list) list.replaceChildren();
}

/** The IVR node a problem's path is about: the longest node name it starts with. */
function nodeOf(path, nodes) {
  let best = null;
  for (const name of Object.keys(nodes || {})) {
    const p = `nodes.${name}`;
    if ((path === p || path.startsWith(`${p}.`)) && (!best || name.length > best.length)) best = name;
  }
  return best;
}

function showProblems(root, problems) {
  clearProblems(root);
  const list = root.querySelector('.ad-problems');
  for (const p of problems) {
    const path = str(p.path);
    const msg = str(p.msg ?? p.message);
    if (list) list.appendChild(el('li', { text: `${path}: ${msg}` }));
    const field = [...root.querySelectorAll('[data-path]')].find((n) => n.getAttribute('data-path') === path);
    const line = el('div', { className: 'ad-problem', testid: 'problem', text: field ? msg : `${path}: ${msg}` });
    if (field) {
      field.classList.add('ad-invalid');
      field.insertAdjacentElement('afterend', line);
      const box = field.closest('.ad-node');
      if (box) box.classList.add('ad-node-bad');
      continue;
    }
    const name = state.view === 'ivr' ? nodeOf(path, state.body && state.body.nodes) : null;
    const box = name && root.querySelector(`[data-node="${CSS.escape(name)}"]`);
    if (box) {
      box.classList.add('ad-node-bad');
      box.querySelector('.ad-node-problems').appendChild(line);
    }
  }
}

function problemsOf(e) {
  if (!(e instanceof ApiError) || e.status !== 422 || !Array.isArray(e.detail)) return null;
  return e.detail.map((d) => ({ path: d.path ?? (Array.isArray(d.loc) ? d.loc.slice(1).join('.') : ''), msg: d.msg }));
}

// ---- a versioned document: load, edit, check, save, history -----------------

async function loadDoc(kind) {
  const doc = await apiRequest(`/api/v1/basedata/${kind}`, { method: 'GET' });
  state.doc = doc;
  state.body = clone(doc.body);
  return doc;
}

function docSection(kind, titleKey, form) {
  const doc = state.doc;
  const meta = doc.source === 'file'
    ? t('ad.meta.file', { version: doc.version })
    : t('ad.meta.db', { version: doc.version, who: str(doc.saved_by), at: fmtDateTime(doc.saved_at) });
  const status = el('span', { className: 'ad-status', testid: `status-${kind}`, attrs: { role: 'status' } });
  const comment = input('', 'comment', { placeholder: t('ad.comment'), testid: `comment-${kind}`, size: 40 });
  const section = el('section', { className: 'ad-section', testid: `doc-${kind}` },
    el('h2', { text: t(titleKey) }),
    el('div', { className: 'ad-meta', testid: `meta-${kind}`, text: meta }),
    el('ul', { className: 'ad-problems', testid: `problems-${kind}` }),
    form);
  const history = el('div', { testid: `history-${kind}` });
  const save = async () => {
    status.textContent = t('ad.saving');
    try {
      const saved = await apiRequest(`/api/v1/basedata/${kind}`, {
        method: 'PUT', body: { version: doc.version, body: state.body, comment: comment.value } });
      await render();
      const s = $(`status-${kind}`);
      if (s) s.textContent = t('ad.saved', { version: saved.version });
      if (saved.warnings && saved.warnings.length) showProblems($('ad-main'), saved.warnings);
    } catch (e) {
      const problems = problemsOf(e);
      status.textContent = '';
      if (problems) {
        showProblems(section, problems);
        status.textContent = t('ad.not_saved', { count: problems.length });
      } else if (e instanceof ApiError && e.status === 409) {
        notice(`${errorText(e)} ${t('ad.stale')}`);
      } else {
        notice(errorText(e));
      }
    }
  };
  const check = async () => {
    try {
      const r = await apiRequest(`/api/v1/basedata/${kind}/check`, { method: 'POST', body: { body: state.body } });
      showProblems(section, r.problems.map((p) => ({ path: p.path, msg: p.message })));
      status.textContent = r.valid ? t('ad.valid') : t('ad.not_saved', { count: r.problems.length });
    } catch (e) { notice(errorText(e)); }
  };
  const showHistory = async () => {
    try {
      const versions = await apiRequest(`/api/v1/basedata/${kind}/versions`, { method: 'GET' });
      history.replaceChildren(el('h3', { text: t('ad.history') }));
      if (!versions.length) history.appendChild(el('p', { className: 'ad-meta', text: t('ad.history.none') }));
      for (const v of versions) {
        const restore = button('ad.restore', async () => {
          try {
            const r = await apiRequest(`/api/v1/basedata/${kind}/versions/${v.version}/restore`,
              { method: 'POST', body: { version: doc.version } });
            await render();
            const s = $(`status-${kind}`);
            if (s) s.textContent = t('ad.saved', { version: r.version });
          } catch (e) {
            const problems = problemsOf(e);
            if (problems) showProblems(section, problems); else notice(errorText(e));
          }
        }, { testid: `restore-${kind}-${v.version}` });
        history.appendChild(el('div', { className: 'ad-row' },
          el('b', { text: `v${v.version}` }), el('span', { text: str(v.saved_by) }),
          el('span', { text: fmtDateTime(v.saved_at) }), el('span', { className: 'ad-meta', text: str(v.comment) }),
          v.version === doc.version ? el('span', { text: t('ad.in_force') }) : restore));
      }
    } catch (e) { notice(errorText(e)); }
  };
  section.appendChild(el('div', { className: 'ad-actions' },
    button('ad.save', save, { testid: `save-${kind}`, className: 'ad-primary' }),
    button('ad.check', check, { testid: `check-${kind}` }),
    button('ad.show_history', showHistory, { testid: `show-history-${kind}` }),
    comment, status));
  section.appendChild(history);
  return section;
}

// ---- SLA levels ---------------------------------------------------------------

function slaForm() {
  const body = state.body;
  body.levels = isObj(body.levels) ? body.levels : {};
  body.types = isObj(body.types) ? body.types : {};
  const levelNames = () => Object.keys(body.levels);
  const rows = Object.entries(body.levels).map(([name, lv]) => {
    const set = (key) => (v) => {
      if (v === '') delete lv[key];
      else lv[key] = key === 'warn_before' && /^\d*\.\d+$|^0$/.test(v.trim()) ? Number(v) : v.trim();
    };
    const remove = button('ad.remove', () => { delete body.levels[name]; rerender(); }, { testid: `sla-remove-${name}` });
    const p = `levels.${name}`;
    return el('tr', { testid: `sla-level-${name}` },
      el('td', { attrs: { 'data-path': p } }, el('b', { text: name })),
      el('td', {}, input(lv.respond_within, `${p}.respond_within`, { onInput: set('respond_within'), size: 8, testid: `sla-${name}-respond` })),
      el('td', {}, input(lv.resolve_within, `${p}.resolve_within`, { onInput: set('resolve_within'), size: 8, testid: `sla-${name}-resolve` })),
      el('td', {}, input(lv.warn_before, `${p}.warn_before`, { onInput: set('warn_before'), size: 8 })),
      el('td', {}, select([['business', t('ad.sla.business')], ['24x7', '24x7']], lv.hours || 'business',
        `${p}.hours`, (v) => { lv.hours = v; })),
      el('td', {}, remove));
  });
  const newName = input('', 'new-level', { placeholder: t('ad.sla.level'), size: 12, testid: 'sla-new-name' });
  const add = button('ad.add', () => {
    const name = newName.value.trim();
    if (!name || body.levels[name]) return;
    body.levels[name] = { respond_within: '4h', resolve_within: '72h', warn_before: 0.2 };
    rerender();
  }, { testid: 'sla-add-level' });
  const typeRows = Object.entries(body.types).map(([type, level]) => el('tr', {},
    el('td', { text: type }),
    el('td', {}, select(levelNames(), level, `types.${type}`, (v) => { body.types[type] = v; })),
    el('td', {}, button('ad.remove', () => { delete body.types[type]; rerender(); }))));
  const newType = input('', 'new-type', { placeholder: t('ad.sla.type'), size: 12 });
  const addType = button('ad.add', () => {
    const type = newType.value.trim();
    if (!type || body.types[type] || !levelNames().length) return;
    body.types[type] = levelNames()[0];
    rerender();
  });
  return el('div', {},
    el('p', { className: 'ad-meta', text: t('ad.sla.help') }),
    el('table', { className: 'ad-table', testid: 'sla-levels' },
      el('thead', {}, el('tr', {}, ...['ad.sla.level', 'ad.sla.respond', 'ad.sla.resolve', 'ad.sla.warn', 'ad.sla.hours', '']
        .map((k) => el('th', { text: k ? t(k) : '' })))),
      el('tbody', {}, ...rows)),
    el('div', { className: 'ad-row' }, newName, add),
    el('h3', { text: t('ad.sla.types') }),
    el('table', { className: 'ad-table', testid: 'sla-types' }, el('tbody', {}, ...typeRows)),
    el('div', { className: 'ad-row' }, newType, addType),
    el('p', { className: 'ad-meta', text: t('ad.sla.classes_kept') }));
}

// ---- pause reasons ----------------------------------------------------------------

function pauseForm() {
  const body = state.body;
  const rows = Object.entries(body).map(([code, labels]) => {
    const lab = isObj(labels) ? labels : (body[code] = {});
    const set = (lang) => (v) => { if (v.trim()) lab[lang] = v.trim(); else delete lab[lang]; };
    return el('tr', { testid: `pause-${code}` },
      el('td', { attrs: { 'data-path': code } }, el('b', { text: code })),
      el('td', {}, input(lab.en, `${code}.en`, { onInput: set('en'), testid: `pause-${code}-en` })),
      el('td', {}, input(lab['zh-CN'], `${code}.zh-CN`, { onInput: set('zh-CN'), testid: `pause-${code}-zh` })),
      el('td', {}, button('ad.remove', () => { delete body[code]; rerender(); }, { testid: `pause-remove-${code}` })));
  });
  const code = input('', 'new-code', { placeholder: t('ad.pause.code'), size: 12, testid: 'pause-new-code' });
  const en = input('', 'new-en', { placeholder: 'English', testid: 'pause-new-en' });
  const zh = input('', 'new-zh', { placeholder: '中文', testid: 'pause-new-zh' });
  const add = button('ad.add', () => {
    const c = code.value.trim();
    if (!c || Object.hasOwn(body, c)) return;
    body[c] = {};
    if (en.value.trim()) body[c].en = en.value.trim();
    if (zh.value.trim()) body[c]['zh-CN'] = zh.value.trim();
    rerender();
  }, { testid: 'pause-add' });
  return el('div', {},
    el('table', { className: 'ad-table', testid: 'pause-reasons' },
      el('thead', {}, el('tr', {}, ...['ad.pause.code', 'ad.pause.en', 'ad.pause.zh', ''].map((k) => el('th', { text: k ? t(k) : '' })))),
      el('tbody', {}, ...rows)),
    el('div', { className: 'ad-row' }, code, en, zh, add));
}

// ---- calendar and holidays ----------------------------------------------------------

function dateList(body, key, testid) {
  body[key] = Array.isArray(body[key]) ? body[key] : [];
  const chips = body[key].map((d, i) => el('span', { className: 'ad-chip', testid: `${testid}-item`, attrs: { 'data-path': `${key}[${i}]` } },
    el('span', { text: str(d) }),
    button('ad.x', () => { body[key].splice(i, 1); rerender(); })));
  const day = input('', `new-${key}`, { type: 'date', testid: `${testid}-date` });
  const add = button('ad.add', () => {
    if (!day.value || body[key].includes(day.value)) return;
    body[key].push(day.value);
    body[key].sort();
    rerender();
  }, { testid: `${testid}-add` });
  return el('div', { attrs: { 'data-path': key } }, el('div', { className: 'ad-chips' }, ...chips), el('div', { className: 'ad-row' }, day, add));
}

function calendarForm() {
  const body = state.body;
  body.weekly = isObj(body.weekly) ? body.weekly : {};
  body.special = isObj(body.special) ? body.special : {};
  const week = WEEKDAYS.map((d) => el('tr', {},
    el('td', { text: t(`ad.day.${d}`) }),
    el('td', {}, input((body.weekly[d] || []).join(', '), `weekly.${d}`, {
      className: 'ad-wide', testid: `cal-week-${d}`, placeholder: t('ad.cal.closed'),
      onInput: (v) => { body.weekly[d] = listOf(v); } }))));
  const special = Object.entries(body.special).map(([day, ranges]) => el('tr', {},
    el('td', { text: day }),
    el('td', {}, input((ranges || []).join(', '), `special."${day}"`, { className: 'ad-wide', placeholder: t('ad.cal.closed'),
      onInput: (v) => { body.special[day] = listOf(v); } })),
    el('td', {}, button('ad.remove', () => { delete body.special[day]; rerender(); }))));
  const sDay = input('', 'new-special', { type: 'date' });
  const sRanges = input('', 'new-special-ranges', { placeholder: '09:00-12:00' });
  const addSpecial = button('ad.add', () => {
    if (!sDay.value) return;
    body.special[sDay.value] = listOf(sRanges.value);
    rerender();
  });
  const tz = input(body.timezone, 'timezone', { testid: 'cal-timezone', onInput: (v) => { body.timezone = v.trim(); } });
  const makeupHours = input((body.makeup_hours || []).join(', '), 'makeup_hours', {
    placeholder: t('ad.cal.makeup_hours_default'),
    onInput: (v) => { if (v.trim()) body.makeup_hours = listOf(v); else delete body.makeup_hours; } });
  return el('div', {},
    el('p', { className: 'ad-meta', text: t('ad.cal.help') }),
    el('div', { className: 'ad-row' }, el('label', { text: t('ad.cal.timezone') }), tz),
    el('h3', { text: t('ad.cal.weekly') }),
    el('table', { className: 'ad-table' }, el('tbody', {}, ...week)),
    el('h3', { text: t('ad.cal.holidays') }),
    dateList(body, 'holidays', 'cal-holiday'),
    el('h3', { text: t('ad.cal.makeup') }),
    dateList(body, 'makeup_workdays', 'cal-makeup'),
    el('div', { className: 'ad-row' }, el('label', { text: t('ad.cal.makeup_hours') }), makeupHours),
    el('h3', { text: t('ad.cal.special') }),
    el('table', { className: 'ad-table' }, el('tbody', {}, ...special)),
    el('div', { className: 'ad-row' }, sDay, sRanges, addSpecial));
}

// ---- the IVR menu as a tree ----------------------------------------------------------

function choiceOf(value) {
  return isObj(value) ? { goto: value.goto, language: value.language, intent: value.intent } : { goto: value };
}

function setChoice(choices, key, c) {
  choices[key] = c.language || c.intent
    ? Object.fromEntries(Object.entries(c).filter(([, v]) => v)) : (c.goto || '');
}

/** The edges of a node in the order the server's tree shows them: [label, target]. */
function edges(node) {
  const out = [];
  if (node.next) out.push(['next', node.next]);
  for (const [key, value] of Object.entries(isObj(node.choices) ? node.choices : {})) out.push([key, choiceOf(value).goto]);
  for (const k of ['on_invalid', 'on_timeout']) if (isObj(node[k]) && node[k].then) out.push([k, node[k].then]);
  for (const k of ['open', 'closed', 'found']) if (node[k]) out.push([k, node[k]]);
  return out;
}

function nodeFields(name, node, ctx) {
  const p = `nodes.${name}`;
  const targets = ['', ...ctx.names];
  const set = (key, cast = (v) => v) => (v) => { if (v === '') delete node[key]; else node[key] = cast(v); };
  const field = (labelKey, control) => el('label', {}, el('span', { text: t(labelKey) }), control);
  const fields = [];
  if (node.type !== 'hours') {
    const prompts = node.prompt ? [node.prompt, ...(node.prompts || [])] : (node.prompts || []);
    fields.push(field('ad.ivr.prompts', input(prompts.join(', '), `${p}.prompts`, {
      testid: `ivr-${name}-prompts`,
      onInput: (v) => { delete node.prompt; node.prompts = listOf(v); } })));
  }
  const target = (key, labelKey) => fields.push(field(labelKey, select(targets, node[key], `${p}.${key}`, set(key), `ivr-${name}-${key}`)));
  if (node.type === 'play' || node.type === 'voicemail') target('next', 'ad.ivr.next');
  if (node.type === 'hours') {
    fields.push(field('ad.ivr.schedule', input(node.schedule, `${p}.schedule`, { size: 10, onInput: set('schedule') })));
    target('open', 'ad.ivr.open');
    target('closed', 'ad.ivr.closed');
  }
  if (node.type === 'queue') {
    fields.push(field('ad.ivr.queue', select(['', ...ctx.queues], node.queue, `${p}.queue`, set('queue'), `ivr-${name}-queue`)));
    fields.push(field('ad.ivr.priority', input(node.priority ?? '', `${p}.priority`, { type: 'number', size: 4,
      onInput: set('priority', Number) })));
  }
  if (node.type === 'lookup') {
    fields.push(field('ad.ivr.lookup', select(['', 'product', 'ticket'], node.lookup, `${p}.lookup`, set('lookup'))));
    target('found', 'ad.ivr.found');
  }
  if (node.type === 'voicemail') {
    fields.push(field('ad.ivr.intent', select(['', ...ctx.intents], node.intent, `${p}.intent`, set('intent'))));
  }
  if (node.type === 'transfer') {
    fields.push(field('ad.ivr.number', input(node.number, `${p}.number`, { size: 14, testid: `ivr-${name}-number`, onInput: set('number') })));
  }
  if (node.type === 'menu' || node.type === 'lookup') {
    fields.push(field('ad.ivr.timeout', input(node.timeout ?? '', `${p}.timeout`, { type: 'number', size: 4,
      onInput: set('timeout', Number) })));
    for (const k of ['on_invalid', 'on_timeout']) {
      const f = isObj(node[k]) ? node[k] : null;
      fields.push(field(`ad.ivr.${k}`, select(targets, f ? f.then : '', `${p}.${k}.then`, (v) => {
        if (!v) { delete node[k]; return; }
        node[k] = { ...(isObj(node[k]) ? node[k] : { retries: 1 }), then: v };
      })));
    }
  }
  const out = [el('div', { className: 'ad-fields' }, ...fields)];
  if (node.type === 'menu') {
    node.choices = isObj(node.choices) ? node.choices : {};
    for (const [key, value] of Object.entries(node.choices)) {
      const c = choiceOf(value);
      const cp = `${p}.choices."${key}"`;
      out.push(el('div', { className: 'ad-choice', testid: `ivr-${name}-choice-${key}`, attrs: { 'data-path': cp } },
        el('b', { className: 'ad-key', text: key }),
        select(targets, c.goto, `${cp}.goto`, (v) => { c.goto = v; setChoice(node.choices, key, c); }, `ivr-${name}-choice-${key}-goto`),
        select([['', t('ad.ivr.same_language')], ...ctx.languages.map((l) => [l, l])], c.language || '', `${cp}.language`,
          (v) => { c.language = v; setChoice(node.choices, key, c); }),
        select([['', t('ad.ivr.no_intent')], ...ctx.intents.map((i) => [i, i])], c.intent || '', `${cp}.intent`,
          (v) => { c.intent = v; setChoice(node.choices, key, c); }),
        button('ad.remove', () => { delete node.choices[key]; rerender(); })));
    }
    const key = input('', `${p}.new-choice`, { size: 3, className: 'ad-key', placeholder: '0-9', testid: `ivr-${name}-new-key` });
    const goto = select(targets, '', `${p}.new-choice-goto`, () => {}, `ivr-${name}-new-goto`);
    out.push(el('div', { className: 'ad-choice' }, key, goto, button('ad.ivr.add_choice', () => {
      const k = key.value.trim();
      if (!k || Object.hasOwn(node.choices, k)) return;
      node.choices[k] = goto.value;
      rerender();
    }, { testid: `ivr-${name}-add-choice` })));
  }
  return out;
}

function nodeBox(name, ctx) {
  const node = state.body.nodes[name];
  const type = select(NODE_TYPES, node.type, `nodes.${name}.type`, (v) => {
    const keep = node.prompts || (node.prompt ? [node.prompt] : undefined);
    for (const k of Object.keys(node)) delete node[k];
    node.type = v;
    if (keep && v !== 'hours') node.prompts = keep;
    rerender();
  }, `ivr-${name}-type`);
  const remove = button('ad.remove', () => { delete state.body.nodes[name]; rerender(); }, { testid: `ivr-${name}-remove` });
  return el('div', { className: 'ad-node', testid: `ivr-node-${name}`, attrs: { 'data-node': name } },
    el('div', { className: 'ad-node-head' }, el('span', { className: 'ad-node-name', text: name }), type, remove),
    ...nodeFields(name, node, ctx),
    el('div', { className: 'ad-node-problems' }));
}

function ivrForm() {
  const body = state.body;
  body.ivr = isObj(body.ivr) ? body.ivr : {};
  body.nodes = isObj(body.nodes) ? body.nodes : {};
  body.prompts = isObj(body.prompts) ? body.prompts : {};
  body.queues = isObj(body.queues) ? body.queues : {};
  const ctx = {
    names: Object.keys(body.nodes).sort(),
    queues: Object.keys(body.queues),
    intents: Object.keys(isObj(body.ivr.intents) ? body.ivr.intents : {}),
    languages: Array.isArray(body.ivr.languages) ? body.ivr.languages : ['zh-CN', 'en'],
  };
  const shown = new Set();
  const walk = (name, label) => {
    const li = el('li', {});
    if (label) li.appendChild(el('div', { className: 'ad-edge', text: label }));
    if (!Object.hasOwn(body.nodes, name)) {
      li.appendChild(el('div', { className: 'ad-ref', text: t('ad.ivr.missing', { name }) }));
      return li;
    }
    if (shown.has(name)) {
      li.appendChild(el('div', { className: 'ad-ref', text: t('ad.ivr.see_above', { name }) }));
      return li;
    }
    shown.add(name);
    li.appendChild(nodeBox(name, ctx));
    const kids = edges(body.nodes[name]).map(([k, target]) => walk(target, `${k} →`));
    if (kids.length) li.appendChild(el('ul', {}, ...kids));
    return li;
  };
  const tree = el('ul', { className: 'ad-tree', testid: 'ivr-tree' });
  if (body.ivr.start) tree.appendChild(walk(body.ivr.start, t('ad.ivr.start')));
  const rest = ctx.names.filter((n) => !shown.has(n));
  const loose = el('ul', { className: 'ad-tree', testid: 'ivr-unreachable' }, ...rest.map((n) => walk(n, '')));
  const newName = input('', 'new-node', { placeholder: t('ad.ivr.node_name'), size: 14, testid: 'ivr-new-node' });
  const newType = select(NODE_TYPES, 'queue', 'new-node-type', () => {}, 'ivr-new-type');
  const addNode = button('ad.ivr.add_node', () => {
    const n = newName.value.trim();
    if (!n || Object.hasOwn(body.nodes, n)) return;
    body.nodes[n] = { type: newType.value };
    rerender();
  }, { testid: 'ivr-add-node' });
  const langs = ctx.languages;
  const promptRows = Object.entries(body.prompts).map(([name, texts]) => el('tr', {},
    el('td', { attrs: { 'data-path': `prompts.${name}` } }, el('b', { text: name })),
    ...langs.map((l) => el('td', {}, input(isObj(texts) ? texts[l] : '', `prompts.${name}."${l}"`, {
      className: 'ad-wide', onInput: (v) => { body.prompts[name][l] = v; } })))));
  const pName = input('', 'new-prompt', { placeholder: t('ad.ivr.prompt_name'), size: 14, testid: 'ivr-new-prompt' });
  const addPrompt = button('ad.add', () => {
    const n = pName.value.trim();
    if (!n || Object.hasOwn(body.prompts, n)) return;
    body.prompts[n] = Object.fromEntries(langs.map((l) => [l, '']));
    rerender();
  }, { testid: 'ivr-add-prompt' });
  return el('div', {},
    el('div', { className: 'ad-row' },
      el('label', { text: t('ad.ivr.start') }), select(ctx.names, body.ivr.start, 'ivr.start', (v) => { body.ivr.start = v; rerender(); }),
      el('label', { text: t('ad.ivr.fallback') }), select(ctx.names, body.ivr.fallback, 'ivr.fallback', (v) => { body.ivr.fallback = v; })),
    tree,
    rest.length ? el('h3', { text: t('ad.ivr.unreachable') }) : null,
    loose,
    el('div', { className: 'ad-row' }, newName, newType, addNode),
    el('h3', { text: t('ad.ivr.prompts_title') }),
    el('table', { className: 'ad-table', testid: 'ivr-prompts' },
      el('thead', {}, el('tr', {}, el('th', { text: t('ad.ivr.prompt_name') }), ...langs.map((l) => el('th', { text: l })))),
      el('tbody', {}, ...promptRows)),
    el('div', { className: 'ad-row' }, pName, addPrompt));
}

// ---- sites and technicians (their own API) ----------------------------------------------

async function sitesView() {
  const [sites, techs] = await Promise.all([
    apiRequest('/api/v1/sites', { method: 'GET' }), apiRequest('/api/v1/technicians', { method: 'GET' })]);
  const siteName = Object.fromEntries(sites.items.map((s) => [s.id, s.name]));
  const form = (kind, withSite) => {
    const f = { name: input('', 'name', { testid: `${kind}-name`, placeholder: t('ad.sites.name') }),
      regions: input('', 'regions', { testid: `${kind}-regions`, placeholder: t('ad.sites.regions') }),
      skills: input('', 'skills', { testid: `${kind}-skills`, placeholder: t('ad.sites.skills') }),
      phone: input('', 'phone', { testid: `${kind}-phone`, placeholder: t('ad.sites.phone'), size: 14 }) };
    const site = withSite ? select([['', t('ad.sites.no_site')], ...sites.items.map((s) => [String(s.id), s.name])], '', 'site_id', () => {}, `${kind}-site`) : null;
    const box = el('div', { className: 'ad-row', testid: `${kind}-form` }, f.name, f.regions, f.skills, f.phone, site);
    box.appendChild(button('ad.add', async () => {
      clearProblems(box);
      const body = { name: f.name.value, regions: listOf(f.regions.value), skills: listOf(f.skills.value),
        phone: f.phone.value.trim() || null };
      if (site) body.site_id = site.value ? Number(site.value) : null;
      try {
        await apiRequest(kind === 'site' ? '/api/v1/sites' : '/api/v1/technicians', { method: 'POST', body });
        await render();
      } catch (e) {
        const problems = problemsOf(e);
        if (problems) showProblems(box, problems.map((p) => ({ ...p, path: p.path.replace(/^body\./, '') })));
        else notice(errorText(e));
      }
    }, { testid: `${kind}-add` }));
    return box;
  };
  const deactivate = (url) => button('ad.sites.deactivate', async () => {
    try { await apiRequest(url, { method: 'DELETE' }); await render(); } catch (e) { notice(errorText(e)); }
  });
  const row = (x, kind, extra) => el('tr', { testid: `${kind}-row` },
    el('td', { text: x.name }), ...extra, el('td', { text: (x.regions || []).join(', ') }),
    el('td', { text: (x.skills || []).join(', ') }), el('td', { text: str(x.phone) }),
    el('td', { text: x.active ? t('ad.sites.active') : t('ad.sites.inactive') }),
    el('td', {}, x.active ? deactivate(`/api/v1/${kind === 'site' ? 'sites' : 'technicians'}/${x.id}`) : null));
  return el('div', {},
    el('section', { className: 'ad-section', testid: 'sites' }, el('h2', { text: t('ad.sites.sites') }),
      el('table', { className: 'ad-table' }, el('tbody', {}, ...sites.items.map((s) => row(s, 'site', [])))),
      form('site', false)),
    el('section', { className: 'ad-section', testid: 'technicians' }, el('h2', { text: t('ad.sites.technicians') }),
      el('table', { className: 'ad-table' }, el('tbody', {}, ...techs.items.map((x) => row(x, 'technician',
        [el('td', { text: str(siteName[x.site_id]) })])))),
      form('technician', true)));
}

// ---- views ---------------------------------------------------------------------------

const FORMS = { sla: ['ad.nav.sla', slaForm], pause: ['ad.nav.pause', pauseForm],
  calendar: ['ad.nav.calendar', calendarForm], ivr: ['ad.nav.ivr', ivrForm] };

/** Rebuild the current view from the edited copy (after adding or removing a row). */
function rerender() {
  const [titleKey, build] = FORMS[state.view];
  $('ad-main').replaceChildren(docSection(KIND[state.view], titleKey, build()));
}

async function render() {
  notice('');
  const view = Object.hasOwn(FORMS, state.view) || state.view === 'sites' ? state.view : 'sites';
  for (const a of document.querySelectorAll('.ad-nav a[data-view]')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  try {
    if (view === 'sites') {
      $('ad-main').replaceChildren(await sitesView());
      return;
    }
    await loadDoc(KIND[view]);
    if (state.view !== view) return; // another view was picked meanwhile
    rerender();
  } catch (e) {
    $('ad-main').replaceChildren();
    notice(errorText(e));
  }
}

function route() {
  state.view = (window.location.hash || '#sites').slice(1);
  render();
}

function init() {
  if (!getToken()) { goToLogin(); return; }
  bindLangSelect($('ad-lang'));
  applyTranslations();
  onLangChange(() => { if (state.view === 'sites' || !state.body) render(); else rerender(); });
  window.addEventListener('hashchange', route);
  route();
}

init();
