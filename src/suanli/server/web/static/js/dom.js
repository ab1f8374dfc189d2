// Building the page: elements from data, always as text (never innerHTML), and the
// formats every page shares (times in the browser's zone, with UTC in the tooltip).

const SVG = "http://www.w3.org/2000/svg"; // an XML namespace name, not a place anything is loaded from

function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.setAttribute("class", value);
    else if (name === "text") element.textContent = value;
    else if (name in element && !(element instanceof SVGElement) && typeof value !== "string") element[name] = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** An HTML element: h("td", {class: "num"}, "42"). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG, tag), attrs, children);
}

/** A table with a caption and column headers; rows are arrays of cells (nodes or text). */
export function table(caption, headers, rows, { empty = "None.", label } = {}) {
  const body = h("tbody", null, rows.map((cells) => h("tr", null, cells.map((cell) => (cell instanceof HTMLTableCellElement ? cell : h("td", null, cell))))));
  const node = h(
    "div",
    { class: "table-wrap", tabindex: 0, role: "region", "aria-label": label ?? caption },
    h("table", null, h("caption", null, caption), h("thead", null, h("tr", null, headers.map((name) => h("th", { scope: "col" }, name)))), body),
  );
  if (!rows.length) node.append(h("p", { class: "muted" }, empty));
  return node;
}

export function num(value, digits = 0) {
  return h("td", { class: "num" }, fmtNumber(value, digits));
}

// Numbers and times are formatted here by hand, not with Intl: a fresh tab's first Intl
// formatter loads ICU's data (12-17 ms in Chromium on the reference machine, and a
// toLocaleString with options costs 20-35 us a call), which the first view would pay. The
// output is Intl's for en-US numbers and en-GB "3 Dec, 14:05" (tests/test_dashboard_browser.py
// compares them); the charts, drawn after the first view, use Intl.
const GROUPS = /\B(?=(\d{3})+(?!\d))/g;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** "12,345" or with `digits` decimals "1,234.50" (en-US; rounding half away from zero, as Intl). */
export function fmtNumber(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "—";
  const n = Number(value);
  const fixed = Math.abs(n).toFixed(digits);
  if (!Number.isFinite(n) || fixed.includes("e")) return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const [whole, fraction] = fixed.split(".");
  const sign = n < 0 || Object.is(n, -0) ? "-" : ""; // Intl writes -0.004 as "-0" too
  return `${sign}${whole.replace(GROUPS, ",")}${fraction ? `.${fraction}` : ""}`;
}

const pad2 = (n) => String(n).padStart(2, "0");

/** "3 Dec, 14:05" in the browser's zone (Intl's en-GB day, short month, 24-hour time). */
export function clockText(date) {
  return `${date.getDate()} ${MONTHS[date.getMonth()]}, ${pad2(date.getHours())}:${pad2(date.getMinutes())}`;
}

/** `make()` once, on first use: an Intl formatter costs milliseconds to build. */
export function lazy(make) {
  let made = null;
  return () => (made ??= make());
}

/** A <time> in the browser's zone ("3 Dec, 14:05"), ISO UTC in its tooltip. */
export function when(iso, { relative = false } = {}) {
  if (!iso) return "—";
  const date = new Date(iso);
  const text = clockText(date) + (relative ? ` (${ago(iso)})` : "");
  return h("time", { datetime: date.toISOString(), title: `${date.toISOString().replace(".000Z", "Z")} UTC` }, text);
}

/** "12 s ago", "in 5 min". */
export function ago(iso, now = Date.now()) {
  const seconds = (new Date(iso).getTime() - now) / 1000;
  const span = duration(Math.abs(seconds));
  return seconds >= 0 ? `in ${span}` : `${span} ago`;
}

/** "45 s", "12 min", "3 h 20 min", "2 d 4 h". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

/** A badge whose word carries the meaning (the colour only repeats it). */
export function badge(text, kind = text) {
  return h("span", { class: `badge badge-${String(kind).toLowerCase()}` }, text);
}

/** A meter of `used` of `total` with its figures beside it (`digits` decimals; past 90 %
 * of the total the browser shows it as high). */
export function meter(used, total, label, { digits = 0 } = {}) {
  const max = total > 0 ? total : 1;
  return h(
    "span",
    { class: "meter" },
    h("meter", { min: 0, max, high: 0.9 * max, optimum: 0, value: Math.min(used, max), "aria-label": label }),
    h("span", { class: "num" }, `${fmtNumber(used, digits)} / ${fmtNumber(total, digits)}`),
  );
}

export function sum(values) {
  return values.reduce((a, b) => a + b, 0);
}
