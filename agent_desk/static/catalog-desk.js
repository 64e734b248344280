// The catalogue in the pop's ticket form (issue 14): the answer script (话术)
// of the ticket type the agent picks, the fault class and phenomenon of a
// repair ticket (from the taxonomy: GET /api/v1/catalog/faults?active=true)
// with the picked phenomenon's likely causes and remedies, and the product
// models as suggestions on the product field (a <datalist>: free text still
// goes, as customers' products always did).
//
// The pop re-renders on every socket message; this module keeps what it
// fetched (taxonomy, models, one script per type and language) and builds its
// box synchronously from that cache, filling it in place when a fetch lands.
//
// SECURITY: labels, scripts and remedies are written by people: textContent only.
import { getLang, t, tv } from '/static/i18n.js';
import { ApiError, apiRequest } from '/static/api.js';
import { el, isObj, str } from '/static/dom.js';

export const MODELS_LIST_ID = 'catalog-models';
const cache = {
  faults: null, // [{code, name_zh, name_en, phenomena: [{code, ..., causes: [...]}]}] once loaded
  faultsError: null,
  faultsLoading: null,
  scripts: new Map(), // "type|lang" -> script | null (none) | Promise
  scriptErrors: new Map(),
  categoryOf: new Map(), // model code -> category code (from the products list)
};
let shownFaults = null; // {box, work} of the pop's fault pickers, to follow the product field

const zh = () => getLang().startsWith('zh');
export const label = (row) => (isObj(row) ? str(zh() ? row.name_zh : row.name_en) || str(row.code) : '');

function errorStatus(e) {
  return e instanceof ApiError ? e.status : '?';
}

function loadFaults() {
  if (!cache.faultsLoading) {
    cache.faultsLoading = apiRequest('/api/v1/catalog/faults?active=true', { method: 'GET' })
      .then((body) => {
        cache.faults = isObj(body) && Array.isArray(body.classes) ? body.classes.filter(isObj) : [];
        cache.faultsError = null;
      })
      .catch((e) => {
        cache.faultsError = errorStatus(e);
        cache.faultsLoading = null; // try again at the next render
      });
  }
  return cache.faultsLoading;
}

function loadScript(type, lang) {
  const key = `${type}|${lang}`;
  if (!cache.scripts.has(key)) {
    const q = new URLSearchParams({ ticket_type: type, lang });
    cache.scripts.set(key, apiRequest(`/api/v1/kb/scripts?${q}`, { method: 'GET' })
      .then((body) => {
        const items = isObj(body) && Array.isArray(body.items) ? body.items.filter(isObj) : [];
        cache.scripts.set(key, items[0] || null);
        cache.scriptErrors.delete(key);
      })
      .catch((e) => {
        cache.scripts.delete(key);
        cache.scriptErrors.set(key, errorStatus(e));
      }));
  }
  return cache.scripts.get(key);
}

/** Fill a <datalist> of the catalogue's active models (once per page) and return its id. */
let modelsAsked = false;
export function modelsListId() {
  let list = document.getElementById(MODELS_LIST_ID);
  if (!list) {
    list = el('datalist', { attrs: { id: MODELS_LIST_ID } });
    document.body.appendChild(list);
  }
  if (!modelsAsked) {
    modelsAsked = true;
    apiRequest('/api/v1/catalog/products?active=true', { method: 'GET' }).then((body) => {
      const models = isObj(body) && Array.isArray(body.models) ? body.models.filter(isObj) : [];
      list.replaceChildren(...models.map((m) => el('option', { attrs: { value: str(m.code), label: label(m) } })));
      for (const m of models) cache.categoryOf.set(str(m.code).toUpperCase(), str(m.category_code));
    }).catch(() => { modelsAsked = false; });
  }
  return MODELS_LIST_ID;
}

function buildScript(box, type) {
  const lang = getLang();
  const key = `${type}|${lang}`;
  const found = cache.scripts.get(key);
  box.replaceChildren(el('h3', { className: 'script-title', text: t('script.title', { type: tv('ticket.type', type) }) }));
  if (found instanceof Promise || found === undefined) {
    if (cache.scriptErrors.has(key)) {
      box.appendChild(el('p', { className: 'form-error', text: t('script.failed', { status: cache.scriptErrors.get(key) }) }));
    } else {
      box.appendChild(el('p', { className: 'empty', text: t('script.loading') }));
    }
    if (!cache.scriptErrors.has(key)) {
      Promise.resolve(loadScript(type, lang)).then(() => { if (box.isConnected) buildScript(box, type); });
    }
    return;
  }
  if (found === null) {
    box.appendChild(el('p', { className: 'empty', testid: 'script-none', text: t('script.none') }));
    return;
  }
  box.setAttribute('data-lang', str(found.lang));
  if (str(found.opening)) {
    box.appendChild(el('p', { className: 'script-part', testid: 'script-opening' },
      el('span', { className: 'script-label', text: t('script.opening') }), el('span', { text: str(found.opening) })));
  }
  const questions = Array.isArray(found.questions) ? found.questions.map(str).filter(Boolean) : [];
  if (questions.length) {
    box.appendChild(el('span', { className: 'script-label', text: t('script.questions') }));
    box.appendChild(el('ol', { className: 'script-questions' },
      ...questions.map((q) => el('li', { testid: 'script-question', text: q }))));
  }
  if (str(found.closing)) {
    box.appendChild(el('p', { className: 'script-part', testid: 'script-closing' },
      el('span', { className: 'script-label', text: t('script.closing') }), el('span', { text: str(found.closing) })));
  }
}

