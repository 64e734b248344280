// Session storage of the bearer token and a small fetch wrapper for the API.

export const TOKEN_KEY = 'ctidesk_token';
export const USER_KEY = 'ctidesk_user';

export function getToken() {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY);
  } catch (_e) {
    return null;
  }
}

export function getStoredUser() {
  try {
    const raw = window.sessionStorage.getItem(USER_KEY);
    const user = raw ? JSON.parse(raw) : null;
    return user && typeof user === 'object' ? user : null;
  } catch (_e) {
    return null;
  }
}

export function saveSession(token, user) {
  window.sessionStorage.setItem(TOKEN_KEY, token);
  if (user && typeof user === 'object') window.sessionStorage.setItem(USER_KEY, JSON.stringify(user));
  else window.sessionStorage.removeItem(USER_KEY);
}

export function storeUser(user) {
  try {
    if (user && typeof user === 'object') window.sessionStorage.setItem(USER_KEY, JSON.stringify(user));
  } catch (_e) { /* ignore */ }
}

export function clearSession() {
  try {
    window.sessionStorage.removeItem(TOKEN_KEY);
    window.sessionStorage.removeItem(USER_KEY);
  } catch (_e) { /* ignore */ }
}

let leaving = false;

/** Forget the session and go to the sign-in page (once). */
export function goToLogin() {
  if (leaving) return;
  leaving = true;
  clearSession();
  window.location.replace('/login');
}

export function isLeaving() {
  return leaving;
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(status ? `HTTP ${status}` : 'network error');
    this.status = status; // 0 = network failure
    this.detail = detail;
  }
}

/**
 * Call the JSON API. With auth (the default) the bearer token is sent and a
 * 401 ends the session (back to /login). Throws ApiError on failure.
 */
export async function apiRequest(path, {
  method = 'POST', body, auth = true, timeoutMs = 15000, lang = null,
} = {}) {
  const headers = { Accept: 'application/json' };
  if (lang) headers['Accept-Language'] = lang;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (auth) {
    const token = getToken();
    if (!token) {
      goToLogin();
      throw new ApiError(401, 'no token');
    }
    headers.Authorization = `Bearer ${token}`;
  }
  const abort = new AbortController();
  const timer = window.setTimeout(() => abort.abort(), timeoutMs);
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal: abort.signal,
    });
  } catch (_e) {
    window.clearTimeout(timer);
    throw new ApiError(0, null);
  }
  window.clearTimeout(timer);
  let data = null;
  try {
    data = await res.json();
  } catch (_e) {
    data = null;
  }
  if (!res.ok) {
    if (res.status === 401 && auth) goToLogin();
    throw new ApiError(res.status, data && typeof data === 'object' ? data.detail : null);
  }
  return data;
}
