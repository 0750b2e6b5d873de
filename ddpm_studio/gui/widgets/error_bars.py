"""Error bars on a pyqtgraph plot: ± one bootstrap error (`evaluation.uncertainty`) around each point."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg


def add_error_bars(plot: pg.PlotWidget, xs: np.ndarray, ys: np.ndarray, errors: np.ndarray,
                   colour: tuple[int, int, int], *, log_x: bool = False) -> pg.ErrorBarItem | None:
    """Vertical bars of ± `errors` at (xs, ys); points without an error (0: a cell cached before errors were
    stored) get none. A log-x plot's view holds log10(x): an ErrorBarItem, unlike a curve, is not transformed,
    so its x is given in the view's coordinates. Returns the item (None when there is nothing to draw)."""
    keep = np.isfinite(errors) & (errors > 0) & np.isfinite(ys)
    if not keep.any():
        return None
    x = np.log10(xs[keep]) if log_x else xs[keep]
    bars = pg.ErrorBarItem(x=x, y=ys[keep], height=2 * errors[keep], beam=0.0,
                           pen=pg.mkPen((*colour, 160), width=1.5))
    plot.addItem(bars)
    return bars
