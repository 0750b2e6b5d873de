"""Plot axes a person reads at a glance (issue 22 N9, issue 13 item 13).

pyqtgraph's defaults read badly on the app's small metric plots: an SI prefix moves the scale into the label
("recall (x0.001)" over ticks "940, 930"), a log axis labels "10¹, 2·10¹", a single point spans 899.6…900.4, and
an empty plot shows a made-up 0.1…0.9 range (an empty log axis stacks "9 8 7 6 5"). Here:

- `PlainAxis`: no SI prefix; in log mode ticks at 1, 2, 5 × 10^k labelled as plain numbers ("10", "20", "50");
- `show_values(plot, shown)`: an empty plot shows no tick numbers (its caption says why it is empty);
- `frame(plot, xs, unit_interval=...)`: one point gets a whole-number x range around it; scores in [0, 1]
  (precision, recall, memorised share) get a fixed 0–1 y axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pyqtgraph as pg

LABEL_SPACING_PX = 28  # fewest pixels between two log tick labels
ONE_POINT_HALF_WIDTH = 0.05  # a lone point's x range: ± this share of its value (at least ± 1)
UNIT_PADDING = 0.03  # room below 0 and above 1 on a 0–1 axis, so points on the edge stay visible


def plain_number(value: float) -> str:
    """10 -> "10", 2000 -> "2000", 0.25 -> "0.25", 1e-4 -> "0.0001" (never an exponent or an SI prefix)."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    if abs(value - round(value)) < 1e-9 * max(1.0, abs(value)):
        return str(int(round(value)))
    return f"{value:.6f}".rstrip("0").rstrip(".") if abs(value) >= 1e-4 else f"{value:.2g}"


class PlainAxis(pg.AxisItem):
    """An axis without SI prefix whose log mode labels 1, 2, 5 × 10^k as plain numbers."""

    def __init__(self, orientation: str, **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)

    def logTickValues(self, minVal, maxVal, size, stdTicks):
        if not (math.isfinite(minVal) and math.isfinite(maxVal)) or maxVal <= minVal:
            return []
        room = max(2, int(size // LABEL_SPACING_PX))
        lo, hi = math.floor(minVal), math.ceil(maxVal)
        values: list[float] = []
        for mantissas in ((1,), (1, 2, 5), tuple(range(1, 10))):
            values = [d + math.log10(m) for d in range(lo, hi + 1) for m in mantissas]
            values = [v for v in values if minVal <= v <= maxVal]
            if len(values) >= 3 or mantissas[-1] == 9:
                break
        if len(values) > room:
            values = values[:: math.ceil(len(values) / room)]
        return [(None, values)]

    def logTickStrings(self, values, scale, spacing):
        return [plain_number(float(f"{10.0 ** v * scale:.3g}")) for v in values]


def plain_axes() -> dict[str, PlainAxis]:
    """`axisItems=` for a PlotWidget: plain left and bottom axes."""
    return {"left": PlainAxis("left"), "bottom": PlainAxis("bottom")}


def show_values(plot: pg.PlotWidget, shown: bool) -> None:
    """Tick numbers on (data) or off (an empty plot: no made-up range)."""
    for name in ("left", "bottom"):
        plot.getAxis(name).setStyle(showValues=shown)


def frame(plot: pg.PlotWidget, xs: Sequence[float], *, unit_interval: bool = False) -> None:
    """Fit the view to the data: a whole-number x range around a lone point; a fixed 0–1 y for scores."""
    distinct = sorted({float(x) for x in xs if math.isfinite(float(x))})
    if len(distinct) == 1:
        x = distinct[0]
        half = max(1.0, abs(x) * ONE_POINT_HALF_WIDTH)
        plot.setXRange(math.floor(x - half), math.ceil(x + half), padding=0)
    else:
        plot.enableAutoRange(axis="x")
    if unit_interval:
        plot.setYRange(-UNIT_PADDING, 1 + UNIT_PADDING, padding=0)
    else:
        plot.enableAutoRange(axis="y")
