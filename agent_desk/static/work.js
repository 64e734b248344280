// Tickets and callbacks on the agent desk: the "New ticket" form and the
// "Attach this call" buttons of the screen pop, and the "My work" side panel
// (my open tickets, my pending callbacks with a result form).
//
// SECURITY: descriptions, customer names and notes are hostile text. The DOM
// is built with createElement + textContent only (strict CSP, no innerHTML).
import { fmtDateTime, getLang, t, tv } from '/static/i18n.js';
import { ApiError, apiRequest, isLeaving } from '/static/api.js';
import { el, isObj, str } from '/static/dom.js';
import { recordingsList } from '/static/player.js';
import { faultBody, modelsListId, ticketExtras } from '/static/catalog-desk.js';

export const TICKET_TYPES = ['repair', 'install', 'complaint', 'consultation', 'suggestion', 'callback'];
export const PRIORITIES = ['low', 'normal', 'high', 'urgent'];
const OUTCOMES = ['reached', 'no_answer', 'busy', 'wrong_number', 'refused'];
const REFRESH_MS = 60000;
const FORM_FIELDS = ['type', 'priority', 'description', 'product_model', 'address', 'fault_class_code',
  'fault_phenomenon_code'];


function selectOf(testid, options, value) {
  const select = el('select', { className: 'select select-light', testid });
  for (const [v, label] of options) {
    const opt = el('option', { text: label, attrs: { value: v } });
    select.appendChild(opt);
  }
  select.value = value;
  return select;
}

/** A message for a failed request that is not a field error. */
function requestErrorText(e) {
  if (e instanceof ApiError && e.status === 0) return t('error.network');
  if (e instanceof ApiError && typeof e.detail === 'string' && e.detail) {
    return t('work.error_detail', { status: e.status, detail: e.detail });
  }
  return t('error.request', { status: e instanceof ApiError ? e.status : '?' });
}

/** FastAPI 422 detail -> {field: message}; null when the detail has no field list. */
function fieldErrors(e) {
  if (!(e instanceof ApiError) || !Array.isArray(e.detail)) return null;
  const out = {};
  for (const item of e.detail) {
    if (!isObj(item)) continue;
    const loc = Array.isArray(item.loc) ? item.loc : [];
    const field = str(loc.length ? loc[loc.length - 1] : '') || '_';
    if (!out[field]) out[field] = str(item.msg) || t('error.request', { status: e.status });
  }
  return out;
}

// ---- the screen pop: new ticket + attach -----------------------------------

export function popCustomerId(msg) {
  if (isObj(msg.customer) && msg.customer.id !== null && msg.customer.id !== undefined) return msg.customer.id;
  if (isObj(msg.provisional_customer) && msg.provisional_customer.id !== null
    && msg.provisional_customer.id !== undefined) return msg.provisional_customer.id;
  return null;
}

function ivrText(call) {
  const path = Array.isArray(call.ivr_path) ? call.ivr_path.filter(isObj) : [];
  return path.map((step) => {
    const name = str(step.label) || str(step.text) || str(step.node) || '?';
    return str(step.digits) ? `${name} (${str(step.digits)})` : name;
  }).join(' → ');
}

function prefillDescription(msg) {
  const call = isObj(msg.call) ? msg.call : {};
  const lines = [t('work.prefill_caller', { number: str(call.caller_number) || t('pop.withheld') })];
  const ivr = ivrText(call);
  if (ivr) lines.push(t('work.prefill_ivr', { ivr }));
  return `${lines.join('\n')}\n`;
}

/** Per-pop working state; kept across re-renders of the same call. */
export function newPopWork(msg) {
  const call = isObj(msg.call) ? msg.call : {};
  const customer = isObj(msg.customer) ? msg.customer : (isObj(msg.provisional_customer) ? msg.provisional_customer : {});
  return {
    form: {
      type: 'repair',
      priority: 'normal',
      description: prefillDescription(msg),
      product_model: str(call.product_model) || str(msg.product_model) || str(customer.product_model),
      address: str(customer.address),
      fault_class_code: '', // repair tickets: from the fault taxonomy (catalog-desk.js)
      fault_phenomenon_code: '',
    },
    errors: {}, // field -> message (from the last 422)
    formError: null,
    busy: false,
    created: [], // tickets created from this pop
    lastCreated: null,
    attached: new Set(), // ticket ids this call was attached to
    attachErrors: {},
  };
}