function selectWith(testid, rows, value) {
  const select = el('select', { className: 'select select-light', testid },
    el('option', { attrs: { value: '' }, text: t('work.fault_choose') }),
    ...rows.map((r) => el('option', { attrs: { value: str(r.code) }, text: label(r) })));
  select.value = value;
  if (select.value !== value) select.value = '';
  return select;
}

function fieldError(work, field) {
  return work.errors[field] ? el('span', { className: 'field-error', testid: 'ticket-error',
    attrs: { 'data-field': field, role: 'alert' }, text: work.errors[field] }) : null;
}

function buildFaults(box, work) {
  box.replaceChildren();
  if (cache.faults === null) {
    box.appendChild(el('p', { className: cache.faultsError ? 'form-error' : 'empty', testid: 'fault-status',
      text: cache.faultsError ? t('work.fault_unavailable', { status: cache.faultsError }) : t('work.fault_loading') }));
    const again = loadFaults();
    if (again) again.then(() => { if (box.isConnected) buildFaults(box, work); });
    return;
  }
  // A product the catalogue knows narrows the classes to its category's and every product's.
  const category = cache.categoryOf.get(str(work.form.product_model).toUpperCase()) || '';
  const classes = cache.faults.filter((c) => !category || !str(c.category_code) || str(c.category_code) === category
    || str(c.code) === work.form.fault_class_code);
  shownFaults = { box, work };
  const chosen = classes.find((c) => str(c.code) === work.form.fault_class_code) || null;
  const phenomena = chosen && Array.isArray(chosen.phenomena) ? chosen.phenomena.filter(isObj) : [];
  const classSelect = selectWith('ticket-fault-class', classes, work.form.fault_class_code);
  const phenSelect = selectWith('ticket-fault-phenomenon', phenomena, work.form.fault_phenomenon_code);
  phenSelect.disabled = work.busy || !chosen;
  classSelect.disabled = work.busy;
  classSelect.addEventListener('change', () => {
    work.form.fault_class_code = classSelect.value;
    work.form.fault_phenomenon_code = '';
    buildFaults(box, work);
  });
  phenSelect.addEventListener('change', () => {
    work.form.fault_phenomenon_code = phenSelect.value;
    buildFaults(box, work);
  });
  box.appendChild(el('div', { className: 'ticket-form-row' },
    el('label', { className: 'field ticket-field' }, el('span', { className: 'field-label', text: t('work.fault_class') }),
      classSelect, fieldError(work, 'fault_class_code')),
    el('label', { className: 'field ticket-field' }, el('span', { className: 'field-label', text: t('work.fault_phenomenon') }),
      phenSelect, fieldError(work, 'fault_phenomenon_code'))));
  const phen = phenomena.find((p) => str(p.code) === work.form.fault_phenomenon_code);
  const causes = phen && Array.isArray(phen.causes) ? phen.causes.filter(isObj) : [];
  if (causes.length) {
    box.appendChild(el('div', { className: 'fault-causes', testid: 'ticket-fault-causes' },
      el('span', { className: 'script-label', text: t('work.fault_causes') }),
      el('ul', {}, ...causes.map((c) => el('li', { testid: 'fault-cause' },
        el('strong', { text: label(c) }),
        el('span', { text: ` — ${str(zh() ? c.remedy_zh : c.remedy_en) || str(c.remedy_en) || str(c.remedy_zh)}` }))))));
  }
}

document.addEventListener('change', (ev) => {
  const target = ev.target;
  if (!shownFaults || !shownFaults.box.isConnected || !target || target.getAttribute('data-testid') !== 'ticket-product') return;
  buildFaults(shownFaults.box, shownFaults.work);
});

/**
 * What the catalogue adds to the pop's ticket form for ``work.form.type``: the
 * script box, and for a repair ticket the fault pickers. ``work.form`` carries
 * ``fault_class_code`` and ``fault_phenomenon_code``.
 */
export function ticketExtras(work) {
  const type = str(work.form.type);
  const script = el('section', { className: 'ticket-script', testid: 'ticket-script', attrs: { 'data-type': type } });
  buildScript(script, type);
  const out = el('div', { className: 'ticket-extras' }, script);
  if (type === 'repair') {
    const faults = el('div', { className: 'ticket-faults', testid: 'ticket-faults' });
    buildFaults(faults, work);
    out.appendChild(faults);
  }
  return out;
}

/** The fault codes to send with a new ticket (repair only, when picked). */
export function faultBody(work) {
  if (str(work.form.type) !== 'repair') return {};
  const body = {};
  if (str(work.form.fault_class_code)) body.fault_class_code = str(work.form.fault_class_code);
  if (str(work.form.fault_phenomenon_code)) body.fault_phenomenon_code = str(work.form.fault_phenomenon_code);
  return body;
}
