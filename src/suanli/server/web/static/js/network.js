// The network: every registered site on a map of China's provinces (marks sized by
// capacity, coloured by the share in use) and in a table (inventory by accelerator type,
// in use / total, PUE, state, heartbeat age). GET /v1/sites, /v1/usage, /ui/geo.

import { api, asset, listing } from "./api.js";
import { ago, badge, fmtNumber, h, meter, num, s, sum, table } from "./dom.js";

let outline = null; // china.json, fetched once per page load
const REFRESH_MS = 5000;
const WAITING = ["PENDING", "PREEMPTED", "PLACED"];

export async function render(ctx) {
  const [sites, geo, usage, map] = await Promise.all([
    api("/v1/sites", { signal: ctx.signal }),
    api("/ui/geo", { signal: ctx.signal }).catch(() => ({ sites: {} })),
    listing("/v1/usage", "usage", { signal: ctx.signal }).catch(() => ({ items: [] })),
    outline ?? asset("/ui/static/china.json").catch(() => null),
  ]);
  outline = map;
  const cards = h("div", { class: "cards" });
  const figure = h("figure", { class: "map" });
  const tableSlot = h("div");
  ctx.main.replaceChildren(
    h("h1", { tabindex: -1 }, "Network"),
    cards,
    h("div", { class: "network" }, figure, tableSlot),
  );
  const paint = (list, counts) => {
    cards.replaceChildren(...summary(list, counts));
    figure.replaceChildren(...drawMap(list, geo.sites, outline));
    tableSlot.replaceChildren(siteTable(list, geo.sites));
  };
  paint(sites.sites, usage.items);
  ctx.every(REFRESH_MS, async () => {
    const [again, used] = await Promise.all([api("/v1/sites", { signal: ctx.signal }), listing("/v1/usage", "usage", { signal: ctx.signal })]);
    if (!tableSlot.contains(document.activeElement)) paint(again.sites, used.items);
  });
}

function totals(site) {
  const total = sum(Object.values(site.inventory));
  const used = sum(Object.values(site.in_use));
  return { total, used, share: total ? used / total : 0 };
}

function summary(sites, usage) {
  const up = sites.filter((site) => site.state !== "down").length;
  const all = sites.map(totals);
  const jobs = {};
  for (const tenant of usage) for (const [state, n] of Object.entries(tenant.jobs)) jobs[state] = (jobs[state] ?? 0) + n;
  const card = (label, value, detail) => h("div", { class: "card" }, h("span", { class: "card-label" }, label), h("span", { class: "card-value" }, value), h("span", { class: "muted" }, detail));
  return [
    card("Sites up", `${up} / ${sites.length}`, `${sites.filter((site) => site.state === "degraded").length} degraded`),
    card("Accelerators in use", `${fmtNumber(sum(all.map((t) => t.used)))} / ${fmtNumber(sum(all.map((t) => t.total)))}`, "across every type"),
    card("Jobs running", fmtNumber(jobs.RUNNING ?? 0), `${fmtNumber(sum(WAITING.map((state) => jobs[state] ?? 0)))} waiting`),
  ];
}

function colour(share) {
  // light to dark blue: every step keeps 3:1 against the map's fill (WCAG 1.4.11)
  return share >= 0.85 ? "#08306b" : share >= 0.5 ? "#2163ad" : share > 0 ? "#4a8ac4" : "#6b9ecf";
}

function drawMap(sites, places, shape) {
  const caption = h("figcaption", null, "Sites by capacity (mark size: accelerators) and share in use (darker: busier). Hollow: down; amber ring: degraded. The table lists the same.");
  if (!shape) return [h("p", { class: "muted" }, "The map outline could not be loaded."), caption];
  const { lon0, lat0, px_per_deg_lon: kx, px_per_deg_lat: ky } = shape.projection;
  const biggest = Math.max(1, ...sites.map((site) => totals(site).total));
  const marks = [];
  for (const site of [...sites].sort((a, b) => totals(b).total - totals(a).total)) {
    const place = places[site.id];
    if (!place) continue;
    const { total, used, share } = totals(site);
    const x = (place.lon - lon0) * kx;
    const y = (lat0 - place.lat) * ky;
    const r = 4 + 14 * Math.sqrt(total / biggest);
    marks.push(
      s(
        "g",
        { class: `site site-${site.state}` },
        s("title", { text: `${site.id} (${place.province}): ${site.state}, ${fmtNumber(used)} of ${fmtNumber(total)} accelerators in use` }),
        s("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: r.toFixed(1), fill: site.state === "down" ? "none" : colour(share) }),
        s("text", { x: (x + r + 2).toFixed(1), y: (y + 4).toFixed(1) }, site.id),
      ),
    );
  }
  const svg = s(
    "svg",
    { viewBox: `0 0 ${shape.width} ${shape.height}`, role: "img", "aria-labelledby": "map-title" },
    s("title", { id: "map-title", text: `Map of ${marks.length} sites on China's provinces` }),
    s("g", { class: "land" }, shape.regions.map((region) => s("path", { d: region.d, class: ["Taiwan", "Hong Kong", "Macau"].includes(region.name) ? "merged" : null }, s("title", { text: region.name })))),
    s("g", { class: "marks" }, marks),
  );
  return [svg, caption];
}

function siteTable(sites, places) {
  const rows = sites.map((site) => {
    const { total, used } = totals(site);
    const place = places[site.id];
    const types = Object.keys(site.inventory).sort();
    const stateCell = h("td", null, badge(site.state), site.state === "degraded" && site.fault ? h("div", { class: "muted small" }, site.fault) : null);
    return [
      h("td", null, h("strong", null, site.id), place ? h("div", { class: "muted small" }, place.name) : null),
      site.region ?? place?.province ?? "—",
      stateCell,
      site.last_heartbeat ? h("time", { datetime: site.last_heartbeat, title: site.last_heartbeat }, ago(site.last_heartbeat)) : "never",
      num(site.pue, 2),
      site.executor ?? "—",
      h("td", null, h("ul", { class: "inventory" }, types.map((type) => h("li", null, h("span", { class: "type" }, type), meter(site.in_use[type] ?? 0, site.inventory[type], `${type} in use at ${site.id}`))))),
      h("td", { class: "num" }, `${fmtNumber(used)} / ${fmtNumber(total)}`),
    ];
  });
  return table("Sites", ["Site", "Province", "State", "Heartbeat", "PUE", "Engine", "Accelerators in use / total", "All"], rows, { empty: "No site has registered yet: start `suanli agent` at a site." });
}