/** Tickets to list in the pop: the pop's open tickets plus the ones created here. */
export function popTickets(msg, work) {
  const list = Array.isArray(msg.open_tickets) ? msg.open_tickets.filter(isObj) : [];
  const seen = new Set(list.map((tk) => str(tk.id)));
  for (const tk of work.created) if (!seen.has(str(tk.id))) list.push(tk);
  return list;
}

function fieldBox(field, label, control, work) {
  const box = el('label', { className: `field ticket-field ticket-field-${field}` },
    el('span', { className: 'field-label', text: label }), control);
  if (work.errors[field]) {
    box.appendChild(el('span', { className: 'field-error', testid: 'ticket-error',
      attrs: { 'data-field': field, role: 'alert' }, text: work.errors[field] }));
    control.setAttribute('aria-invalid', 'true');
  }
  return box;
}

/**
 * The "New ticket" form of the pop. ctx: {msg, work, user, rerender, onCreated}.
 */
export function buildNewTicket(ctx) {
  const { msg, work } = ctx;
  const box = el('section', { className: 'panel panel-new-ticket', testid: 'new-ticket' },
    el('header', { className: 'panel-head' }, el('h2', { className: 'panel-title', text: t('work.new_ticket') })));
  const customerId = popCustomerId(msg);
  const form = el('form', { className: 'ticket-form', attrs: { novalidate: '' } });

  const bind = (control, field) => {
    control.value = work.form[field];
    const save = () => { work.form[field] = control.value; };
    control.addEventListener('input', save);
    control.addEventListener('change', save);
    control.disabled = work.busy;
    return control;
  };
  const type = bind(selectOf('ticket-type', TICKET_TYPES.map((v) => [v, tv('ticket.type', v)]), work.form.type), 'type');
  const priority = bind(selectOf('ticket-priority', PRIORITIES.map((v) => [v, tv('priority', v)]), work.form.priority),
    'priority');
  const description = bind(el('textarea', { className: 'input textarea', testid: 'ticket-description',
    attrs: { rows: 4, maxlength: 20000 } }), 'description');
  const product = bind(el('input', { className: 'input', testid: 'ticket-product',
    attrs: { type: 'text', maxlength: 200, autocomplete: 'off', list: modelsListId() } }), 'product_model');
  const address = bind(el('input', { className: 'input', testid: 'ticket-address',
    attrs: { type: 'text', maxlength: 4000, autocomplete: 'off' } }), 'address');

  type.addEventListener('change', () => ctx.rerender()); // the script and fault pickers follow the type
  form.append(
    el('div', { className: 'ticket-form-row' },
      fieldBox('type', t('work.type'), type, work),
      fieldBox('priority', t('work.priority'), priority, work)),
    ticketExtras(work),
    fieldBox('description', t('work.description'), description, work),
    el('div', { className: 'ticket-form-row' },
      fieldBox('product_model', t('work.product'), product, work),
      fieldBox('address', t('work.address'), address, work)));

  // Errors on fields the form does not show (customer_id, call_id...).
  const other = Object.entries(work.errors).filter(([f]) => !FORM_FIELDS.includes(f));
  for (const [field, message] of other) {
    form.appendChild(el('p', { className: 'form-error', testid: 'ticket-error', attrs: { 'data-field': field },
      text: field === '_' ? message : `${field}: ${message}` }));
  }
  if (work.formError) {
    form.appendChild(el('p', { className: 'form-error', testid: 'ticket-error', attrs: { 'data-field': '' },
      text: work.formError }));
  }
  if (customerId === null) {
    form.appendChild(el('p', { className: 'form-error', text: t('work.no_customer') }));
  }

  const submit = el('button', { className: 'btn btn-primary', testid: 'ticket-submit',
    text: work.busy ? t('work.submitting') : t('work.submit'), attrs: { type: 'submit' } });
  submit.disabled = work.busy || customerId === null;
  const actions = el('div', { className: 'ticket-form-actions' }, submit);
  if (work.lastCreated !== null) {
    actions.appendChild(el('span', { className: 'ok-text', testid: 'ticket-created', attrs: {
      'data-ticket-id': work.lastCreated, role: 'status' }, text: t('work.created', { id: work.lastCreated }) }));
  }
  form.appendChild(actions);

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    createTicket(ctx);
  });
  box.appendChild(form);
  return box;
}

