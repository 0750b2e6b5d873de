"""Take a plot's numbers elsewhere: "Export data as CSV…" and "Export image as PNG…" in a pyqtgraph plot's
context menu (issue 21). The PNG is pyqtgraph's ImageExporter of the plot item (axes and labels included, at
twice the widget's width); the CSV is the plot owner's own table (a header row, then one row per point), so it
carries what the plot means (errors, floor, protocol) rather than pyqtgraph's raw item data."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import pyqtgraph as pg
import pyqtgraph.exporters
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from ddpm_studio.gui.widgets.save_dialog import ask_save_path

TableFn = Callable[[], tuple[Sequence[str], Sequence[Sequence[object]]]]
PNG_SCALE = 2  # the PNG is this many times the plot's on-screen width (sharper in a report)


def write_csv(path: str | Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    """A header row and the rows, comma-separated (floats as Python writes them: no precision lost)."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(list(header))
        writer.writerows([list(row) for row in rows])
    return path


def write_png(plot: pg.PlotWidget, path: str | Path) -> Path:
    """The plot item (axes, labels, curves) as a PNG of PNG_SCALE × its on-screen width."""
    exporter = pyqtgraph.exporters.ImageExporter(plot.getPlotItem())
    width = max(int(plot.width()), 200) * PNG_SCALE
    exporter.parameters()["width"] = width
    exporter.export(str(path))
    return Path(path)


def install_export_menu(plot: pg.PlotWidget, table: TableFn, name: Callable[[], str]) -> None:
    """Add the two exports to the plot's right-click menu; `table()` gives (header, rows), `name()` the file
    name proposed (without suffix)."""
    menu = plot.getPlotItem().getViewBox().menu
    menu.addSeparator()

    def to_csv() -> None:
        path = ask_save_path(plot, QSettings(), "Export plot data", f"{name()}.csv", "CSV files (*.csv)", ".csv")
        if path is not None:
            _safely(plot, lambda: write_csv(path, *table()))

    def to_png() -> None:
        path = ask_save_path(plot, QSettings(), "Export plot image", f"{name()}.png", "PNG images (*.png)", ".png")
        if path is not None:
            _safely(plot, lambda: write_png(plot, path))

    plot.export_csv_action = menu.addAction("Export data as CSV…", to_csv)
    plot.export_png_action = menu.addAction("Export image as PNG…", to_png)


def _safely(parent, work: Callable[[], Path]) -> None:
    try:
        work()
    except OSError as exc:
        QMessageBox.warning(parent, "Export failed", f"Could not write the file: {exc}")
