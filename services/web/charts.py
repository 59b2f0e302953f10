"""Charts drawn on the server as SVG from the data: a horizontal bar chart and a stacked
column chart over time. Each SVG names itself (<title>, <desc>) and comes with the rows of an
accessible data table (the page shows it next to the chart). No inline style: SVG presentation
attributes only, every text escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup

from shared.rupiah import thousands

BAR = "#0b4f8a"
TEXT = "#1b1f24"
MUTED = "#5b6470"
GRID = "#d3d9e0"
# Colour-blind safe categorical palette (Okabe-Ito, without yellow for contrast on white).
SERIES = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#d55e00", "#56b4e9", "#5b6470")

FONT = 'font-family="system-ui, sans-serif"'


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    href: str | None = None
    note: str = ""  # shown after the value in the table (e.g. a rupiah amount)
    full: str = ""  # the whole name, in the table and the tooltip, when `label` is a short one

    @property
    def name(self) -> str:
        return f"{self.label} · {self.full}" if self.full else self.label


@dataclass
class Chart:
    """An SVG and the table of the same data (headers, then rows of cells)."""

    svg: Markup
    title: str
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    numeric: list[bool] = field(default_factory=list)  # which columns are numbers (right-aligned)
    empty: bool = False


def fmt(value: float) -> str:
    """1250000 -> 1.250.000 (whole numbers, dots for thousands)."""
    return thousands(round(value))


# Advance widths in em of a wide sans-serif (DejaVu Sans, what system-ui falls back to on Linux;
# Segoe UI, Roboto and Helvetica are narrower): measuring with it, a label never overflows.
_NARROW = dict.fromkeys(" .,:;!|'il", 0.32) | dict.fromkeys("ftjrI()[]-/", 0.40)
_WIDE = dict.fromkeys("mwMW", 0.98) | dict.fromkeys("ABCDEFGHJKLNOPQRSTUVXYZ", 0.74) | {"…": 1.0, "–": 0.5}
_DEFAULT_EM = 0.64  # other lower-case letters and digits


def text_width(text: str, size: float) -> float:
    """The width in px that `text` takes at font size `size` (an upper estimate)."""
    return sum(_NARROW.get(ch, _WIDE.get(ch, _DEFAULT_EM)) for ch in text) * size


def fit(text: str, width: float, size: float) -> str:
    """`text`, or as much of it as fits in `width` px followed by an ellipsis."""
    if text_width(text, size) <= width:
        return text
    room = width - text_width("…", size)
    cut = ""
    for ch in text:
        if text_width(cut + ch, size) > room:
            break
        cut += ch
    return cut.rstrip() + "…"


def axis_step(value: float, most: int = 5) -> int:
    """The smallest round step (1, 2 or 5 times a power of ten) that reaches the value in at
    most `most` steps."""
    if value <= 0:
        return 1
    power = 1
    while True:
        for step in (power, 2 * power, 5 * power):
            if math.ceil(value / step) <= most:
                return step
        power *= 10


def _open(svg_id: str, width: int, height: int, title: str, desc: str, *, links: bool = False) -> Markup:
    """The <svg> with its name and description: an image, or a group when it holds links
    (an image may not contain interactive elements)."""
    return Markup(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="{role}" '
        'aria-labelledby="{id}-judul {id}-uraian" {font}><title id="{id}-judul">{t}</title>'
        '<desc id="{id}-uraian">{d}</desc>'
    ).format(w=width, h=height, id=svg_id, t=title, d=desc, font=Markup(FONT), role="group" if links else "img")  # noqa: S704 - FONT is a constant of this module


LABEL_SIZE = 12


def bar_chart(bars: Sequence[Bar], *, title: str, desc: str, svg_id: str, label_header: str,
              value_header: str = "Jumlah", note_header: str = "", max_label_w: int = 240) -> Chart:
    """Horizontal bars, one per item, in the order given, with the value at the end of each.
    The label column is as wide as its longest label (measured, at most `max_label_w` px); a
    longer label ends with an ellipsis inside the column and the whole name is in the bar's
    <title> and in the table."""
    row_h, top, pad = 22, 6, 6
    label_w = math.ceil(min(max((text_width(b.label, LABEL_SIZE) for b in bars), default=0), max_label_w)) + 2 * pad
    value_w = math.ceil(max((text_width(fmt(b.value), LABEL_SIZE) for b in bars), default=0)) + 2 * pad
    width = max(label_w + 240 + value_w, 320)
    bar_w = width - label_w - value_w
    height = top * 2 + row_h * max(len(bars), 1)
    top_value = max((b.value for b in bars), default=0)
    maximum = top_value if top_value > 0 else 1
    out = [_open(svg_id, width, height, title, desc, links=any(b.href for b in bars))]
    if not bars:
        out.append(Markup('<text x="{x}" y="{y}" fill="{c}" font-size="13">Belum ada data.</text>').format(
            x=8, y=top + 15, c=MUTED))
    for i, bar in enumerate(bars):
        y = top + i * row_h
        length = max(bar.value / maximum * bar_w, 1 if bar.value > 0 else 0)
        label = Markup('<text x="{x}" y="{ty}" text-anchor="end" fill="{c}" font-size="{s}">{t}</text>').format(
            x=label_w - pad, ty=y + 15, c=TEXT, s=LABEL_SIZE, t=fit(bar.label, label_w - 2 * pad, LABEL_SIZE))
        if bar.href:
            label = Markup('<a href="{h}">{l}</a>').format(h=bar.href, l=label)
        out.append(Markup('<g><title>{full}: {v}</title>').format(full=bar.name, v=fmt(bar.value)))
        out.append(label)
        out.append(Markup('<rect x="{x}" y="{y}" width="{w:.1f}" height="{h}" fill="{c}"/>').format(
            x=label_w, y=y + 4, w=length, h=row_h - 8, c=BAR))
        out.append(Markup('<text x="{x:.1f}" y="{ty}" fill="{c}" font-size="12">{v}</text></g>').format(
            x=label_w + length + 4, ty=y + 15, c=TEXT, v=fmt(bar.value)))
    out.append(Markup("</svg>"))
    headers = [label_header, value_header] + ([note_header] if note_header else [])
    rows = [[b.name, fmt(b.value)] + ([b.note] if note_header else []) for b in bars]
    return Chart(svg=Markup("").join(out), title=title, headers=headers, rows=rows,
                 numeric=[False, True] + ([True] if note_header else []), empty=not bars)


def stacked_columns(categories: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *, title: str,
                    desc: str, svg_id: str, category_header: str) -> Chart:
    """Columns over time (one per category, e.g. a year), each stacked by series (e.g. the
    form of cooperation), with a y axis, and a legend under the plot."""
    n = max(len(categories), 1)
    width = 480
    left, right, top, axis_h = 44, 8, 10, 22
    plot_h = 200
    legend_rows = (len(series) + 2) // 3
    height = top + plot_h + axis_h + 8 + legend_rows * 18
    totals = [sum(values[i] for _, values in series) for i in range(len(categories))]
    top_total = max(totals, default=0)
    step = axis_step(top_total)
    ticks = max(math.ceil(top_total / step), 1)
    maximum = step * ticks
    slot = (width - left - right) / n
    col_w = min(slot * 0.7, 48)
    base = top + plot_h
    out = [_open(svg_id, width, height, title, desc)]
    for k in range(ticks + 1):  # horizontal grid lines and axis labels
        v = step * k
        y = base - plot_h * k / ticks
        out.append(Markup('<line x1="{l}" x2="{r}" y1="{y:.1f}" y2="{y:.1f}" stroke="{g}" stroke-width="1"/>'
                          '<text x="{tx}" y="{ty:.1f}" text-anchor="end" fill="{c}" font-size="11">{v}</text>').format(
            l=left, r=width - right, y=y, g=GRID, tx=left - 4, ty=y + 4, c=MUTED, v=fmt(v)))
    for i, category in enumerate(categories):
        x = left + slot * i + (slot - col_w) / 2
        y = base
        out.append(Markup("<g><title>{c}: {t}</title>").format(c=category, t=fmt(totals[i])))
        for s, (_name, values) in enumerate(series):
            value = values[i]
            if value <= 0:
                continue
            h = value / maximum * plot_h
            y -= h
            out.append(Markup('<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{c}"/>').format(
                x=x, y=y, w=col_w, h=h, c=SERIES[s % len(SERIES)]))
        out.append(Markup('</g><text x="{x:.1f}" y="{y}" text-anchor="middle" fill="{c}" '
                          'font-size="11">{t}</text>').format(
            x=x + col_w / 2, y=base + 15, c=TEXT, t=category))
    if not categories:
        out.append(Markup('<text x="{x}" y="{y}" fill="{c}" font-size="13">Belum ada data.</text>').format(
            x=left + 8, y=top + 20, c=MUTED))
    for s, (name, _values) in enumerate(series):  # the legend
        lx = 8 + (s % 3) * 158
        ly = base + axis_h + 8 + (s // 3) * 18
        out.append(Markup('<rect x="{x}" y="{y}" width="12" height="12" fill="{c}"/>'
                          '<text x="{tx}" y="{ty}" fill="{t}" font-size="11">{n}</text>').format(
            x=lx, y=ly, c=SERIES[s % len(SERIES)], tx=lx + 16, ty=ly + 10, t=TEXT, n=fit(name, 138, 11)))
    out.append(Markup("</svg>"))
    headers = [category_header, *(name for name, _ in series), "Jumlah"]
    rows = [[c, *(fmt(values[i]) for _, values in series), fmt(totals[i])] for i, c in enumerate(categories)]
    return Chart(svg=Markup("").join(out), title=title, headers=headers, rows=rows,
                 numeric=[False, *(True for _ in series), True], empty=not categories)
