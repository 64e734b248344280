// What the admin and editor pages (admin.js, catalog-admin.js, kb-editor.js)
// share: the page's notice line, and how a failed request reads to the user.

import { ApiError } from '/static/api.js';
import { t } from '/static/i18n.js';

/** Show ``text`` in the notice element ``node``; nothing hides it. */
export function showNotice(node, text) {
  node.textContent = text || '';
  node.hidden = !text;
}

/** A failed request in words: no right, no network, the server's message, or its status. */
export function errorText(e) {
  if (!(e instanceof ApiError)) return String(e);
  if (e.status === 403) return t('ad.forbidden');
  if (e.status === 0) return t('ad.network');
  if (typeof e.detail === 'string' && e.detail) return e.detail;
  return t('ad.failed', { status: e.status });
}
