// Charts over time, drawn as inline SVG from GET /v1/history (no chart library). The
// network page's: the accelerators in use by site (stacked bars under the line of what the
// sites offered), free accelerators by type (stacked bars under the total), jobs running and
// waiting (lines), metered carbon by site (stacked bars), and how far jobs started from their
// ETA (lines of the median and p90 error; a gap where no job had a forecast). The usage
// page's: cost and carbon by tenant (stacked bars; a tenant's token gets its own only). Each
// chart has a text alternative and its figures in a table beside it.

import { api } from "./api.js";
import { fmtNumber, h, lazy, s, table } from "./dom.js";

export const WINDOWS = [
  // label, window_s, step_s: at most 168 points each
  ["1 hour", 3600, 60],
  ["6 hours", 21600, 300],
  ["24 hours", 86400, 1800],
  ["7 days", 604800, 3600],
];
const REFRESH_MS = 15000;
// Series colours: each keeps 3:1 against the chart's white (WCAG 1.4.11), neighbours differ in hue.
const PALETTE = ["#0b57d0", "#b3261e", "#146c2e", "#7c4dff", "#8a5300", "#00677f", "#c2185b", "#4e5d6c", "#5b6b00", "#6d3b8f"];
const MEDIAN = "median |error|";
const P90 = "p90 |error|";
const W = 640;
const H = 200;
const PAD = { left: 60, right: 10, top: 10, bottom: 26 };

let chosen = 0; // the window shown, kept while the dashboard stays open

const clock = lazy(() => new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }));
const day = lazy(() => new Intl.DateTimeFormat("en-GB", { month: "short", day: "numeric" }));
const sig = lazy(() => new Intl.NumberFormat("en-US", { maximumSignificantDigits: 3 }));

/** A chart's figure: three significant digits (a tiny job's kg CO2e is not "0.000"). */
function fig(value) {
  return value === null || value === undefined || Number.isNaN(value) ? "—" : sig().format(value);
}

function tick(iso, stepS) {
  const date = new Date(iso);
  return stepS >= 3600 ? `${day().format(date)} ${clock().format(date)}` : clock().format(date);
}

/**
 * A section of charts over time (the network page's unless `draw` says otherwise): loads and
 * redraws on its own, never holding up the page.
 */
export function section(ctx, { draw = drawNetwork, heading = "Over time", id = "history-title" } = {}) {
  const slot = h("div", { class: "charts", "aria-busy": "true" }, h("p", { class: "muted" }, "Loading the history…"));
  const buttons = WINDOWS.map(([label], i) =>
    h("button", { type: "button", class: i === chosen ? "" : "secondary", "aria-pressed": String(i === chosen), onclick: () => choose(i) }, label),
  );
  const load = async () => {
    const [, windowS, stepS] = WINDOWS[chosen];
    try {
      const data = await api(`/v1/history?window_s=${windowS}&step_s=${stepS}`, { signal: ctx.signal });
      if (ctx.signal.aborted) return;
      slot.replaceChildren(...draw(data));
      slot.removeAttribute("aria-busy");
      ctx.main.dataset.charts = String(windowS); // for tests and the bench: the charts have their data
      performance.mark("suanli:charts");
    } catch (error) {
      if (!ctx.signal.aborted) slot.replaceChildren(h("p", { class: "callout" }, `The history could not be loaded: ${error.message}`));
    }
  };
  const choose = (i) => {
    chosen = i;
    buttons.forEach((button, j) => {
      button.setAttribute("aria-pressed", String(j === i));
      button.className = j === i ? "" : "secondary";
    });
    load();
  };
  load();
  ctx.every(REFRESH_MS, load);
  return h(
    "section",
    { "aria-labelledby": id },
    h("h2", { id }, heading),
    h("div", { class: "filters", role: "group", "aria-label": "Time window" }, h("span", { class: "muted" }, "Window:"), buttons),
    slot,
  );
}

const total = (values) => values.reduce((a, b) => a + b, 0);
const stepText = (stepS) => (stepS >= 3600 ? `${stepS / 3600} h` : `${stepS / 60} min`);
/** Point by point, the sum of `series`' `key` arrays. */
const pointSums = (times, series, key) => times.map((_, k) => series.reduce((acc, one) => acc + one[key][k], 0));

