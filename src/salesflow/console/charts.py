"""Small line charts as inline SVG, drawn on the server: no chart library, no script.

Every piece of text that came from data (dates, categories) is escaped; colours
come from CSS classes (``series-0`` ...), since the CSP allows no inline style.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40
SERIES_CLASSES = 8


@dataclass(frozen=True, slots=True)
class Series:
    """One line: a name and (x label, y value) points in x order."""

    name: str
    points: Sequence[tuple[str, float]]


def line_chart(title: str, series: Sequence[Series], y_format: str = "{:,.2f}") -> Markup:
    """An SVG line chart of one or more series sharing their x labels (dates, say)."""
    labels = sorted({x for s in series for x, _ in s.points})
    values = [y for s in series for _, y in s.points]
    if not labels:
        return Markup('<p class="empty">{}: no data yet</p>').format(title)
    low, high = min(0.0, *values), max(0.0, *values)
    if high == low:
        high = low + 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(label: str) -> float:
        return LEFT + (plot_w * labels.index(label) / (len(labels) - 1) if len(labels) > 1 else plot_w / 2)

    def y_of(value: float) -> float:
        return TOP + plot_h * (1 - (value - low) / (high - low))

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" xmlns="http://www.w3.org/2000/svg">',
        str(Markup("<title>{}</title>").format(title)),
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}"/>',
        _text(LEFT - 6, TOP + 4, y_format.format(high), "end"),
        _text(LEFT - 6, TOP + plot_h, y_format.format(low), "end"),
        _text(LEFT, HEIGHT - BOTTOM + 18, labels[0], "start"),
    ]
    if len(labels) > 1:
        parts.append(_text(WIDTH - RIGHT, HEIGHT - BOTTOM + 18, labels[-1], "end"))
    for index, line in enumerate(series):
        css = f"series-{index % SERIES_CLASSES}"
        coords = " ".join(f"{x_of(x):.1f},{y_of(y):.1f}" for x, y in line.points)
        parts.append(f'<polyline class="line {css}" points="{coords}"/>')
        for x, y in line.points:
            tip = escape(f"{line.name} {x}: {y_format.format(y)}")
            parts.append(
                f'<circle class="dot {css}" cx="{x_of(x):.1f}" cy="{y_of(y):.1f}" r="3"><title>{tip}</title></circle>'
            )
    parts.append("</svg>")
    legend = "".join(
        str(Markup('<li class="series-{}">{}</li>').format(i % SERIES_CLASSES, s.name)) for i, s in enumerate(series)
    )
    return Markup("".join(parts) + (f'<ul class="legend">{legend}</ul>' if len(series) > 1 else ""))


def _text(x: float, y: float, text: str, anchor: str) -> str:
    return str(Markup('<text x="{}" y="{}" text-anchor="{}">{}</text>').format(f"{x:.0f}", f"{y:.0f}", anchor, text))
