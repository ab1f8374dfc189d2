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

/**
 * The Server-Sent Events of `path` (same origin), read with fetch so the token goes in the
 * Authorization header (EventSource cannot send one, and a token in a URL ends up in
 * access logs): yields `{ event, data, id }` with `data` parsed as JSON, until the server
 * closes the stream. `lastEventId` continues a stream from there. Throws ApiError for an
 * answer other than 2xx, as `api` does.
 */
export async function* serverEvents(path, { signal, lastEventId } = {}) {
  const headers = { Accept: "text/event-stream", Authorization: `Bearer ${token.get() ?? ""}` };
  if (lastEventId !== undefined && lastEventId !== null) headers["Last-Event-ID"] = String(lastEventId);
  const response = await fetch(path, { headers, signal, cache: "no-store", credentials: "omit" });
  if (!response.ok) {
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    const error = new ApiError(response.status, data?.code ?? `HTTP_${response.status}`, data?.message ?? response.statusText);
    if (response.status === 401) sessionEnded.dispatchEvent(new CustomEvent("ended", { detail: error }));
    throw error;
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const message = { event: "message", data: null, id: null };
      for (const line of frame.split("\n")) {
        if (line.startsWith(":")) continue; // a keep-alive comment
        const colon = line.indexOf(": ");
        const [field, rest] = colon >= 0 ? [line.slice(0, colon), line.slice(colon + 2)] : [line, ""];
        if (field === "event") message.event = rest;
        else if (field === "id") message.id = rest;
        else if (field === "data") message.data = JSON.parse(rest);
      }
      if (message.data !== null) yield message;
    }
  }
}
