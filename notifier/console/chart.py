"""Server-drawn SVG bar charts: the dashboard's chart works with JavaScript off and needs
no charting library at all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 960, 260, 44, 28, 10
PALETTE = ("#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#64748b",
           "#db2777", "#65a30d", "#ea580c")


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    series: str
    day: date
    value: int


@dataclass(frozen=True)
class Chart:
    bars: tuple[Bar, ...]
    ticks: tuple[tuple[float, int], ...]          # (y, value) gridlines
    labels: tuple[tuple[float, str], ...]         # (x, day label)
    legend: tuple[tuple[str, str], ...]           # (series, colour)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: int = HEIGHT - BOTTOM


def _tick_step(top: int) -> int:
    """The smallest of 1, 2, 5 x 10^k with four steps reaching ``top``."""
    step = 1
    while True:
        for mult in (1, 2, 5):
            if step * mult * 4 >= top:
                return step * mult
        step *= 10


def stacked_bars(days: list[date], series: dict[str, dict[date, int]]) -> Chart:
    """One stacked bar per day, a segment per series (in the order given)."""
    totals = [sum(s.get(d, 0) for s in series.values()) for d in days]
    tick = _tick_step(max(totals, default=0) or 1)
    top = tick * 4
    plot_h = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT) / max(len(days), 1)
    width = max(slot * 0.7, 1.0)
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    bars = []
    for i, day in enumerate(days):
        y = float(HEIGHT - BOTTOM)
        for name, values in series.items():
            value = values.get(day, 0)
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            bars.append(Bar(LEFT + i * slot + (slot - width) / 2, y, width, h, colours[name],
                            name, day, value))
    ticks = tuple((HEIGHT - BOTTOM - plot_h * k / 4, tick * k) for k in range(5))
    every = max(1, len(days) // 10)
    labels = tuple((LEFT + i * slot + slot / 2, d.strftime("%d.%m"))
                   for i, d in enumerate(days) if i % every == 0)
    return Chart(tuple(bars), ticks, labels, tuple(colours.items()))
