// Report pages: call volume, queue quality, agent workload, business volume,
// from the stored-data API (/api/v1/reports/...). Tables + SVG charts
// (charts.js); CSV/XLSX exports are fetched with the bearer token and saved
// from a blob (a plain link could not carry the token).

import { ApiError, apiRequest, getToken, goToLogin } from '/static/api.js';
import { stackedBars, hBars, legend } from '/static/charts.js';
import { el } from '/static/dom.js';
import { applyTranslations, getLang, LANGS, setLang, t } from '/static/i18n.js';

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const TZ = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

function localInput(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function params(extra = {}) {
  const q = new URLSearchParams({ from: $('rp-from').value, to: $('rp-to').value, tz: TZ, ...extra });
  return q.toString();
}

function table(tbl, testid) {
  if (!tbl.rows.length) return el('p', { className: 'wb-muted', text: t('rp.empty') });
  return el('table', { testid },
    el('thead', {}, el('tr', {}, ...tbl.columns.map((c) => el('th', { text: c })))),
    el('tbody', {}, ...tbl.rows.map((r) => el('tr', {}, ...r.map((v) => el('td', { text: v === null ? '—' : v }))))));
}

function formulas(f) {
  const d = el('details', {}, el('summary', { text: t('rp.formulas') }));
  for (const [k, v] of Object.entries(f || {})) d.appendChild(el('div', { text: `${k}: ${v}` }));
  return d;
}

async function download(report, format) {
  const res = await fetch(`/api/v1/reports/${report}?${params({ format, interval: $('rp-interval').value })}`,
    { headers: { Authorization: `Bearer ${getToken()}` }, cache: 'no-store' });
  if (!res.ok) { showError(`HTTP ${res.status}`); return; }
  const blob = await res.blob();
  const cd = res.headers.get('Content-Disposition') || '';
  const m = /filename="([^"]+)"/.exec(cd);
  const a = el('a', { attrs: { href: URL.createObjectURL(blob), download: m ? m[1] : `${report}.${format}` } });
  document.body.appendChild(a);
  a.click();
  a.remove();
}

function section(report, titleKey, ...children) {
  const csv = el('button', { testid: `export-${report}-csv`, text: t('rp.csv'), attrs: { type: 'button' } });
  const xlsx = el('button', { testid: `export-${report}-xlsx`, text: t('rp.xlsx'), attrs: { type: 'button' } });
  csv.addEventListener('click', () => download(report, 'csv'));
  xlsx.addEventListener('click', () => download(report, 'xlsx'));
  return el('section', { className: 'rp-section', testid: `rp-${report}` },
    el('h2', {}, el('span', { text: t(titleKey) }), csv, xlsx), ...children);
}

function shortLabel(iso) {
  const m = /T(\d\d:\d\d)/.exec(iso);
  return m ? (m[1] === '00:00' ? iso.slice(5, 10) : m[1]) : iso;
}

// Repairs by fault class and phenomenon (issue 14): the label in the page's language, then the code.
function repairsByFault(tbl) {
  if (!tbl) return null;
  const i = (c) => tbl.columns.indexOf(c);
  const lang = getLang().startsWith('zh') ? 'zh' : 'en';
  const named = (r, what) => {
    const code = r[i(`${what}_code`)];
    return code ? `${r[i(`${what}_${lang}`)] || code} (${code})` : t('rp.unclassified');
  };
  const rows = tbl.rows.map((r) => [named(r, 'fault_class'), r[i('fault_phenomenon_code')] ? named(r, 'fault_phenomenon')
    : t('rp.unclassified'), r[i('count')]]);
  return el('div', {}, el('h3', { text: t('rp.repairs_by_fault') }),
    table({ columns: [t('rp.fault_class'), t('rp.fault_phenomenon'), t('rp.count')], rows }, 'table-repairs-by-fault'));
}

function showError(text) {
  const n = $('rp-error');
  n.textContent = text || '';
  n.hidden = !text;
}

async function run() {
  showError(null);
  const interval = $('rp-interval').value;
  let calls; let queues; let workload; let business;
  try {
    [calls, queues, workload, business] = await Promise.all([
      apiRequest(`/api/v1/reports/calls?${params({ interval })}`, { method: 'GET' }),
      apiRequest(`/api/v1/reports/queues?${params()}`, { method: 'GET' }),
      apiRequest(`/api/v1/reports/workload?${params()}`, { method: 'GET' }),
      apiRequest(`/api/v1/reports/business?${params()}`, { method: 'GET' }),
    ]);
  } catch (e) {
    const d = e instanceof ApiError ? e.detail : null;
    showError(Array.isArray(d) ? d.map((x) => x.msg).join('; ') : (d || t('wb.error')));
    return;
  }
  const byInt = calls.tables.by_interval;
  const col = (name) => byInt.rows.map((r) => r[byInt.columns.indexOf(name)]);
  const series = [
    { name: 'answered', values: col('answered'), cls: 'c-green' },
    { name: 'abandoned', values: col('abandoned'), cls: 'c-red' },
    { name: 'unanswered', values: col('unanswered').map((v, i) => v + col('lost')[i] + col('open')[i]), cls: 'c-grey' },
  ];
  const occupancy = workload.agents.map((a) => [a.agent, a.occupancy_pct]);
  // issue 14: the post-call satisfaction survey, average score (1-5) of agents who have surveys
  const satisfaction = workload.agents.filter((a) => a.surveys > 0)
    .map((a) => [`${a.agent} (${a.surveys}${a.low_scores ? `, ${t('rp.low_scores', { n: a.low_scores })}` : ''})`,
      a.avg_score]);
  $('rp-main').replaceChildren(
    section('calls', 'rp.calls', legend(series),
      stackedBars(byInt.rows.map((r) => shortLabel(r[0])), series, { testid: 'chart-calls' }),
      table(calls.tables.by_queue, 'table-calls-by-queue'), formulas(calls.formulas)),
    section('queues', 'rp.queues', table(queues.tables.by_queue, 'table-queues'), formulas(queues.formulas)),
    section('workload', 'rp.workload', hBars(occupancy, { testid: 'chart-occupancy' }),
      el('h3', { text: t('rp.satisfaction') }),
      satisfaction.length ? hBars(satisfaction, { max: 5, testid: 'chart-satisfaction', cls: 'c-green' })
        : el('p', { className: 'wb-muted', text: t('rp.no_surveys') }),
      table(workload.tables.by_agent, 'table-workload'), formulas(workload.formulas)),
    section('business', 'rp.business', table(business.tables.by_type_state, 'table-business'),
      repairsByFault(business.tables.repairs_by_fault), formulas(business.formulas)));
}

function init() {
  if (!getToken()) { goToLogin(); return; }
  const now = new Date();
  const start = new Date(now);
  start.setHours(0, 0, 0, 0);
  const end = new Date(start.getTime() + 86400000);
  $('rp-from').value = localInput(start);
  $('rp-to').value = localInput(end);
  const sel = $('rp-lang');
  for (const l of LANGS) sel.appendChild(el('option', { text: l.label, attrs: { value: l.code } }));
  sel.value = getLang();
  sel.addEventListener('change', () => { setLang(sel.value); applyTranslations(); run(); });
  applyTranslations();
  $('rp-form').addEventListener('submit', (ev) => { ev.preventDefault(); run(); });
  run();
}

init();
