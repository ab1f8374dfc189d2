// The dashboard: login, the header, and a router over the part of the URL after "#"
// (so a page is a link: #/jobs/j-123), each page a module with render(ctx).

import { ApiError, api, sessionEnded, token } from "./api.js";
import { h } from "./dom.js";
import * as network from "./network.js";
import * as jobs from "./jobs.js";
import * as job from "./job.js";
import * as admin from "./admin.js";

const main = document.getElementById("main");
const STAFF = new Set(["admin", "operator"]);
let who = null; // GET /v1/whoami of the token, once logged in
let page = null; // the current page's controller: aborting it stops its timers and requests
let notice = null; // a message for the login page ("your session ended")

const ROUTES = [
  [/^#\/network$/, network.render, "Network"],
  [/^#\/jobs$/, jobs.render, "Jobs"],
  [/^#\/jobs\/([A-Za-z0-9_.:-]{1,64})$/, job.render, "Job"],
  [/^#\/usage$/, admin.usage, "Usage"],
  [/^#\/filings$/, admin.filings, "Filings"],
  [/^#\/audit$/, admin.audit, "Audit log"],
];

function announce(text) {
  const region = document.getElementById("announce");
  region.textContent = "";
  setTimeout(() => (region.textContent = text), 50); // a change the screen reader hears
}

function header() {
  const nav = document.getElementById("nav");
  const box = document.getElementById("who");
  nav.hidden = box.hidden = !who;
  if (!who) return;
  const staff = STAFF.has(who.role);
  for (const item of nav.querySelectorAll("[data-staff]")) item.hidden = !staff;
  document.getElementById("who-text").textContent = who.tenant ? `${who.role} · ${who.tenant}` : who.role;
  for (const link of nav.querySelectorAll("a")) {
    const current = location.hash.startsWith(link.getAttribute("href")) && link.getAttribute("href").startsWith("#");
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function errorPage(error) {
  if (error instanceof ApiError && (error.status === 403 || error.status === 404)) {
    return [
      h("h1", { tabindex: -1 }, error.status === 404 ? "Not found" : "Not allowed"),
      h("p", { class: "callout", "data-error": error.status }, error.status === 404 ? "Nothing here is visible to this token: it does not exist, or it belongs to another tenant." : "This token's role may not see this page.", " ", h("span", { class: "muted" }, `(${error.status} ${error.code})`)),
      h("p", null, h("a", { href: "#/jobs" }, "Back to jobs")),
    ];
  }
  return [h("h1", { tabindex: -1 }, "Something went wrong"), h("p", { class: "callout", role: "alert" }, error.message || String(error))];
}

async function route({ focus = true } = {}) {
  page?.abort();
  page = new AbortController();
  const { signal } = page;
  if (!token.get() || !who) return login();
  if (!ROUTES.some(([pattern]) => pattern.test(location.hash))) {
    location.replace(STAFF.has(who.role) ? "#/network" : "#/jobs");
    return;
  }
  header();
  const [pattern, render, title] = ROUTES.find(([p]) => p.test(location.hash));
  const params = location.hash.match(pattern).slice(1);
  document.title = `${title} · suanli`;
  const ctx = {
    main,
    who,
    staff: STAFF.has(who.role),
    params,
    signal,
    announce,
    every(ms, fn) {
      const id = setInterval(() => document.visibilityState === "visible" && !signal.aborted && fn(), ms);
      signal.addEventListener("abort", () => clearInterval(id));
    },
  };
  main.replaceChildren(h("p", { class: "muted", "aria-busy": "true" }, "Loading…"));
  performance.mark("suanli:route");
  try {
    await render(ctx);
  } catch (error) {
    if (signal.aborted || (error instanceof ApiError && error.status === 401)) return;
    main.replaceChildren(...errorPage(error));
  }
  if (focus && !signal.aborted) main.querySelector("h1")?.focus({ preventScroll: true });
  performance.mark("suanli:ready");
  main.dataset.ready = location.hash; // for tests and the bench: the page has its data
}

function login() {
  who = null;
  header();
  document.title = "Log in · suanli";
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", spellcheck: "false", required: true, "aria-describedby": "token-help" });
  const error = h("p", { id: "login-error", class: "callout", role: "alert", hidden: true });
  const form = h(
    "form",
    { class: "login", onsubmit: (event) => submit(event, input, error) },
    h("label", { for: "token" }, "API token"),
    input,
    h("p", { id: "token-help", class: "muted" }, "A tenant's or operator's token (sl_…), from ", h("code", null, "suanli admin create-tenant"), " or ", h("code", null, "suanli admin create-token"), ". It is kept in this tab only, until the tab closes or you log out."),
    error,
    h("button", { type: "submit" }, "Log in"),
  );
  main.replaceChildren(h("h1", { tabindex: -1 }, "Log in"), notice ? h("p", { class: "callout" }, notice) : "", form);
  notice = null;
  input.focus();
  main.dataset.ready = "#/login";
}

async function submit(event, input, error) {
  event.preventDefault();
  const candidate = input.value.trim();
  error.hidden = true;
  try {
    const answer = await api("/v1/whoami", { tokenOverride: candidate });
    if (answer.role === "agent") throw new Error("This is a site agent's token; the dashboard takes a tenant's or an operator's.");
    token.set(candidate);
    token.setWho(answer);
    who = answer;
    if (!location.hash || location.hash === "#/login") location.hash = STAFF.has(who.role) ? "#/network" : "#/jobs";
    else route();
  } catch (failure) {
    error.textContent = failure instanceof ApiError && failure.status === 401 ? "That token was not accepted: it is mistyped, revoked, or from another network." : failure.message;
    error.hidden = false;
    input.focus();
  }
}

sessionEnded.addEventListener("ended", () => {
  token.clear();
  notice = "Your session ended (the token is no longer accepted). Log in again.";
  login();
});

document.getElementById("logout").addEventListener("click", () => {
  token.clear();
  page?.abort();
  login();
});

document.getElementById("skip").addEventListener("click", (event) => {
  event.preventDefault(); // "#main" would be read as a page
  main.focus();
});

window.addEventListener("hashchange", () => route());

async function start() {
  who = token.get() ? token.who() : null;
  if (who) {
    // the page loads at once with what the token was at login; a revoked token's first
    // data request answers 401 and ends the session, and a changed role re-renders
    route({ focus: false });
    const now = await api("/v1/whoami").catch(() => null);
    if (now && JSON.stringify(now) !== JSON.stringify(who)) {
      who = now;
      token.setWho(now);
      route({ focus: false });
    }
    return;
  }
  if (token.get()) {
    try {
      who = await api("/v1/whoami");
      token.setWho(who);
    } catch {
      token.clear();
    }
  }
  route({ focus: false });
}

start();
