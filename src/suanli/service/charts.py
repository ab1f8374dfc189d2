"""Small, dependency-free SVG charts for the HTML report: a line chart (optionally with a
log-scale x axis, and a log-scale y axis that keeps zero) and a grouped bar chart.

Every chart is one ``<svg>`` string with a title, axes, tick labels, axis titles and a
legend; all text is escaped. Non-finite values are skipped (and, on a log axis, values
<= 0), so a chart with nothing to draw still renders its frame and says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from html import escape

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442")
"""Okabe & Ito's colour-blind-safe palette (yellow last: it is faint on white)."""

_CHAR_W = 6.6
"""Approximate width of one character of 12 px sans-serif text, in pixels."""


@dataclass(frozen=True)
class Frame:
    """A chart's size, margins, title and axis titles."""

    title: str
    x_label: str
    y_label: str
    width: int = 960
    height: int = 380
    left: int = 74
    right: int = 24
    top: int = 74
    bottom: int = 56

    @property
    def x0(self) -> float:
        return float(self.left)

    @property
    def x1(self) -> float:
        return float(self.width - self.right)

    @property
    def y0(self) -> float:
        return float(self.height - self.bottom)

    @property
    def y1(self) -> float:
        return float(self.top)


@dataclass(frozen=True)
class Line:
    """One line of a line chart; ``note`` is shown after the name in the legend."""

    name: str
    colour: str
    xs: Sequence[float]
    ys: Sequence[float]
    note: str = ""


@dataclass(frozen=True)
class Bars:
    """One series of a grouped bar chart: one value per group."""

    name: str
    colour: str
    values: Sequence[float]


@dataclass(frozen=True)
class Scale:
    """Maps data values in [lo, hi] to pixels in [start, end], linearly or by
    log10(value + shift) (``shift`` = 1 puts 0 at the bottom of a log axis of counts)."""

    lo: float
    hi: float
    start: float
    end: float
    log: bool = False
    shift: float = 0.0

    def __call__(self, value: float) -> float:
        lo, hi, v = self.lo, self.hi, value
        if self.log:
            lo, hi, v = (math.log10(x + self.shift) for x in (lo, hi, value))
        return self.start + (v - lo) / (hi - lo) * (self.end - self.start)


# -- ticks -----------------------------------------------------------------------------------