function drawNetwork(data) {
  const order = [...data.in_use_by_site.map((site) => site.name), "running", "waiting", MEDIAN, P90];
  const colour = (name) => PALETTE[Math.max(order.indexOf(name), 0) % PALETTE.length];
  const sites = data.in_use_by_site.filter((site) => site.values.some((v) => v > 0) || site.capacity > 0);
  const now = data.in_use_by_site.reduce((sum, site) => sum + (site.capacity ?? 0), 0);
  const inventory = data.inventory_by_site ?? [];
  // what the sites offered at each point (registered, while up); an older server: today's capacity throughout
  const offered = inventory.length ? pointSums(data.times, inventory, "total") : data.times.map(() => now);
  const carbon = data.carbon_kg_by_site.filter((site) => site.values.some((v) => v > 0));
  const kwh = data.energy_kwh_by_site.reduce((sum, site) => sum + total(site.values), 0);
  const kg = carbon.reduce((sum, site) => sum + total(site.values), 0);
  const step = stepText(data.step_s);
  return [
    chart({
      id: "chart-use",
      title: "Accelerators in use by site",
      caption: `Mean accelerators held by runs per ${step}, stacked by site; the dashed line is the accelerators the sites offered (registered, while up; ${fmtNumber(now)} now).`,
      times: data.times,
      stepS: data.step_s,
      bars: sites,
      line: offered.some((v) => v > 0) ? { name: "capacity", values: offered, dashed: true } : null,
      unit: "accelerators",
      colour,
    }),
    ...(inventory.length ? [freeChart(data, step)] : []),
    chart({
      id: "chart-jobs",
      title: "Jobs running and waiting",
      caption: `Mean jobs running and waiting per ${step} (waiting: queued, held, or placed and not yet started).`,
      times: data.times,
      stepS: data.step_s,
      lines: [
        { name: "running", values: data.running },
        { name: "waiting", values: data.waiting },
      ],
      unit: "jobs",
      colour,
    }),
    chart({
      id: "chart-carbon",
      title: "Carbon by site",
      caption: `kg CO2e per ${step}, stacked by site: ${fig(kg)} kg CO2e and ${fig(kwh)} kWh in the window. Metered when a run ends (as Usage), spread over its duration.`,
      times: data.times,
      stepS: data.step_s,
      bars: carbon,
      unit: "kg CO2e",
      colour,
      empty: "No run metered in this window yet: a run's energy and carbon count once it ends.",
    }),
    ...(data.eta_accuracy ? [etaChart(data, step, colour)] : []),
  ];
}

/** Free accelerators by type (stacked) under the network's total, with what was in use. */
function freeChart(data, step) {
  const types = data.inventory_by_type.filter((type) => type.total.some((v) => v > 0) || type.busy.some((v) => v > 0));
  const order = types.map((type) => type.name);
  const colour = (name) => PALETTE[Math.max(order.indexOf(name), 0) % PALETTE.length];
  const totals = pointSums(data.times, types, "total");
  return chart({
    id: "chart-free",
    title: "Free accelerators by type",
    caption: `Mean accelerators free per ${step} (offered by a site that is up and held by no run, every tenant's), stacked by accelerator type; the dashed line is the network's total. The table also lists the accelerators in use.`,
    times: data.times,
    stepS: data.step_s,
    bars: types.map((type) => ({ name: type.name, values: type.free })),
    line: totals.some((v) => v > 0) ? { name: "total", values: totals, dashed: true } : null,
    extra: [{ name: "in use", values: pointSums(data.times, types, "busy") }],
    unit: "accelerators",
    colour,
    empty: "No site offered accelerators in this window.",
  });
}

/** The usage page's charts: each tenant's cost and carbon per point (a tenant's token: its own). */
export function drawTenants(data) {
  const names = data.cost_usd_by_tenant.map((tenant) => tenant.name);
  const colour = (name) => PALETTE[Math.max(names.indexOf(name), 0) % PALETTE.length];
  const step = stepText(data.step_s);
  const sums = (series) => series.map((tenant) => `${tenant.name} ${fig(total(tenant.values))}`).join(", ") || "none";
  const common = { times: data.times, stepS: data.step_s, colour, empty: "No run in this window." };
  const spent = data.cost_usd_by_tenant.filter((tenant) => tenant.values.some((v) => v > 0));
  const emitted = data.carbon_kg_by_tenant.filter((tenant) => tenant.values.some((v) => v > 0));
  const how = "each run's spread evenly over it, runs in progress metered to now (as the jobs' cost and CO2 so far)";
  return [
    chart({ ...common, id: "chart-cost", title: "Cost by tenant", caption: `USD per ${step}, stacked by tenant, ${how}. In the window: ${sums(spent)} USD.`, bars: spent, unit: "USD" }),
    chart({ ...common, id: "chart-tenant-carbon", title: "Carbon by tenant", caption: `kg CO2e per ${step}, stacked by tenant, ${how}. In the window: ${sums(emitted)} kg CO2e.`, bars: emitted, unit: "kg CO2e" }),
  ];
}

/** Predicted against actual starts: the median and p90 of |actual - predicted| per point. */
function etaChart(data, step, colour) {
  const { points, window: all } = data.eta_accuracy;
  const caption =
    `Seconds between each job's predicted and actual start, per ${step}: ${fmtNumber(all.started)} jobs started in the window, ` +
    `${fmtNumber(all.forecast)} with a forecast made before they started` +
    (all.forecast ? `: median ${fig(all.median_abs_error_s)} s, p90 ${fig(all.p90_abs_error_s)} s, median ${fig(all.median_error_s)} s late (negative: early).` : ".") +
    " A started job's forecast is replaced by its actual start, so only jobs whose last forecast came before they started count.";
  return chart({
    id: "chart-eta",
    title: "ETA accuracy",
    caption,
    times: data.times,
    stepS: data.step_s,
    lines: [
      { name: MEDIAN, values: points.map((p) => p.median_abs_error_s), dots: true },
      { name: P90, values: points.map((p) => p.p90_abs_error_s), dots: true },
    ],
    extra: [
      { name: "started", values: points.map((p) => p.started) },
      { name: "with a forecast", values: points.map((p) => p.forecast) },
    ],
    unit: "s",
    colour,
    empty: "No job that started in this window had a forecast made before it started.",
    hasData: all.forecast > 0,
  });
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10]) if (value <= m * power) return m * power;
  return 10 * power;
}

