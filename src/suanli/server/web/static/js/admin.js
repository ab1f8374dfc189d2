// Usage and quotas (GET /v1/usage; GET /v1/quotas: capacity and accelerator-hours used of
// each limit) with each tenant's cost and carbon over time (charts.js, GET /v1/history),
// model filings with the operator's approve
// and reject (POST /v1/filings/{id}/decision, audited by the API), and the audit log
// (GET /v1/audit, staff only).

import { api, listing } from "./api.js";
import { drawTenants, section } from "./charts.js";
import { badge, fmtNumber, h, meter, num, table, when } from "./dom.js";

export async function usage(ctx) {
  // both at once: the quotas do not wait for the usage listing
  const [{ items: rows, more }, { quotas }] = await Promise.all([listing("/v1/usage", "usage", { signal: ctx.signal }), api("/v1/quotas", { signal: ctx.signal })]);
  const cells = rows.map((row) => [
    row.tenant,
    num(row.accelerator_hours, 1),
    num(row.energy_kwh, 1),
    num(row.carbon_kg, 1),
    num(row.cost_usd, 2),
    Object.entries(row.jobs)
      .sort()
      .map(([state, n]) => `${state.toLowerCase()} ${fmtNumber(n)}`)
      .join(", ") || "—",
  ]);
  const parts = [
    h("h1", { tabindex: -1 }, "Usage"),
    h("p", { class: "muted" }, "Metered run segments: accelerator-hours are wall time × count; energy, carbon and cost at the placement's estimated hourly rates."),
    table(ctx.staff ? "Usage by tenant" : "Your usage", ["Tenant", "Accelerator-hours", "Energy (kWh)", "Carbon (kg CO₂e)", "Cost (USD)", "Jobs"], cells, { empty: "No usage yet." }),
  ];
  if (more) parts.push(h("p", { class: "muted" }, `The first ${fmtNumber(rows.length)} tenants by name; there are more: `, h("code", null, "suanli usage"), " lists every one."));
  parts.push(...quotaTable(ctx, quotas));
  // loads on its own: the tables do not wait for the history
  parts.push(section(ctx, { draw: drawTenants, heading: ctx.staff ? "Cost and carbon over time, by tenant" : "Your cost and carbon over time", id: "tenants-history-title" }));
  ctx.main.replaceChildren(...parts);
}

/** Each quota's use this period against its limits: normalised capacity (H800-equivalent
 * hours, suanli.capacity), accelerator-hours and accelerators held now, one meter each. */
function quotaTable(ctx, quotas) {
  const unit = quotas[0]?.capacity_unit ?? "H800-equivalent hours";
  const hours = (used, limit, what, key) => (limit === null ? h("span", { class: "num" }, `${fmtNumber(used, 1)} (no limit)`) : meter(used, limit, `${what} of ${key} used: ${fmtNumber(used, 1)} of ${fmtNumber(limit, 1)}`, { digits: 1 }));
  const quotaRows = quotas.map((q) => {
    const key = ctx.staff ? `${q.tenant}/${q.family}` : q.family;
    return [
      ...(ctx.staff ? [q.tenant] : []),
      h("td", null, h("code", null, q.family)),
      h("td", { "data-quota": "capacity" }, hours(q.used_capacity_hours, q.capacity_hours, unit, key)),
      h("td", { "data-quota": "accelerator-hours" }, hours(q.used_accelerator_hours, q.accelerator_hours, "accelerator-hours", key)),
      num(q.period_h),
      h("td", { "data-quota": "in-use" }, q.max_concurrent === null ? h("span", { class: "num" }, `${fmtNumber(q.in_use)} (no limit)`) : meter(q.in_use, q.max_concurrent, `accelerators of ${key} in use: ${fmtNumber(q.in_use)} of ${fmtNumber(q.max_concurrent)}`)),
    ];
  });
  return [
    table(
      ctx.staff ? "Quotas by tenant" : "Your quotas",
      [...(ctx.staff ? ["Tenant"] : []), "Key", `Capacity used / limit (${unit})`, "Accelerator-hours used / limit", "Period (h)", "Accelerators in use / limit"],
      quotaRows,
      { empty: ctx.staff ? "No quotas: nothing limits any tenant." : "No quotas: nothing limits this tenant." },
    ),
    h("p", { class: "muted" }, `Use over each quota's rolling period. Capacity counts each accelerator-hour at its type's worth in ${unit} (the estimator's throughput of a reference training job on that type relative to the reference type's); a tenant's waiting jobs are held when either hour limit is used up.`),
  ];
}

