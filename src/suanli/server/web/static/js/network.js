// The network: every registered site on a map of China's provinces (marks sized by
// capacity, coloured by the share in use or by the grid's carbon intensity now) and in a
// table (inventory by accelerator type, in use / total, PUE, grid intensity now and over
// the day, state, heartbeat age), then charts over time (charts.js). GET /v1/sites,
// /v1/usage, /ui/geo, /v1/history.

import { api, asset, listing } from "./api.js";
import { section as charts } from "./charts.js";
import { ago, badge, fmtNumber, h, meter, num, s, sum, table } from "./dom.js";

let outline = null; // china.json, fetched once per page load
let colourBy = "use"; // the map's colour: "use" (share in use) or "grid" (gCO2/kWh now)
const GRID_STEPS = [
  // upper bound gCO2/kWh, colour (each 3:1 against the map's land), label
  [300, "#146c2e", "under 300"],
  [500, "#8a5300", "300-500"],
  [700, "#b3261e", "500-700"],
  [Infinity, "#5c0a0c", "700 and over"],
];
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
  let last = [sites.sites, usage.items];
  const paint = (list, counts) => {
    last = [list, counts];
    cards.replaceChildren(...summary(list, counts));
    figure.replaceChildren(...drawMap(list, geo.sites, outline));
    tableSlot.replaceChildren(siteTable(list, geo.sites), gridSources(list, geo.sites));
  };
  const toggle = h(
    "fieldset",
    { class: "filters toggle" },
    h("legend", { class: "muted" }, "Colour the map by"),
    [["use", "share in use"], ["grid", "grid carbon intensity now"]].map(([value, label]) =>
      h("label", null, h("input", { type: "radio", name: "colour-by", value, checked: colourBy === value, onchange: () => { colourBy = value; paint(...last); } }), ` ${label}`),
    ),
  );
  ctx.main.replaceChildren(
    h("h1", { tabindex: -1 }, "Network"),
    cards,
    h("div", { class: "network" }, h("div", null, toggle, figure), tableSlot),
    charts(ctx), // loads on its own: the map and the table do not wait for the history
  );
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

function gridColour(g) {
  return GRID_STEPS.find(([upper]) => g < upper)[1];
}

function colour(share) {
  // light to dark blue: every step keeps 3:1 against the map's fill (WCAG 1.4.11)
  return share >= 0.85 ? "#08306b" : share >= 0.5 ? "#2163ad" : share > 0 ? "#4a8ac4" : "#6b9ecf";
}

function drawMap(sites, places, shape) {
  const grid = colourBy === "grid";
  const caption = grid
    ? h("figcaption", null, "Sites by capacity (mark size: accelerators) and their grid's carbon intensity now, gCO2/kWh (", GRID_STEPS.map(([, c, label], i) => [i ? ", " : "", svgDot(c), " ", label]), "), beside each mark. Hollow: down; amber ring: degraded. Source: the catalogue's grid.yaml, as the planner reads it (the table's tooltips name it).")
    : h("figcaption", null, "Sites by capacity (mark size: accelerators) and share in use (darker: busier). Hollow: down; amber ring: degraded. The table lists the same.");
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
    const g = place.grid?.g_per_kwh_now;
    const intensity = g === undefined ? "" : `; grid ${fmtNumber(g)} gCO2/kWh now`;
    const fill = site.state === "down" ? "none" : grid && g !== undefined ? gridColour(g) : colour(share);
    marks.push(
      s(
        "g",
        { class: `site site-${site.state}`, "data-site": site.id, "data-grid": g ?? "" },
        s("title", { text: `${site.id} (${place.province}): ${site.state}, ${fmtNumber(used)} of ${fmtNumber(total)} accelerators in use${intensity}` }),
        s("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: r.toFixed(1), fill }),
        s("text", { x: (x + r + 2).toFixed(1), y: (y + 4).toFixed(1) }, grid && g !== undefined ? `${site.id} ${fmtNumber(g)} g` : site.id),
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
      gridCell(place?.grid),
      site.executor ?? "—",
      h("td", null, h("ul", { class: "inventory" }, types.map((type) => h("li", null, h("span", { class: "type" }, type), meter(site.in_use[type] ?? 0, site.inventory[type], `${type} in use at ${site.id}`))))),
      h("td", { class: "num" }, `${fmtNumber(used)} / ${fmtNumber(total)}`),
    ];
  });
  return table("Sites", ["Site", "Province", "State", "Heartbeat", "PUE", "Grid gCO2/kWh now · over the day", "Engine", "Accelerators in use / total", "All"], rows, { empty: "No site has registered yet: start `suanli agent` at a site." });
}

function svgDot(fill) {
  return s("svg", { viewBox: "0 0 10 10", width: 10, height: 10, "aria-hidden": "true" }, s("circle", { cx: 5, cy: 5, r: 5, fill }));
}

function gridCell(grid) {
  if (!grid) return h("td", { class: "muted" }, "—");
  const day = grid.day_g_per_kwh;
  const low = Math.min(...day);
  const high = Math.max(...day);
  const y = (v) => (high > low ? 18 - ((v - low) / (high - low)) * 16 : 10).toFixed(1);
  const d = day.map((v, i) => `${i ? "L" : "M"}${(i * 60 / 23).toFixed(1)},${y(v)}`).join("");
  const about = `${grid.region} grid, ${grid.year} average x the '${grid.profile}' hour-of-day shape${grid.estimated.length ? ` (estimated: ${grid.estimated.join(", ")})` : ""}. Source: ${grid.source}`;
  return h(
    "td",
    { class: "grid", title: about },
    h("span", { class: "num" }, h("strong", null, fmtNumber(grid.g_per_kwh_now)), " gCO2/kWh"),
    s(
      "svg",
      { class: "spark", viewBox: "-2 0 64 20", width: 64, height: 20, role: "img", "aria-label": `over the local day: ${fmtNumber(low)} to ${fmtNumber(high)} gCO2/kWh; now hour ${grid.local_hour}` },
      s("path", { d, fill: "none", stroke: "#4f5964", "stroke-width": 1.5 }),
      s("circle", { cx: (grid.local_hour * 60 / 23).toFixed(1), cy: y(day[grid.local_hour]), r: 2.5, fill: gridColour(grid.g_per_kwh_now) }),
    ),
    h("div", { class: "muted small" }, `${fmtNumber(low)}-${fmtNumber(high)} over the day · ${grid.region}`),
  );
}

function gridSources(sites, places) {
  const regions = new Map();
  for (const site of sites) {
    const grid = places[site.id]?.grid;
    if (grid) regions.set(grid.region, grid);
  }
  if (!regions.size) return "";
  return h(
    "details",
    { class: "sources" },
    h("summary", null, "Where the grid intensities come from"),
    h("p", { class: "muted small" }, "Each site's grid region: its latest annual average emission factor (location-based, gCO2/kWh) times an hour-of-day shape, from the catalogue's grid.yaml, read at the site's local hour as the live planner reads it."),
    h("ul", { class: "small" }, [...regions.values()].map((grid) => h("li", null, h("strong", null, `${grid.region} (${grid.year}, '${grid.profile}'): `), grid.source))),
  );
}