async function createTicket(ctx) {
  const { msg, work } = ctx;
  if (work.busy) return;
  const body = {
    type: work.form.type,
    priority: work.form.priority,
    customer_id: popCustomerId(msg),
    description: work.form.description,
    call_id: str(msg.call && msg.call.id) || null,
  };
  if (str(work.form.product_model)) body.product_model = str(work.form.product_model);
  if (str(work.form.address)) body.address = str(work.form.address);
  Object.assign(body, faultBody(work));
  const me = ctx.user ? str(ctx.user().username) : '';
  if (me) body.assignee = me;
  work.busy = true;
  work.errors = {};
  work.formError = null;
  ctx.rerender();
  try {
    const ticket = await apiRequest('/api/v1/tickets', { body, lang: getLang() });
    if (!isObj(ticket)) throw new ApiError(500, null);
    work.created.push(ticket);
    work.lastCreated = ticket.id;
    work.attached.add(str(ticket.id));
    work.form.description = prefillDescription(msg);
    loadMyTickets();
  } catch (e) {
    if (isLeaving()) return;
    const fields = e instanceof ApiError && e.status === 422 ? fieldErrors(e) : null;
    if (fields && Object.keys(fields).length) work.errors = fields;
    else work.formError = requestErrorText(e);
  } finally {
    work.busy = false;
    ctx.rerender();
  }
}

/** The attach button (or the "attached" mark) for one ticket of the pop. */
export function buildAttach(ctx, ticket) {
  const { msg, work } = ctx;
  const id = str(ticket.id);
  const box = el('div', { className: 'ticket-attach' });
  if (work.attached.has(id)) {
    box.appendChild(el('span', { className: 'ok-text', testid: 'attached', text: t('work.attached') }));
    return box;
  }
  const btn = el('button', { className: 'btn btn-secondary btn-sm', testid: 'attach-call',
    text: t('work.attach'), attrs: { type: 'button' } });
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    delete work.attachErrors[id];
    try {
      await apiRequest(`/api/v1/tickets/${encodeURIComponent(id)}/calls`,
        { body: { call_id: str(msg.call && msg.call.id) }, lang: getLang() });
      work.attached.add(id);
    } catch (e) {
      if (isLeaving()) return;
      const fields = fieldErrors(e);
      work.attachErrors[id] = fields ? Object.values(fields).join(' ') : requestErrorText(e);
    }
    ctx.rerender();
  });
  box.appendChild(btn);
  if (work.attachErrors[id]) {
    box.appendChild(el('span', { className: 'field-error', testid: 'attach-error', text: work.attachErrors[id] }));
  }
  return box;
}

// ---- "My work": my open tickets and pending callbacks -------------------------

const mw = {
  root: null,
  tickets: null, // null = not loaded yet
  ticketsError: null,
  callbacks: null,
  callbacksError: null,
  forms: new Map(), // callback id -> {outcome, satisfaction, notes, error, busy}
};

// One My work list (``tickets`` or ``callbacks``, with its ``<list>Error``) from ``path``, then a render.
async function loadMine(list, path) {
  try {
    const data = await apiRequest(path, { method: 'GET', lang: getLang() });
    mw[list] = isObj(data) && Array.isArray(data.items) ? data.items.filter(isObj) : [];
    mw[`${list}Error`] = null;
  } catch (e) {
    if (isLeaving()) return;
    mw[`${list}Error`] = requestErrorText(e);
  }
  renderMyWork();
}

export async function loadMyTickets() {
  return loadMine('tickets', '/api/v1/tickets?assignee=me&open=true');
}

export async function loadMyCallbacks() {
  return loadMine('callbacks', '/api/v1/callbacks?assignee=me&state=pending');
}

export function loadMyWork() {
  return Promise.all([loadMyTickets(), loadMyCallbacks()]);
}

export function initMyWork(root) {
  mw.root = root;
  renderMyWork();
  loadMyWork();
  window.setInterval(() => {
    if (!isLeaving()) loadMyWork();
  }, REFRESH_MS);
}