const known = (v) => v !== null && v !== undefined;

function chart({ id, title, caption, times, stepS, bars = [], lines = [], line = null, extra = [], unit, colour, empty, hasData }) {
  const n = times.length;
  const stacked = times.map((_, k) => bars.reduce((total, b) => total + b.values[k], 0));
  const all = [...lines, ...(line ? [line] : [])];
  const top = niceMax(Math.max(0, ...stacked, ...all.flatMap((l) => l.values.filter(known))));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const x = (k) => PAD.left + (k / Math.max(n, 1)) * plotW;
  const y = (v) => PAD.top + plotH - (v / top) * plotH;
  const barW = Math.max(plotW / Math.max(n, 1) - (n > 80 ? 0 : 1), 0.5);
  const series = [...bars.map((b) => b.name), ...lines.map((l) => l.name)];
  const grid = [0, top / 2, top].map((v) =>
    s("g", { class: "axis" }, s("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v).toFixed(1), y2: y(v).toFixed(1) }), s("text", { x: PAD.left - 4, y: (y(v) + 4).toFixed(1), "text-anchor": "end" }, fig(v))),
  );
  const labels = n ? [0, Math.floor(n / 2), n - 1].map((k) => s("text", { class: "axis", x: (x(k) + barW / 2).toFixed(1), y: H - 8, "text-anchor": "middle" }, tick(times[k], stepS))) : [];
  const rects = [];
  for (let k = 0; k < n; k += 1) {
    let base = 0;
    for (const b of bars) {
      const v = b.values[k];
      if (v > 0) rects.push(s("rect", { x: x(k).toFixed(1), y: y(base + v).toFixed(1), width: barW.toFixed(2), height: Math.max(y(base) - y(base + v), 0.5).toFixed(1), fill: colour(b.name) }));
      base += v;
    }
  }
  // A line breaks where a value is unknown (null): a new "M" after each gap.
  const path = (values) => values.map((v, k) => (known(v) ? `${k && known(values[k - 1]) ? "L" : "M"}${(x(k) + barW / 2).toFixed(1)},${y(v).toFixed(1)}` : "")).join("");
  // Lines with dots: a mark at each known value (a point with no known neighbour draws no line).
  const dots = lines.filter((l) => l.dots).flatMap((l) => l.values.flatMap((v, k) => (known(v) ? [s("circle", { cx: (x(k) + barW / 2).toFixed(1), cy: y(v).toFixed(1), r: 3, fill: colour(l.name) })] : [])));
  const paths = [
    ...dots,
    ...lines.map((l) => s("path", { d: path(l.values), fill: "none", stroke: colour(l.name), "stroke-width": 2 })),
    ...(line ? [s("path", { d: path(line.values), fill: "none", stroke: "#1b1f24", "stroke-width": 1.5, "stroke-dasharray": "5 4" })] : []),
  ];
  const peak = Math.max(0, ...stacked, ...lines.flatMap((l) => l.values.filter(known)));
  const summary = `${title}, ${n} points from ${tick(times[0], stepS)} to ${tick(times[n - 1], stepS)}: peak ${fig(peak)} ${unit}${series.length ? ` (${series.join(", ")})` : ""}.`;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": summary }, s("title", { text: summary }), grid, rects, paths, labels);
  const legend = h("ul", { class: "legend" }, series.map((name) => h("li", null, svgSwatch(colour(name)), name)), line ? h("li", null, svgSwatch("#1b1f24", true), line.name) : null);
  const columns = [...bars, ...lines, ...(line ? [line] : []), ...extra];
  const rows = times.map((time, k) => [tick(time, stepS), ...columns.map((c) => h("td", { class: "num" }, fig(c.values[k])))]);
  const nothing = hasData === undefined ? !bars.length && !lines.some((l) => l.values.some((v) => v > 0)) : !hasData;
  return h(
    "figure",
    { class: "chart", id },
    h("h3", null, title),
    nothing && empty ? h("p", { class: "muted" }, empty) : svg,
    legend,
    h("figcaption", null, caption),
    h("details", null, h("summary", null, `${title} as a table`), table(`${title} (${unit})`, ["From", ...series, ...(line ? [line.name] : []), ...extra.map((c) => c.name)], rows.reverse())),
  );
}

function svgSwatch(colour, dashed = false) {
  return s("svg", { viewBox: "0 0 14 14", width: 14, height: 14, "aria-hidden": "true" }, dashed ? s("line", { x1: 0, x2: 14, y1: 7, y2: 7, stroke: colour, "stroke-width": 2, "stroke-dasharray": "4 2" }) : s("rect", { width: 14, height: 14, rx: 2, fill: colour }));
}