def nice_step(span: float, target: int = 6) -> float:
    """A round step (1, 2, 2.5 or 5 x 10^k) giving about ``target`` intervals over ``span``."""
    raw = span / max(target, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for mantissa in (1.0, 2.0, 2.5, 5.0):
        if raw <= mantissa * magnitude * (1 + 1e-9):
            return mantissa * magnitude
    return 10.0 * magnitude


def linear_ticks(lo: float, hi: float, target: int = 6) -> tuple[float, float, list[float]]:
    """A rounded domain enclosing [lo, hi] and its ticks."""
    if not hi > lo:
        hi = lo + (abs(lo) or 1.0)
    step = nice_step(hi - lo, target)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    ticks = [i * step for i in range(first, last + 1)]
    return ticks[0], ticks[-1], ticks


def log_ticks(lo: float, hi: float) -> tuple[float, float, list[float]]:
    """A domain of whole decades enclosing [lo, hi] (both > 0) and a tick per decade
    (every other one past 8 decades)."""
    a = math.floor(math.log10(lo))
    b = max(math.ceil(math.log10(hi)), a + 1)
    every = 2 if b - a > 8 else 1
    ticks = [10.0**k for k in range(a, b + 1, every)]
    return 10.0**a, 10.0**b, ticks


def log1p_ticks(hi: float) -> tuple[float, float, list[float]]:
    """A y domain [0, 10^k] on a log(1 + y) axis enclosing ``hi`` (>= 0), ticked at 0, 1, 10, ..."""
    top = max(math.ceil(math.log10(max(hi, 1.0)) - 1e-9), 1)
    ticks = [0.0, *(10.0**k for k in range(top + 1))]
    return 0.0, ticks[-1], ticks


def format_number(value: float, step: float) -> str:
    """``value`` with just the decimals ``step`` needs (thousands separated)."""
    decimals = 0
    while decimals < 9 and abs(round(step, decimals) - step) > abs(step) * 1e-6:
        decimals += 1
    text = f"{value:,.{decimals}f}"
    return "0" if text.lstrip("-").strip("0.,") == "" else text


def format_log(value: float) -> str:
    exponent = math.floor(math.log10(value) + 1e-9)
    return f"{value:,.0f}" if exponent >= 0 else f"{value:.{-exponent}f}"


# -- SVG pieces ------------------------------------------------------------------------------


def _text(x: float, y: float, text: str, extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(text)}</text>'


def _segment(x1: float, y1: float, x2: float, y2: float, stroke: str, extra: str = "") -> str:
    return f'<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{y1:.1f}" y2="{y2:.1f}" stroke="{stroke}"{extra}/>'


def _open(frame: Frame, css_class: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {css_class}" viewBox="0 0 {frame.width} '
        f'{frame.height}" width="{frame.width}" height="{frame.height}" role="img" '
        f'aria-label="{escape(frame.title)}" font-family="system-ui, sans-serif" font-size="12">'
        f'<rect width="{frame.width}" height="{frame.height}" fill="#ffffff"/>'
        + _text(frame.left, 24, frame.title, ' class="title" font-size="16" font-weight="600"')
    )


def _legend(frame: Frame, entries: Sequence[tuple[str, str]]) -> str:
    """A row (wrapping) of colour swatches and names under the title."""
    parts = ['<g class="legend">']
    x, y = frame.x0, 46.0
    for label, colour in entries:
        width = 26 + _CHAR_W * len(label) + 18
        if x + width > frame.x1 and x > frame.x0:
            x, y = frame.x0, y + 18
        parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="18" height="10" fill="{colour}"/>')
        parts.append(_text(x + 24, y, label))
        x += width
    parts.append("</g>")
    return "".join(parts)


def _y_axis(frame: Frame, scale: Scale, ticks: Sequence[float], labels: Sequence[str]) -> str:
    parts = ['<g class="y-axis" text-anchor="end">']
    for tick, label in zip(ticks, labels, strict=True):
        y = scale(tick)
        parts.append(_segment(frame.x0, y, frame.x1, y, "#e3e3e3"))
        parts.append(_text(frame.x0 - 6, y + 4, label))
    parts.append(_segment(frame.x0, frame.y0, frame.x0, frame.y1, "#444"))
    middle = (frame.y0 + frame.y1) / 2
    x = max(18.0, frame.x0 - 56)  # beside the tick labels, also when the plot starts further right
    parts.append(
        _text(
            x,
            middle,
            frame.y_label,
            f' text-anchor="middle" transform="rotate(-90 {x:.1f} {middle:.1f})" class="axis-title"',
        )
    )
    parts.append("</g>")
    return "".join(parts)


def _x_axis(frame: Frame, scale: Scale, ticks: Sequence[float], labels: Sequence[str], grid: bool) -> str:
    parts = ['<g class="x-axis" text-anchor="middle">']
    for tick, label in zip(ticks, labels, strict=True):
        x = scale(tick)
        if grid:
            parts.append(_segment(x, frame.y0, x, frame.y1, "#eeeeee"))
        parts.append(_segment(x, frame.y0, x, frame.y0 + 5, "#444"))
        parts.append(_text(x, frame.y0 + 18, label))
    parts.append(_segment(frame.x0, frame.y0, frame.x1, frame.y0, "#444"))
    parts.append(_text((frame.x0 + frame.x1) / 2, frame.height - 10, frame.x_label, ' class="axis-title"'))
    parts.append("</g>")
    return "".join(parts)


def _no_data(frame: Frame, message: str = "no data to plot") -> str:
    x, y = (frame.x0 + frame.x1) / 2, (frame.y0 + frame.y1) / 2
    return _text(x, y, message, ' text-anchor="middle" fill="#888" font-size="14"')


def _emptiness(frame: Frame, values: Sequence[float]) -> str:
    """A note in the plot when there is nothing to see: no values, or all of them 0."""
    if not values:
        return _no_data(frame)
    if all(v == 0 for v in values):
        return _no_data(frame, "all values are 0")
    return ""


def _note(frame: Frame, note: str) -> str:
    """A remark at the top right of the plot (e.g. why an axis is on a log scale)."""
    if not note:
        return ""
    return _text(frame.x1, 24, note, ' class="chart-note" text-anchor="end" fill="#8a4b00" font-size="12"')


def _markers(frame: Frame, scale: Scale, markers: Sequence[tuple[float, str]]) -> str:
    """Dashed vertical reference lines (e.g. 1 h, 1 day) with a label at the top."""
    parts = ['<g class="markers" fill="#777" text-anchor="middle">']
    for value, label in markers:
        if not min(scale.lo, scale.hi) <= value <= max(scale.lo, scale.hi):
            continue
        x = scale(value)
        parts.append(_segment(x, frame.y0, x, frame.y1, "#999", ' stroke-dasharray="4 4"'))
        parts.append(_text(x, frame.y1 - 4, label, ' font-size="11"'))
    parts.append("</g>")
    return "".join(parts)


# -- line chart ------------------------------------------------------------------------------


def _finite_points(line: Line, log_x: bool) -> list[tuple[float, float]]:
    return [
        (float(x), float(y))
        for x, y in zip(line.xs, line.ys, strict=True)
        if math.isfinite(x) and math.isfinite(y) and (x > 0 or not log_x)
    ]


def _x_domain(points: Sequence[tuple[float, float]], log_x: bool, x_ticks: Sequence[float] | None) -> Scale:
    xs = [p[0] for p in points]
    if x_ticks:
        return Scale(min(x_ticks), max(x_ticks), 0, 1, log_x)
    if log_x:
        lo, hi, _ = log_ticks(min(xs, default=0.1), max(xs, default=10.0))
    else:
        lo, hi, _ = linear_ticks(min(xs, default=0.0), max(xs, default=1.0))
    return Scale(lo, hi, 0, 1, log_x)


def line_chart(
    frame: Frame,
    lines: Sequence[Line],
    *,
    log_x: bool = False,
    x_ticks: Sequence[float] | None = None,
    y_max: float | None = None,
    markers: Sequence[tuple[float, str]] = (),
    log_y: bool = False,
    note: str = "",
) -> str:
    """A line chart, y from 0; ``x_ticks`` fixes the x domain and ticks, ``y_max`` the top of y.

    ``log_y`` draws y on a log(1 + y) axis (for counts >= 0: zero stays on the axis, and
    a curve 100 times lower than another stays readable); ``note`` is shown at the top
    right, to say so."""
    series = [(line, _finite_points(line, log_x)) for line in lines]
    points = [p for _, pts in series for p in pts]
    domain = _x_domain(points, log_x, x_ticks)
    if x_ticks:
        ticks = list(x_ticks)
    else:
        ticks = log_ticks(domain.lo, domain.hi)[2] if log_x else linear_ticks(domain.lo, domain.hi)[2]
    x_scale = Scale(domain.lo, domain.hi, frame.x0, frame.x1, log_x)
    x_labels = [format_log(t) if log_x else format_number(t, _step(ticks)) for t in ticks]
    top = y_max if y_max is not None else max((p[1] for p in points), default=0.0)
    if log_y:
        series = [(line, [(x, y) for x, y in pts if y >= 0]) for line, pts in series]
        y_lo, y_hi, y_ticks = log1p_ticks(max(top, 0.0))
        y_scale = Scale(y_lo, y_hi, frame.y0, frame.y1, log=True, shift=1.0)
        y_labels = ["0" if t == 0 else format_log(t) for t in y_ticks]
    else:
        y_lo, y_hi, y_ticks = linear_ticks(0.0, max(top, 0.0) or 1.0, 5)
        y_scale = Scale(y_lo, y_hi, frame.y0, frame.y1)
        y_labels = [format_number(t, _step(y_ticks)) for t in y_ticks]
    parts = [
        _open(frame, "line-chart log-y" if log_y else "line-chart"),
        _note(frame, note),
        _legend(frame, [(f"{line.name} {line.note}".strip(), line.colour) for line in lines]),
        _y_axis(frame, y_scale, y_ticks, y_labels),
        _x_axis(frame, x_scale, ticks, x_labels, grid=True),
        _markers(frame, x_scale, markers),
    ]
    for line, pts in series:
        parts.append(_polyline(line, pts, x_scale, y_scale))
    parts.append(_emptiness(frame, [p[1] for p in points]))
    parts.append("</svg>")
    return "".join(parts)


def _step(ticks: Sequence[float]) -> float:
    return ticks[1] - ticks[0] if len(ticks) > 1 else 1.0


def _polyline(line: Line, points: Sequence[tuple[float, float]], x: Scale, y: Scale) -> str:
    if not points:
        return ""
    coords = " ".join(f"{x(px):.1f},{y(py):.1f}" for px, py in points)
    return (
        f'<polyline class="series" data-name="{escape(line.name)}" fill="none" stroke="{line.colour}" '
        f'stroke-width="2" stroke-linejoin="round" points="{coords}"><title>{escape(line.name)}</title></polyline>'
    )


# -- grouped bar chart -----------------------------------------------------------------------


def bar_chart(
    frame: Frame, groups: Sequence[str], bars: Sequence[Bars], *, unit: str = "", reference: float | None = None
) -> str:
    """Grouped bars: one group per entry of ``groups``, one bar per series in each group;
    ``reference`` draws a dashed horizontal line at that value (e.g. 1 for ratios)."""
    band = (frame.x1 - frame.x0) / max(len(groups), 1)
    longest = max((len(g) for g in groups), default=0) * _CHAR_W
    rotate = longest > band - 6
    if rotate:  # room below the axis (and left of it) for slanted labels, the plot keeping its size
        extra = max(0, int(longest * 0.5 + 40) - frame.bottom)
        frame = replace(frame, bottom=frame.bottom + extra, height=frame.height + extra)
        # the first label ends under its group's middle and reaches cos(30 deg) x its length left
        wider = max(0, int(longest * 0.87 - band / 2 + 8) - frame.left)
        frame = replace(frame, left=frame.left + wider, width=frame.width + wider)
    values = [v for series in bars for v in series.values if math.isfinite(v)]
    top = max([*values, reference or 0.0], default=0.0)
    y_lo, y_hi, y_ticks = linear_ticks(0.0, top if top > 0 else 1.0, 5)
    y_scale = Scale(y_lo, y_hi, frame.y0, frame.y1)
    y_labels = [format_number(t, _step(y_ticks)) for t in y_ticks]
    parts = [
        _open(frame, "bar-chart"),
        _legend(frame, [(series.name, series.colour) for series in bars]),
        _y_axis(frame, y_scale, y_ticks, y_labels),
        _group_axis(frame, groups, band, rotate),
    ]
    width = band * 0.8 / max(len(bars), 1)
    for index, series in enumerate(bars):
        parts.append(f'<g class="series" data-name="{escape(series.name)}" fill="{series.colour}">')
        for group, value in enumerate(series.values):
            if not math.isfinite(value) or group >= len(groups):
                continue
            x = frame.x0 + band * group + band * 0.1 + width * index
            y = y_scale(max(value, 0.0))
            tip = f"{series.name}, {groups[group]}: {value:,.4g}{unit}"
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width - 1, 1):.1f}" height="{frame.y0 - y:.1f}">'
                f"<title>{escape(tip)}</title></rect>"
            )
        parts.append("</g>")
    if reference is not None:
        y = y_scale(reference)
        parts.append(_segment(frame.x0, y, frame.x1, y, "#555", ' class="reference" stroke-dasharray="6 4"'))
    parts.append(_emptiness(frame, values))
    parts.append("</svg>")
    return "".join(parts)


def _group_axis(frame: Frame, groups: Sequence[str], band: float, rotate: bool) -> str:
    anchor = "end" if rotate else "middle"
    parts = [f'<g class="x-axis" text-anchor="{anchor}">']
    for index, group in enumerate(groups):
        x = frame.x0 + band * (index + 0.5)
        y = frame.y0 + 16
        extra = f' transform="rotate(-30 {x:.1f} {y:.1f})"' if rotate else ""
        parts.append(_text(x, y, group, extra))
    parts.append(_segment(frame.x0, frame.y0, frame.x1, frame.y0, "#444"))
    parts.append(
        _text((frame.x0 + frame.x1) / 2, frame.height - 8, frame.x_label, ' text-anchor="middle" class="axis-title"')
    )
    parts.append("</g>")
    return "".join(parts)