function section(testid, title, count) {
  const head = el('header', { className: 'panel-head' }, el('h2', { className: 'panel-title', text: title }));
  if (count) head.appendChild(el('span', { className: 'panel-count', text: String(count) }));
  return el('section', { className: 'panel mywork-section', testid }, head);
}

// The error, loading and empty states of a My work list into its box: true when that is all it shows.
function listStates(box, items, error, emptyKey) {
  if (error) box.appendChild(el('p', { className: 'form-error mywork-error', text: error }));
  if (items === null) {
    if (!error) box.appendChild(el('p', { className: 'empty', text: t('mywork.loading') }));
    return true;
  }
  if (!items.length) {
    box.appendChild(el('p', { className: 'empty', text: t(emptyKey) }));
    return true;
  }
  return false;
}

// A ticket's head line (number, type, state), then ``extra`` (null is left out).
export function ticketHead(tk, ...extra) {
  return el('div', { className: 'ticket-head' },
    el('span', { className: 'ticket-id', text: `#${str(tk.id)}` }),
    el('span', { className: 'chip chip-type', text: tv('ticket.type', str(tk.type)) }),
    el('span', { className: 'chip chip-state', attrs: { 'data-state': str(tk.state) },
      text: tv('ticket.state', str(tk.state)) }),
    ...extra);
}

function buildMyTickets() {
  const items = mw.tickets || [];
  const box = section('my-tickets', t('mywork.tickets'), items.length);
  if (listStates(box, mw.tickets, mw.ticketsError, 'mywork.tickets_empty')) return box;
  const list = el('ul', { className: 'ticket-list' });
  for (const tk of items) {
    list.appendChild(el('li', { className: 'ticket', testid: 'my-ticket', attrs: { 'data-ticket-id': tk.id } },
      ticketHead(tk,
        str(tk.priority) ? el('span', { className: 'chip chip-muted', attrs: { 'data-priority': str(tk.priority) },
          text: tv('priority', str(tk.priority)) }) : null),
      el('p', { className: 'ticket-desc', text: str(tk.description) || t('value.none') }),
      recordingsList({ ticket_id: tk.id }, { testid: 'rec-ticket' })));
  }
  box.appendChild(list);
  return box;
}

function formFor(id) {
  if (!mw.forms.has(id)) mw.forms.set(id, { outcome: '', satisfaction: '', notes: '', error: null, busy: false });
  return mw.forms.get(id);
}

function buildCallback(cb) {
  const id = str(cb.id);
  const f = formFor(id);
  const name = str(cb.customer_name) || t('mywork.customer', { id: str(cb.customer_id) });
  const head = el('div', { className: 'ticket-head' },
    el('span', { className: 'callback-name', text: name }));
  if (cb.overdue) head.appendChild(el('span', { className: 'chip chip-warn', text: t('callback.overdue') }));
  if (cb.ticket_id !== null && cb.ticket_id !== undefined) {
    head.appendChild(el('span', { className: 'ticket-id', text: `#${str(cb.ticket_id)}` }));
  }
  const item = el('li', { className: 'ticket callback', testid: 'my-callback', attrs: { 'data-callback-id': id } },
    head,
    el('p', { className: 'ticket-desc', text: str(cb.reason) || t('value.none') }));
  if (cb.due_at) item.appendChild(el('p', { className: 'ticket-date', text: t('callback.due', { when: fmtDateTime(cb.due_at) }) }));
  // Click to dial: the server dials the callback's customer from the agent's own phone.
  const dial = el('button', { className: 'btn btn-outline btn-sm', testid: 'callback-dial',
    text: f.dialing ? t('callback.dialing') : t('callback.dial'), attrs: { type: 'button' } });
  dial.disabled = Boolean(f.dialing);
  dial.addEventListener('click', () => dialCallback(id, f));
  item.appendChild(dial);

  const outcome = selectOf('callback-outcome',
    [['', t('callback.outcome_choose')], ...OUTCOMES.map((o) => [o, tv('callback.outcome', o)])], f.outcome);
  const satisfaction = selectOf('callback-satisfaction',
    [['', t('callback.satisfaction_choose')], ...[1, 2, 3, 4, 5].map((n) => [String(n), String(n)])], f.satisfaction);
  const notes = el('textarea', { className: 'input textarea', testid: 'callback-notes', attrs: { rows: 2, maxlength: 4000 } });
  notes.value = f.notes;
  const satBox = el('label', { className: 'field' },
    el('span', { className: 'field-label', text: t('callback.satisfaction') }), satisfaction);
  satBox.hidden = f.outcome !== 'reached';
  outcome.addEventListener('change', () => {
    f.outcome = outcome.value;
    satBox.hidden = f.outcome !== 'reached';
  });
  satisfaction.addEventListener('change', () => { f.satisfaction = satisfaction.value; });
  notes.addEventListener('input', () => { f.notes = notes.value; });

  const save = el('button', { className: 'btn btn-primary btn-sm', testid: 'callback-save',
    text: t('callback.save'), attrs: { type: 'submit' } });
  const form = el('form', { className: 'callback-form', attrs: { novalidate: '' } },
    el('div', { className: 'ticket-form-row' },
      el('label', { className: 'field' }, el('span', { className: 'field-label', text: t('callback.outcome') }), outcome),
      satBox),
    el('label', { className: 'field' }, el('span', { className: 'field-label', text: t('callback.notes') }), notes));
  if (f.error) {
    form.appendChild(el('p', { className: 'field-error', testid: 'callback-error', attrs: { role: 'alert' }, text: f.error }));
  }
  form.appendChild(el('div', { className: 'ticket-form-actions' }, save));
  for (const c of [outcome, satisfaction, notes, save]) c.disabled = f.busy;
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    saveCallback(id, f);
  });
  item.appendChild(form);
  return item;
}