export async function filings(ctx) {
  const paint = async () => {
    const { items: all, more } = await listing("/v1/filings", "filings", { signal: ctx.signal });
    const pending = all.filter((f) => f.status === "pending");
    const decided = all.filter((f) => f.status !== "pending");
    const pendingRows = pending.map((filing) => [
      h("td", { class: "mono" }, filing.id),
      filing.tenant,
      h("code", null, filing.model),
      filing.filing_number ?? "—",
      filing.note ?? "—",
      when(filing.created_at),
      ...(ctx.staff ? [decide(filing)] : []),
    ]);
    const decidedRows = decided.map((filing) => [h("td", { class: "mono" }, filing.id), filing.tenant, h("code", null, filing.model), filing.filing_number ?? "—", h("td", null, badge(filing.status)), filing.note ?? "—", when(filing.decided_at)]);
    ctx.main.replaceChildren(
      h("h1", { tabindex: -1 }, "Model filings"),
      h("p", { class: "muted" }, "A public inference service runs only once its model's filing is approved. Tenants file with ", h("code", null, "suanli file-model MODEL"), "; every decision is in the audit log."),
      table(`Awaiting approval (${pending.length})`, ["Filing", "Tenant", "Model", "Filing number", "Note", "Filed", ...(ctx.staff ? ["Decision"] : [])], pendingRows, { empty: "Nothing awaits approval." }),
      table("Decided", ["Filing", "Tenant", "Model", "Filing number", "Status", "Note", "Decided"], decidedRows, { empty: "No decisions yet." }),
      more ? h("p", { class: "muted" }, `The oldest ${fmtNumber(all.length)} filings; there are more: `, h("code", null, "suanli admin filings"), " lists every one.") : "",
    );
  };
  const decide = (filing) => {
    const noteId = `note-${filing.id}`;
    const note = h("input", { id: noteId, type: "text", maxlength: 2000, placeholder: "note (optional)" });
    const act = (approved) => async (event) => {
      event.target.disabled = true;
      await api(`/v1/filings/${encodeURIComponent(filing.id)}/decision`, { method: "POST", body: { approved, ...(note.value.trim() ? { note: note.value.trim() } : {}) }, signal: ctx.signal });
      ctx.announce(`Filing ${filing.id} for ${filing.model} ${approved ? "approved" : "rejected"}`);
      await paint();
      ctx.main.querySelector("h1")?.focus();
    };
    return h(
      "td",
      { class: "decide" },
      h("label", { for: noteId, class: "sr-only" }, `Note on filing ${filing.id}`),
      note,
      h("button", { type: "button", onclick: act(true), "aria-label": `Approve filing ${filing.id} (${filing.model})` }, "Approve"),
      h("button", { type: "button", class: "danger", onclick: act(false), "aria-label": `Reject filing ${filing.id} (${filing.model})` }, "Reject"),
    );
  };
  await paint();
}

export async function audit(ctx) {
  let limit = 100;
  const filter = h("input", { id: "audit-filter", type: "search", placeholder: "action, object, tenant…" });
  const slot = h("div");
  const more = h("button", { type: "button", class: "secondary" }, "Show more");
  ctx.main.replaceChildren(h("h1", { tabindex: -1 }, "Audit log"), h("div", { class: "filters" }, h("label", { for: "audit-filter" }, "Filter "), filter), slot, more);
  let entries = [];
  const paint = () => {
    const needle = filter.value.trim().toLowerCase();
    const shown = needle ? entries.filter((e) => [e.action, e.object, e.tenant, e.actor, e.role, e.remote].some((v) => v && String(v).toLowerCase().includes(needle))) : entries;
    const rows = shown.map((e) => [when(e.at), h("td", { class: "mono" }, e.actor), e.role, e.tenant ?? "—", h("td", null, h("code", null, e.action)), h("td", { class: "mono" }, e.object), e.remote ?? "—", e.detail ? h("td", { class: "mono small wrap" }, JSON.stringify(e.detail)) : "—"]);
    slot.replaceChildren(table(`Newest ${fmtNumber(shown.length)} entries`, ["When", "Token", "Role", "Tenant", "Action", "Object", "From", "Detail"], rows, { empty: "No entries." }));
  };
  const load = async () => {
    const page = await api(`/v1/audit?limit=${limit}`, { signal: ctx.signal });
    entries = page.entries;
    more.hidden = !page.next || limit >= 10000;
    paint();
  };
  filter.addEventListener("input", paint);
  more.addEventListener("click", async () => {
    limit = Math.min(10000, limit * 5);
    await load();
    ctx.announce(`Showing up to ${limit} entries`);
  });
  await load();
}
