// Sign-in page: POST /api/v1/auth/login, keep the token in sessionStorage, go to /desk.
import { applyTranslations, bindLangSelect, onLangChange, t } from '/static/i18n.js';
import { ApiError, apiRequest, saveSession } from '/static/api.js';

const form = document.querySelector('[data-testid="login-form"]');
const username = document.querySelector('[data-testid="login-username"]');
const password = document.querySelector('[data-testid="login-password"]');
const submit = document.querySelector('[data-testid="login-submit"]');
const errorBox = document.querySelector('[data-testid="login-error"]');

// The error is kept as a key + params so it follows a language switch.
let error = null;
let busy = false;

function render() {
  document.title = t('login.page_title');
  submit.textContent = t(busy ? 'login.submitting' : 'login.submit');
  submit.disabled = busy;
  form.setAttribute('aria-busy', busy ? 'true' : 'false');
  if (error) {
    errorBox.textContent = t(error.key, error.params);
    errorBox.dataset.error = error.code;
    errorBox.hidden = false;
  } else {
    errorBox.textContent = '';
    delete errorBox.dataset.error;
    errorBox.hidden = true;
  }
}

// Supervisors and admins work from the wallboard: the desk would try a queue
// login they have no queues for.
export function landingPage(user) {
  return user && (user.role === 'supervisor' || user.role === 'admin') ? '/wallboard' : '/desk';
}

function showError(code, key, params) {
  error = { code, key, params };
}

async function onSubmit(event) {
  event.preventDefault();
  if (busy) return;
  const user = username.value.trim();
  const pass = password.value;
  if (!user || !pass) {
    showError('missing', 'login.error.missing');
    render();
    (user ? password : username).focus();
    return;
  }
  busy = true;
  error = null;
  render();
  try {
    const data = await apiRequest('/api/v1/auth/login', {
      body: { username: user, password: pass },
      auth: false,
    });
    if (!data || typeof data.access_token !== 'string' || !data.access_token) {
      throw new ApiError(500, 'no token in response');
    }
    saveSession(data.access_token, data.user);
    window.location.assign(landingPage(data.user));
    return; // stay busy while the browser navigates
  } catch (e) {
    const status = e instanceof ApiError ? e.status : 500;
    if (status === 401 || status === 403) showError('credentials', 'login.error.credentials');
    else if (status === 429) showError('rate_limited', 'login.error.rate_limited');
    else if (status === 0) showError('network', 'login.error.network');
    else showError('server', 'login.error.server', { status });
    password.value = '';
    password.focus();
  }
  busy = false;
  render();
}

bindLangSelect(document.querySelector('[data-testid="lang-select"]'));
applyTranslations(document);
onLangChange(render);
form.addEventListener('submit', onSubmit);
render();
document.documentElement.classList.add('ready');
