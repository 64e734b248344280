// The agent desk's "being monitored" banner (supervisor listen / whisper / barge).
// The server only sends monitoring_started/stopped to the desk where the site's
// policy says agents are told (config/supervisor.toml monitoring_notice).
import { el } from '/static/dom.js';
import { t } from '/static/i18n.js';

let banner = null;

export function onMonitoring(msg) {
  if (msg.type === 'monitoring_started') {
    if (!banner) {
      banner = el('div', { className: 'monitor-notice', testid: 'monitor-notice', attrs: { role: 'status' } });
      document.body.prepend(banner);
    }
    banner.setAttribute('data-mode', String(msg.mode || ''));
    banner.textContent = t(`monitor.notice.${msg.mode}`);
    banner.hidden = false;
  } else if (msg.type === 'monitoring_stopped' && banner) {
    banner.hidden = true;
  }
}
