// The REST API, called with the token the user pasted at login.
//
// The token lives in sessionStorage: this tab only, gone when the tab closes, and sent
// only where this code puts it (the Authorization header of same-origin requests), never
// by the browser on its own, so another site cannot make requests with it (no CSRF).
// The page runs only its own scripts (Content-Security-Policy script-src 'self') and
// writes data as text, never as markup; docs/control-plane.md (Dashboard) weighs this
// against an HttpOnly cookie.

const KEY = "suanli.token";
const WHO = "suanli.whoami"; // the token's GET /v1/whoami, so a reload needs no round trip before the data

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(WHO);
  },
  who: () => JSON.parse(sessionStorage.getItem(WHO) ?? "null"),
  setWho: (who) => sessionStorage.setItem(WHO, JSON.stringify(who)),
};

/** An answer other than 2xx: the API's {code, message} and the HTTP status. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Unauthenticated answers end the session: the app listens for this event. */
export const sessionEnded = new EventTarget();

/** `path` (same origin) as JSON; throws ApiError. */
export async function api(path, { method = "GET", body, signal, tokenOverride } = {}) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${tokenOverride ?? token.get() ?? ""}` };
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload, signal, cache: "no-store", credentials: "omit" });
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null; // not JSON (a proxy's error page): the status says enough
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data?.code ?? `HTTP_${response.status}`, data?.message ?? response.statusText);
    if (response.status === 401 && tokenOverride === undefined) sessionEnded.dispatchEvent(new CustomEvent("ended", { detail: error }));
    throw error;
  }
  return data;
}

/**
 * The items of a listing under `key`, following its `next` cursors for at most `maxPages`
 * pages of 1,000 (the API's largest page): `{ items, more }`, `more` true when the listing
 * goes on past them. Every listing of the API pages (limit, after, next).
 */
export async function listing(path, key, { signal, maxPages = 10 } = {}) {
  const items = [];
  let after = null;
  for (let page = 0; page < maxPages; page += 1) {
    const query = new URLSearchParams({ limit: "1000", ...(after ? { after } : {}) });
    const data = await api(`${path}${path.includes("?") ? "&" : "?"}${query}`, { signal });
    items.push(...data[key]);
    after = data.next ?? null;
    if (!after) return { items, more: false };
  }
  return { items, more: true };
}

/** A static file of the dashboard (no token: package data, nobody's). */
export async function asset(path) {
  const response = await fetch(path, { credentials: "omit" });
  if (!response.ok) throw new ApiError(response.status, `HTTP_${response.status}`, `${path}: ${response.statusText}`);
  return response.json();
}