async function dialCallback(id, f) {
  f.dialing = true;
  f.error = null;
  renderMyWork();
  try {
    await apiRequest('/api/v1/agent/dial', { body: { callback_id: Number(id) }, lang: getLang() });
  } catch (e) {
    if (isLeaving()) return;
    f.dialing = false;
    const fields = fieldErrors(e);
    f.error = fields ? Object.values(fields).join(' ') : requestErrorText(e);
  } finally {
    renderMyWork();
  }
}

async function saveCallback(id, f) {
  if (f.busy) return;
  if (!f.outcome) {
    f.error = t('callback.error.outcome');
    renderMyWork();
    return;
  }
  if (f.outcome === 'reached' && !f.satisfaction) {
    f.error = t('callback.error.satisfaction');
    renderMyWork();
    return;
  }
  const body = { outcome: f.outcome };
  if (f.outcome === 'reached') body.satisfaction = Number(f.satisfaction);
  if (str(f.notes)) body.notes = f.notes;
  f.busy = true;
  f.error = null;
  renderMyWork();
  try {
    await apiRequest(`/api/v1/callbacks/${encodeURIComponent(id)}/result`, { body, lang: getLang() });
    mw.forms.delete(id);
    if (mw.callbacks) mw.callbacks = mw.callbacks.filter((cb) => str(cb.id) !== id);
  } catch (e) {
    if (isLeaving()) return;
    const fields = fieldErrors(e);
    f.error = fields ? Object.values(fields).join(' ') : requestErrorText(e);
  } finally {
    f.busy = false;
    renderMyWork();
  }
}

function buildMyCallbacks() {
  const items = mw.callbacks || [];
  const box = section('my-callbacks', t('mywork.callbacks'), items.length);
  if (listStates(box, mw.callbacks, mw.callbacksError, 'mywork.callbacks_empty')) return box;
  const list = el('ul', { className: 'ticket-list' });
  for (const cb of items) list.appendChild(buildCallback(cb));
  box.appendChild(list);
  return box;
}

export function renderMyWork() {
  const root = mw.root;
  if (!root) return;
  // Keep what the agent is typing in a callback form across re-renders.
  const active = document.activeElement;
  const focusKey = active && root.contains(active) && active.closest('[data-callback-id]')
    ? [active.closest('[data-callback-id]').getAttribute('data-callback-id'), active.getAttribute('data-testid')] : null;
  root.replaceChildren(
    el('h2', { className: 'mywork-title', text: t('mywork.title') }),
    buildMyTickets(),
    buildMyCallbacks());
  if (focusKey) {
    const again = root.querySelector(`[data-callback-id="${CSS.escape(focusKey[0])}"] [data-testid="${focusKey[1]}"]`);
    if (again && !again.disabled) again.focus();
  }
}
