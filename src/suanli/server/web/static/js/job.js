// One job: its state, ETA, estimate and checkpoint; why it runs where it runs or why it
// waits (GET /v1/jobs/{id}/explain: reasons and options); its output, followed live as
// Server-Sent Events (GET /v1/jobs/{id}/logs/stream). Another tenant's job answers 404, as a missing
// one does, and the page then shows nothing of it.

import { api, ApiError, serverEvents } from "./api.js";
import { badge, fmtNumber, h, num, table, when } from "./dom.js";
import { accelerators, etaText } from "./jobs.js";

const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);
const JOB_MS = 2000;
const RECONNECT_MS = 1000;
const LOG_KEEP_CHARS = 2_000_000; // older output is dropped from the page (the API keeps it all)

function facts(rows) {
  return h("dl", { class: "facts" }, rows.filter(([, value]) => value !== null && value !== undefined && value !== "").flatMap(([term, value]) => [h("dt", null, term), h("dd", null, value)]));
}

function summary(job) {
  const eta = etaText(job);
  return [
    facts([
      ["State", badge(job.state)],
      ["Tenant", job.tenant],
      ["Kind", job.kind],
      ["Site", job.site ?? "not placed"],
      ["Accelerators", accelerators(job)],
      ["Attempt", job.attempt ? String(job.attempt) : null],
      ["Submitted", when(job.created_at)],
      ["Started", job.started_at ? when(job.started_at) : null],
      ["Finished", job.finished_at ? when(job.finished_at) : null],
      ["Exit code", job.exit_code ?? null],
      ["Message", job.message],
      ["Checkpoint", job.checkpoint ? h("code", null, job.checkpoint) : "none reported"],
    ]),
    h("h2", null, "ETA"),
    eta
      ? facts([
          ["Predicted start", when(job.eta.start, { relative: true })],
          ["Predicted finish", when(job.eta.finish, { relative: true })],
          ["Late side (p90)", job.eta.start_p90 || job.eta.finish_p90 ? h("span", null, "start ", when(job.eta.start_p90), ", finish ", when(job.eta.finish_p90)) : null],
          ["Method", h("span", null, h("code", null, job.eta.method), ", computed ", when(job.eta.computed_at, { relative: true }))],
        ])
      : h("p", { class: "muted" }, TERMINAL.has(job.state) ? "Finished: no forecast." : "No forecast yet (the leader forecasts every few seconds)."),
    h("h2", null, "Estimate"),
    job.estimate
      ? facts([
          ["Where", `${job.estimate.site}, ${job.estimate.accelerator} × ${job.estimate.count}`],
          ["Duration", `${fmtNumber(job.estimate.duration_h, 2)} h`],
          ["Energy", `${fmtNumber(job.estimate.energy_kwh, 1)} kWh`],
          ["Carbon", `${fmtNumber(job.estimate.carbon_kg, 1)} kg CO₂e`],
          ["Cost", `$${fmtNumber(job.estimate.cost_usd, 2)}`],
        ])
      : h("p", { class: "muted" }, "No estimate."),
  ];
}

function explanation(explained) {
  const reasons = explained.reasons.map((reason) =>
    h("li", null, h("code", null, reason.code), " ", reason.message, reason.until ? h("span", { class: "muted" }, " (until ", when(reason.until), ")") : null),
  );
  const options = explained.options.map((option) => [option.site, `${option.accelerator} × ${option.count}`, num(option.duration_h, 2), num(option.energy_kwh, 1), num(option.carbon_kg, 1), num(option.cost_usd, 2)]);
  return [
    h("p", { id: "explain-summary" }, explained.summary),
    reasons.length ? h("ul", { class: "reasons" }, reasons) : h("p", { class: "muted" }, "No reasons recorded."),
    table("Feasible placements, best first", ["Site", "Accelerators", "Hours", "kWh", "kg CO₂e", "USD"], options, { empty: "No feasible placement." }),
  ];
}

export async function render(ctx) {
  const [id] = ctx.params;
  const path = `/v1/jobs/${encodeURIComponent(id)}`;
  let job = await api(path, { signal: ctx.signal }); // 404 (not visible) goes to the app's error page
  const factsBox = h("section", { "aria-labelledby": "facts-h" });
  const why = h("section", { "aria-labelledby": "why-h" });
  const log = h("pre", { id: "log", class: "log", tabindex: 0, role: "log", "aria-label": `Output of ${job.name}` });
  const follow = h("input", { id: "follow", type: "checkbox", checked: true });
  const logState = h("span", { class: "muted", id: "log-state" }, "following…");
  const cancel = h("button", { type: "button", class: "danger", hidden: TERMINAL.has(job.state) }, "Cancel job");
  ctx.main.replaceChildren(
    h("p", null, h("a", { href: "#/jobs" }, "← Jobs")),
    h("h1", { tabindex: -1 }, job.name, " ", h("span", { class: "muted mono small" }, job.id)),
    cancel,
    h("div", { class: "job" }, h("div", null, h("h2", { id: "facts-h", class: "sr-only" }, "Summary"), factsBox), h("div", null, h("h2", { id: "why-h" }, "Why here, or why waiting"), why)),
    h("section", { "aria-labelledby": "log-h" }, h("h2", { id: "log-h" }, "Logs"), h("p", null, follow, h("label", { for: "follow" }, " scroll to new output"), " · ", logState), log),
  );
  let shownState = null;
  const paint = async () => {
    factsBox.replaceChildren(...summary(job));
    cancel.hidden = TERMINAL.has(job.state);
    if (job.state !== shownState) {
      shownState = job.state;
      why.replaceChildren(...explanation(await api(`${path}/explain`, { signal: ctx.signal })));
    }
  };
  await paint();

  let offset = 0;
  let done = false;
  const append = (text) => {
    log.append(document.createTextNode(text));
    if (log.textContent.length > LOG_KEEP_CHARS) log.textContent = log.textContent.slice(-LOG_KEEP_CHARS);
    if (follow.checked) log.scrollTop = log.scrollHeight;
  };
  // the output as Server-Sent Events (GET /v1/jobs/{id}/logs/stream), reconnecting from the
  // last offset when a stream ends before the job does (a server restart, a proxy's timeout)
  const stream = async () => {
    while (!done && !ctx.signal.aborted) {
      try {
        for await (const message of serverEvents(`${path}/logs/stream`, { signal: ctx.signal, lastEventId: offset })) {
          if (message.event === "log") {
            logState.textContent = "following…";
            append(message.data.text);
            offset = message.data.next_offset;
          } else if (message.event === "end") {
            done = true;
          } else if (message.event === "error") {
            logState.textContent = message.data.message;
            return;
          }
        }
      } catch (error) {
        if (ctx.signal.aborted || (error instanceof ApiError && [401, 403, 404].includes(error.status))) return;
      }
      logState.textContent = done ? "end of output" : "reconnecting…";
      if (!done) await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
    }
  };
  stream();
  ctx.every(JOB_MS, async () => {
    if (TERMINAL.has(shownState) && done) return;
    job = await api(path, { signal: ctx.signal });
    await paint();
  });
  cancel.addEventListener("click", async () => {
    if (!window.confirm(`Cancel ${job.name}?`)) return;
    job = await api(`${path}/cancel`, { method: "POST", signal: ctx.signal });
    await paint();
    ctx.announce(`${job.name} cancelled`);
  });
}
