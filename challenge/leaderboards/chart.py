"""Geometry of the server-rendered SVG line chart (the template draws it).

Computed here, in plain numbers, so the page needs no JavaScript and the
template stays a list of shapes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDTH, HEIGHT = 720, 360
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 20, 56
LEGEND_ROW = 20  # the legend sits under the plot, one row per line, so long names fit
#: Distinguishable for common colour-vision deficiencies (Okabe-Ito).
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: float
    label: str  # the point's tooltip / accessible name
    href: str


@dataclass(frozen=True)
class Line:
    name: str
    colour: str
    points: list[Point]

    @property
    def path(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True)
class Tick:
    at: float  # pixel position
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: int  # x of the plot's right edge
    top: int
    bottom: int  # y of the plot's bottom edge
    legend_top: int
    lines: list[Line]
    x_ticks: list[Tick]
    y_ticks: list[Tick]


def _nice_top(value: float) -> float:
    """A round upper bound for the y axis (0.1, 0.2, 0.25, 0.5, 1 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def line_chart(series: dict[str, list[tuple[int, float, str, str]]]) -> Chart:
    """Lines of (year, value, label, href) per name; years on x, values from 0 on y."""
    years = sorted({year for points in series.values() for year, *_ in points})
    values = [value for points in series.values() for _, value, *_ in points]
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM
    top_value = _nice_top(max(values, default=1.0))
    first, last = (years[0], years[-1]) if years else (0, 1)

    def x_of(year: int) -> float:
        if first == last:
            return (LEFT + right) / 2
        return LEFT + (year - first) / (last - first) * (right - LEFT)

    def y_of(value: float) -> float:
        return bottom - value / top_value * (bottom - TOP)

    lines = [
        Line(name=name, colour=COLOURS[i % len(COLOURS)],
             points=[Point(x_of(year), y_of(value), value, label, href)
                     for year, value, label, href in sorted(points)])
        for i, (name, points) in enumerate(series.items())
    ]
    y_ticks = [Tick(y_of(top_value * i / 5), f"{top_value * i / 5:g}") for i in range(6)]
    x_ticks = [Tick(x_of(year), str(year)) for year in years]
    height = HEIGHT + LEGEND_ROW * len(lines)
    return Chart(WIDTH, height, LEFT, right, TOP, bottom, HEIGHT, lines, x_ticks, y_ticks)
