// The jobs: the newest first, 50 at a time (GET /v1/jobs?limit=N: a tenant's token lists
// its own jobs only; staff see every tenant's with all=true), with their ETA when the
// leader's forecast has one, and what each has cost and emitted so far (its closed runs'
// metering plus the run in progress, as GET /v1/jobs gives them). Past the API's largest page (1,000) the page says that there
// are more and which command lists them (the API's `next` cursor goes on).

import { api, listing } from "./api.js";
import { badge, duration, fmtNumber, h, num, sum, table, when } from "./dom.js";

export const PAGE = 50;
const MAX = 1000; // the API's largest limit
const REFRESH_MS = 5000;
const STATES = ["PENDING", "PLACED", "RUNNING", "PREEMPTED", "SUCCEEDED", "FAILED", "CANCELLED"];
const WAITING = new Set(["PENDING", "PREEMPTED", "PLACED"]);

/** The ETA as a sentence: when it starts (waiting) or ends (running); null without one. */
export function etaText(job) {
  const eta = job.eta;
  if (!eta) return null;
  const waiting = WAITING.has(job.state);
  const at = waiting ? eta.start : eta.finish;
  const late = waiting ? eta.start_p90 : eta.finish_p90;
  return { verb: waiting ? "starts" : "ends", at, late };
}

function etaCell(job) {
  const eta = etaText(job);
  if (!eta) return h("td", { class: "muted" }, WAITING.has(job.state) ? "no forecast yet" : "—");
  const detail = `${eta.late ? `late side (p90): ${new Date(eta.late).toISOString()}; ` : ""}finish ${job.eta.finish}; ${job.eta.method}, computed ${job.eta.computed_at}`;
  return h("td", { class: "eta", title: detail }, `${eta.verb} `, when(eta.at, { relative: true }));
}

function elapsed(job) {
  if (!job.started_at) return "—";
  const end = job.finished_at ? new Date(job.finished_at) : new Date();
  return duration((end - new Date(job.started_at)) / 1000);
}

export function accelerators(job) {
  return job.accelerator ? `${job.accelerator} × ${job.count}` : job.estimate ? `(${job.estimate.accelerator} × ${job.estimate.count})` : "—";
}

export async function render(ctx) {
  let limit = PAGE;
  const state = h("select", { id: "state" }, h("option", { value: "" }, "any state"), STATES.map((name) => h("option", { value: name }, name)));
  const everyone = ctx.staff ? h("input", { id: "everyone", type: "checkbox", checked: true }) : null;
  const count = h("p", { class: "muted", id: "jobs-count" });
  const slot = h("div");
  const more = h("button", { type: "button", class: "secondary" }, `Show ${PAGE} more`);
  ctx.main.replaceChildren(
    h("h1", { tabindex: -1 }, "Jobs"),
    h(
      "div",
      { class: "filters" },
      h("label", { for: "state" }, "State "),
      state,
      everyone ? h("span", null, everyone, h("label", { for: "everyone" }, " every tenant's")) : null,
    ),
    count,
    slot,
    more,
  );
  const load = async () => {
    const query = new URLSearchParams({ limit: String(limit) });
    if (state.value) query.set("state", state.value);
    if (everyone?.checked) query.set("all", "true");
    const [listed, usage] = await Promise.all([api(`/v1/jobs?${query}`, { signal: ctx.signal }), listing("/v1/usage", "usage", { signal: ctx.signal }).catch(() => null)]);
    const jobs = listed.jobs;
    const counts = {};
    const mine = usage?.items.filter((row) => !ctx.staff || everyone?.checked || row.tenant === ctx.who.tenant) ?? [];
    for (const row of mine) for (const [name, n] of Object.entries(row.jobs)) counts[name] = (counts[name] ?? 0) + n;
    const total = state.value ? (counts[state.value] ?? 0) : sum(Object.values(counts));
    const beyond = listed.next && limit >= MAX ? " There are more: `suanli jobs --all-pages` lists every one." : "";
    count.textContent = (usage ? `The ${fmtNumber(jobs.length)} newest of ${fmtNumber(total)} jobs.` : `The ${fmtNumber(jobs.length)} newest jobs.`) + beyond;
    more.hidden = !listed.next || limit >= MAX;
    const headers = ["Job", ...(ctx.staff ? ["Tenant"] : []), "State", "Site", "Accelerators", "ETA", "Submitted", "Elapsed", "Cost so far (USD)", "CO2 so far (kg)"];
    const rows = jobs.map((job) => [
      h("td", null, h("a", { href: `#/jobs/${job.id}` }, job.name), h("div", { class: "muted small mono" }, job.id)),
      ...(ctx.staff ? [job.tenant] : []),
      h("td", null, badge(job.state)),
      job.site ?? "—",
      accelerators(job),
      etaCell(job),
      when(job.created_at),
      elapsed(job),
      num(job.cost_so_far, 2),
      num(job.co2_kg_so_far, 2),
    ]);
    slot.replaceChildren(table("Jobs, newest first", headers, rows, { empty: "No jobs yet: submit one with `suanli submit SPEC.yaml`." }));
  };
  state.addEventListener("change", () => ((limit = PAGE), load()));
  everyone?.addEventListener("change", () => ((limit = PAGE), load()));
  more.addEventListener("click", async () => {
    limit = Math.min(MAX, limit + PAGE);
    await load();
    ctx.announce(`Showing ${limit} jobs`);
  });
  await load();
  ctx.every(REFRESH_MS, () => !slot.contains(document.activeElement) && load());
}
